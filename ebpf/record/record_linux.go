package record

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/boottrace/boottrace/internal/procgroup"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/boottrace/boottrace/ebpf"
	"github.com/boottrace/boottrace/guestpatch/bootline"
	"github.com/boottrace/boottrace/trace/tracefile"
)

func checkPrivileges() error { return ebpf.CheckPrivileges() }

// monotonic reads CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns.
func monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// clockPair pairs a TSC reading with CLOCK_MONOTONIC: of several tries,
// the one whose two monotonic readings around the TSC are closest (an
// interrupt or preemption between them widens the window), paired with
// their midpoint.
func clockPair() tracefile.ClockPair {
	var best tracefile.ClockPair
	window := int64(-1)
	for range 16 {
		a := monotonic()
		t := ReadTSC()
		b := monotonic()
		if window < 0 || b-a < window {
			window = b - a
			best = tracefile.ClockPair{TSC: t, Mono: a + (b-a)/2}
		}
	}
	return best
}

// beforeReading, set by tests, runs before the first event is read: it
// holds the events back to overrun the ring buffer.
var beforeReading func()

// gate holds a started command before it execs the VMM, so the probes are
// attached to its pid before the VMM's first instruction.
const gate = `read _ <&3; exec "$0" "$@"`

// vmm is the process being recorded: started behind the gate, or
// attached to with --pid.
type vmm struct {
	cmd     *exec.Cmd
	release *os.File // the gate: closing it lets the command run
	stdout  io.ReadCloser
	pid     int
	// console is what the VMM's console has shown: any output, and any
	// BOOT_TRACE line.
	console consoleSeen
}

// start starts the command behind the gate.
func start(opt Options) (*vmm, error) {
	if len(opt.Command) == 0 {
		return &vmm{pid: opt.PID}, nil
	}
	gr, gw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer gr.Close()
	v := &vmm{release: gw}
	v.cmd = exec.Command("/bin/sh", append([]string{"-c", gate}, opt.Command...)...)
	v.cmd.ExtraFiles = []*os.File{gr}
	// Its own process group: stopping it stops what it started (a boot
	// script's QEMU holds the console open until it ends).
	procgroup.Own(v.cmd)
	v.cmd.Stdin, v.cmd.Stderr = opt.Stdin, opt.Stderr
	if v.stdout, err = v.cmd.StdoutPipe(); err != nil {
		gw.Close()
		return nil, err
	}
	if err := v.cmd.Start(); err != nil {
		gw.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrNotStarted, opt.Command[0], err)
	}
	v.pid = v.cmd.Process.Pid
	return v, nil
}

// kill ends a command that never got past the gate.
func (v *vmm) kill() {
	if v.cmd != nil {
		v.cmd.Process.Kill()
		v.cmd.Wait()
	}
	if v.release != nil {
		v.release.Close()
	}
}

// Record runs (or attaches to) a VMM under the probes and writes a trace
// file as events arrive. It stops when the VMM exits, the guest's
// BOOT_TRACE flush has ended, a console line matches Until, Timeout
// passes, or ctx is done (Ctrl-C); what was captured is kept in every case.
func Record(ctx context.Context, opt Options) (res Result, err error) {
	if err := Check(opt); err != nil {
		return res, err
	}
	p, err := ebpf.Load(ebpf.LoadOptions{RingBytes: opt.RingBytes, SamplePeriod: opt.SamplePeriod})
	if err != nil {
		return res, err
	}
	defer p.Close()
	res.Attached, res.Missing = p.Attached, p.Missing

	if len(opt.Command) > 0 {
		if err := p.Announce(); err != nil {
			return res, err
		}
	}
	v, err := start(opt)
	if err != nil {
		return res, err
	}
	localPID := v.pid // in boottrace's pid namespace: its /proc
	if len(opt.Command) > 0 {
		// Its global pid, which differs from v.pid when boottrace runs in a
		// pid namespace of its own; the probes' events carry global ids.
		// The probes adopt it at its exec, which the kernel reports a
		// little after Start has returned.
		g, ok := p.Adopted()
		for deadline := time.Now().Add(2 * time.Second); !ok && time.Now().Before(deadline); g, ok = p.Adopted() {
			time.Sleep(time.Millisecond)
		}
		if !ok {
			v.kill()
			return res, fmt.Errorf("the probes did not see the VMM's gate start (pid %d)", v.pid)
		}
		v.pid = int(g)
	}
	if err := follow(p, v.pid, opt.PID != 0); err != nil {
		v.kill()
		return res, err
	}
	w, err := newTraceWriter(opt, p, v.pid)
	if err != nil {
		v.kill()
		return res, fmt.Errorf("write trace: %w", err)
	}
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "boottrace: recording pid %d with %d of %d probes; Ctrl-C stops\n", v.pid, len(p.Attached), len(p.Attached)+len(p.Missing))
	}
	if v.release != nil {
		v.release.Write([]byte("go\n"))
		v.release.Close()
	}

	var wg sync.WaitGroup
	var events, readErrs int
	var firstErr error
	wg.Add(1)
	go func() { // probe events, until drained
		defer wg.Done()
		if beforeReading != nil {
			beforeReading()
		}
		events, readErrs, firstErr = copyEvents(p, w)
	}()
	stop := make(chan string, 1)
	quitMem, memDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(memDone)
		guestMemory(localPID, w, stop, quitMem, &v.console)
	}()
	kvmDone := make(chan struct{})
	go func() {
		defer close(kvmDone)
		kvmStats(v.pid, localPID, w, quitMem)
	}()
	exited := v.wait(opt, w, stop)
	res.Reason, err = v.stopWhen(ctx, opt, w, stop, exited)
	close(quitMem)
	<-memDone
	<-kvmDone

	// Detach the probes, then read what the ring buffer still holds: every
	// event that fired before the end is in the file.
	derr := p.Drain()
	wg.Wait()
	lost, fired, cerr := p.Counters()
	unfollowed, ferr := p.FollowFailed()
	emulated, eerr := p.Emulated()
	res.Events, res.Lost, res.Fired, res.Errors = events, lost, fired, uint64(readErrs)
	end := &tracefile.End{Reason: res.Reason, Lost: lost, Fired: fired, Clock: []tracefile.ClockPair{clockPair()}, Errors: res.Errors, Unfollowed: unfollowed}
	for rip, n := range emulated {
		if end.Emulated == nil {
			end.Emulated = map[string]uint64{}
		}
		end.Emulated[fmt.Sprintf("0x%x", rip)] = n
	}
	if err != nil {
		end.Exit = err.Error()
	}
	w.Write(tracefile.Event{Time: monotonic(), Kind: tracefile.KindEnd, End: end})
	if werr := w.Flush(); werr != nil {
		return res, fmt.Errorf("write trace: %w", werr)
	}
	if readErrs > 0 && opt.Stderr != nil {
		fmt.Fprintf(opt.Stderr, "boottrace: %d probe events could not be read (first: %v)\n", readErrs, firstErr)
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && (exitErr.ExitCode() == 126 || exitErr.ExitCode() == 127) {
		return res, fmt.Errorf("%w: %s exited with status %d (not found or not executable)", ErrNotStarted, opt.Command[0], exitErr.ExitCode())
	}
	return res, errors.Join(derr, cerr, ferr, eerr)
}

// follow points the probes at the VMM; attached to a running one, at the
// threads it has already (the probes learn new ones from fork).
func follow(p *ebpf.Probes, pid int, attach bool) error {
	if err := p.Follow(uint32(pid)); err != nil {
		return err
	}
	if !attach {
		return nil
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		return fmt.Errorf("--pid %d: no such process", pid)
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(filepath.Base(t)); err == nil {
			if err := p.FollowThread(uint32(tid)); err != nil {
				return err
			}
		}
	}
	return nil
}

func newTraceWriter(opt Options, p *ebpf.Probes, pid int) (*tracefile.Writer, error) {
	var uname unix.Utsname
	unix.Uname(&uname)
	return tracefile.NewWriter(opt.Trace, tracefile.Header{
		Command: opt.Command, PID: pid, Attach: opt.PID != 0,
		Host:     unix.ByteSliceToString(uname.Release[:]),
		Clock:    []tracefile.ClockPair{clockPair()},
		Attached: p.Attached, Missing: p.Missing, Formats: p.Formats(),
		Vmlinux: opt.Vmlinux, SystemMap: opt.SystemMap,
	})
}

// copyEvents writes probe events into the trace file until the probes are
// drained or closed, counting events it could not read or decode.
func copyEvents(p *ebpf.Probes, w *tracefile.Writer) (events, errs int, first error) {
	for {
		ev, err := p.Read()
		if errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, ringbuf.ErrClosed) {
			return events, errs, first
		}
		if err != nil {
			if errs == 0 {
				first = err
			}
			errs++
			continue
		}
		events++
		pr := ev.Probe()
		w.WriteProbe(&pr)
	}
}

// wait reads the VMM's console (started VMM) or polls for its end
// (--pid), and reports its exit on the returned channel.
func (v *vmm) wait(opt Options, w *tracefile.Writer, stop chan<- string) <-chan error {
	exited := make(chan error, 1)
	if v.cmd == nil {
		go func() {
			for alive(v.pid) {
				time.Sleep(50 * time.Millisecond)
			}
			exited <- nil
		}()
		return exited
	}
	go func() {
		readConsole(v.stdout, w, opt, stop, &v.console) // Wait closes stdout: read it all first
		exited <- v.cmd.Wait()
	}()
	return exited
}

// stopWhen waits for a reason to stop, then stops the VMM unless it is to
// keep running; it returns the reason and how the VMM ended.
func (v *vmm) stopWhen(ctx context.Context, opt Options, w *tracefile.Writer, stop <-chan string, exited <-chan error) (string, error) {
	var timeout <-chan time.Time
	if opt.Timeout > 0 {
		timeout = time.After(opt.Timeout)
	}
	flush := time.NewTicker(200 * time.Millisecond)
	defer flush.Stop()
	var reason string
	for reason == "" {
		select {
		case reason = <-stop:
		case err := <-exited:
			return "the VMM exited", err
		case <-timeout:
			reason = fmt.Sprintf("timeout after %s", opt.Timeout)
		case <-ctx.Done():
			reason = "interrupted"
		case <-flush.C:
			w.Flush()
		}
	}
	if v.cmd == nil || opt.KeepRunning {
		return reason, nil
	}
	v.stop(false)
	select {
	case err := <-exited:
		return reason, err
	case <-time.After(3 * time.Second):
		v.stop(true)
		return reason, <-exited
	}
}

// readConsole tees the VMM's output and watches it for the end of the
// guest's BOOT_TRACE flush or the Until pattern, cutting lines as the
// trace file's reader does.
func readConsole(r io.Reader, w *tracefile.Writer, opt Options, stop chan<- string, seen *consoleSeen) {
	buf := make([]byte, 32<<10)
	var lines tracefile.LineSplitter
	stopped := false
	for {
		n, err := r.Read(buf)
		if n > 0 {
			seen.output.Store(true)
			chunk := buf[:n]
			w.Write(tracefile.Event{Time: monotonic(), Kind: tracefile.KindSerial, Data: string(chunk)})
			if opt.Console != nil {
				opt.Console.Write(chunk)
			}
			if !stopped {
				lines.Write(chunk, func(line []byte, _ bool) {
					if !seen.bootTrace.Load() && bootline.Find(line) >= 0 {
						seen.bootTrace.Store(true)
					}
					if reason := stopLine(line, opt); reason != "" && !stopped {
						select {
						case stop <- reason:
						default: // already stopping
						}
						stopped = true
					}
				})
			}
		}
		if err != nil {
			return
		}
	}
}

// stopLine says why a console line ends the recording, if it does: the
// end line of a BOOT_TRACE flush (checksum verified), or a line matching
// Until.
func stopLine(line []byte, opt Options) string {
	if l, found, err := bootline.Parse(line); found && err == nil && l.End != nil {
		return "the guest's BOOT_TRACE flush ended"
	}
	if opt.Until != nil && opt.Until.Match(bytes.TrimRight(line, "\r")) {
		return fmt.Sprintf("a console line matched %q", opt.Until.String())
	}
	return ""
}

// stop signals the VMM command's process group and every process under it
// (SIGTERM, or SIGKILL with hard): a wrapper such as timeout(1) runs the
// VMM in a group of its own, and a VMM that outlives its wrapper holds
// the console open.
func (v *vmm) stop(hard bool) {
	sig := syscall.SIGTERM
	if hard {
		sig = syscall.SIGKILL
	}
	tree := processTree(v.cmd.Process.Pid)
	procgroup.Stop(v.cmd, hard)
	for _, p := range tree[1:] {
		syscall.Kill(p, sig)
	}
}

// consoleSeen is what the VMM's console has shown so far.
type consoleSeen struct {
	output, bootTrace atomic.Bool
}

// alive reports whether pid runs: it exists and is not a zombie.
func alive(pid int) bool {
	state, _, err := procStat(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && state != "Z" && state != "X"
}

// procStat reads a process's state and parent from its /proc stat file:
// "pid (comm) S ppid ...", where comm may hold spaces and parentheses, so
// the fields are those after the last ')'. What does not parse is "" and
// -1; err is the file's.
func procStat(path string) (state string, ppid int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", -1, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", -1, nil
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return "", -1, nil
	}
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		ppid = -1
	}
	return f[0], ppid, nil
}
