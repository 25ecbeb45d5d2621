package ebpf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/boottrace/boottrace/trace"
)

// monotonic reads CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func clockPair() trace.ClockPair {
	// TSC between two monotonic readings, paired with their midpoint.
	a := monotonic()
	t := ReadTSC()
	b := monotonic()
	return trace.ClockPair{TSC: t, Mono: a + (b-a)/2}
}

// gate holds a started command before it execs the VMM, so the probes are
// attached to its pid before the VMM's first instruction.
const gate = `read _ <&3; exec "$0" "$@"`

// Record runs (or attaches to) a VMM under the probes and writes a trace
// file as events arrive. It stops when the VMM exits, the guest's
// BOOT_TRACE flush has ended, a console line matches Until, Timeout
// passes, or ctx is done (Ctrl-C); what was captured is kept in every case.
func Record(ctx context.Context, opt RecordOptions) (res RecordResult, err error) {
	if len(opt.Command) == 0 && opt.PID == 0 {
		return res, errors.New("nothing to record: give a VMM command or --pid")
	}
	p, err := Load()
	if err != nil {
		return res, err
	}
	defer p.Close()
	res.Attached, res.Missing = p.Attached, p.Missing

	var cmd *exec.Cmd
	var release *os.File
	var stdout io.ReadCloser
	pid := opt.PID
	if len(opt.Command) > 0 {
		gr, gw, err := os.Pipe()
		if err != nil {
			return res, err
		}
		release = gw
		cmd = exec.Command("/bin/sh", append([]string{"-c", gate}, opt.Command...)...)
		cmd.ExtraFiles = []*os.File{gr}
		cmd.Stdin, cmd.Stderr = opt.Stdin, opt.Stderr
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return res, err
		}
		if err := cmd.Start(); err != nil {
			gr.Close()
			gw.Close()
			return res, fmt.Errorf("start %s: %w", opt.Command[0], err)
		}
		gr.Close()
		pid = cmd.Process.Pid
	}
	if err := p.Follow(uint32(pid)); err != nil {
		killGated(cmd, release)
		return res, err
	}
	if opt.PID != 0 {
		// Threads that exist already: the probes learn new ones from fork.
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		for _, t := range tasks {
			if tid, err := strconv.Atoi(filepath.Base(t)); err == nil {
				p.objs.Threads.Put(uint32(tid), uint8(1))
			}
		}
	}
	formats := map[string]any{}
	for k, f := range p.Formats() {
		formats[k] = f
	}
	var uname unix.Utsname
	unix.Uname(&uname)
	w, err := trace.NewRecordingWriter(opt.Trace, trace.RecordingHeader{
		Command: opt.Command, PID: pid, Attach: opt.PID != 0,
		Host:     unix.ByteSliceToString(uname.Release[:]),
		Clock:    []trace.ClockPair{clockPair()},
		Attached: p.Attached, Missing: p.Missing, Formats: formats,
		Vmlinux: opt.Vmlinux, SystemMap: opt.SystemMap,
	})
	if err != nil {
		killGated(cmd, release)
		return res, fmt.Errorf("write trace: %w", err)
	}
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "boottrace: recording pid %d with %d of %d probes; Ctrl-C stops\n", pid, len(p.Attached), len(p.Attached)+len(p.Missing))
	}
	if release != nil {
		release.Write([]byte("go\n"))
		release.Close()
	}

	stop := make(chan string, 8)
	var wg sync.WaitGroup
	var events int
	wg.Add(1)
	go func() { // probe events
		defer wg.Done()
		for {
			ev, err := p.Read()
			if errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			events++
			w.Write(trace.RecEvent{Time: ev.Time, Kind: ev.Kind.String(), TGID: ev.TGID, TID: ev.TID, CPU: ev.CPU, Fields: ev.Fields, Mem: ev.Arg, Comm: ev.Comm})
		}
	}()
	consoleDone := make(chan struct{})
	if stdout != nil {
		go func() { // the VMM's console
			defer close(consoleDone)
			readConsole(stdout, w, opt, stop)
		}()
	} else {
		close(consoleDone)
	}
	exited := make(chan error, 1)
	if cmd != nil {
		go func() {
			<-consoleDone // Wait closes stdout: read it all first
			exited <- cmd.Wait()
		}()
	} else {
		go func() { // --pid: poll for the process going away
			for alive(pid) {
				time.Sleep(50 * time.Millisecond)
			}
			exited <- nil
		}()
	}
	var timeout <-chan time.Time
	if opt.Timeout > 0 {
		timeout = time.After(opt.Timeout)
	}
	flush := time.NewTicker(200 * time.Millisecond)
	defer flush.Stop()
	var exitErr error
	vmmDone := false
loop:
	for {
		select {
		case res.Reason = <-stop:
			break loop
		case exitErr = <-exited:
			vmmDone = true
			res.Reason = "the VMM exited"
			break loop
		case <-timeout:
			res.Reason = fmt.Sprintf("timeout after %s", opt.Timeout)
			break loop
		case <-ctx.Done():
			res.Reason = "interrupted"
			break loop
		case <-flush.C:
			w.Flush()
		}
	}
	if !vmmDone && cmd != nil && !opt.KeepRunning {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case exitErr = <-exited:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			exitErr = <-exited
		}
	}
	// Let the last events reach the ring buffer reader, then stop it.
	time.Sleep(100 * time.Millisecond)
	lost, fired, cerr := p.Counters()
	p.Close()
	wg.Wait()
	res.Events, res.Lost, res.Fired = events, lost, fired
	end := &trace.RecordingEnd{Reason: res.Reason, Lost: lost, Fired: fired, Clock: []trace.ClockPair{clockPair()}}
	if exitErr != nil {
		end.Exit = exitErr.Error()
	}
	w.Write(trace.RecEvent{Time: monotonic(), Kind: "end", End: end})
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("write trace: %w", err)
	}
	return res, cerr
}

func killGated(cmd *exec.Cmd, release *os.File) {
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
	if release != nil {
		release.Close()
	}
}

// readConsole tees the VMM's output and watches it for the end of the
// guest's BOOT_TRACE flush or the Until pattern.
func readConsole(r io.Reader, w *trace.RecordingWriter, opt RecordOptions, stop chan<- string) {
	buf := make([]byte, 32<<10)
	var line []byte
	stopped := false
	for {
		n, err := r.Read(buf)
		if n > 0 {
			now := monotonic()
			chunk := buf[:n]
			w.Write(trace.RecEvent{Time: now, Kind: "serial", Data: string(chunk)})
			if opt.Console != nil {
				opt.Console.Write(chunk)
			}
			for len(chunk) > 0 && !stopped {
				i := bytes.IndexByte(chunk, '\n')
				if i < 0 {
					if len(line) < 64<<10 {
						line = append(line, chunk...)
					}
					break
				}
				line = append(line, chunk[:i]...)
				chunk = chunk[i+1:]
				if reason := stopLine(line, opt); reason != "" {
					stop <- reason
					stopped = true
				}
				line = line[:0]
			}
		}
		if err != nil {
			return
		}
	}
}

func stopLine(line []byte, opt RecordOptions) string {
	s := strings.TrimRight(string(line), "\r")
	if i := strings.Index(s, "BOOT_TRACE Z "); i >= 0 {
		return "the guest's BOOT_TRACE flush ended"
	}
	if opt.Until != nil && opt.Until.MatchString(s) {
		return fmt.Sprintf("a console line matched %q", opt.Until.String())
	}
	return ""
}

// alive reports whether pid runs: it exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}
