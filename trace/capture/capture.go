// Package capture runs a boot — any command that boots a machine and
// writes its serial console to standard output — and keeps its console
// until the boot is over: the end of the guest's BOOT_TRACE flush, a line
// the user names, a timeout, or the command's exit. It needs no
// privileges; "boottrace bench" repeats it to compare boots.
package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/boottrace/boottrace/internal/procgroup"
	"io"
	"os/exec"
	"regexp"
	"time"

	"github.com/boottrace/boottrace/guestpatch/bootline"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// Options say what to run and when a boot is over.
type Options struct {
	Command []string
	// Until ends the boot at the first console line matching it.
	Until *regexp.Regexp
	// Timeout ends the boot (and the command) after this long; 0: none.
	Timeout time.Duration
	Stderr  io.Writer
}

// Run runs the command and writes its console to w until the boot is
// over, then stops the command if it still runs. It returns why it
// stopped; an error if the command could not run or failed before the
// boot was over.
func Run(ctx context.Context, opt Options, w io.Writer) (reason string, err error) {
	if len(opt.Command) == 0 {
		return "", errors.New("no command to run")
	}
	cmd := exec.Command(opt.Command[0], opt.Command[1:]...)
	cmd.Stderr = opt.Stderr
	// Its own process group, so that stopping it stops what it started
	// (a script's QEMU).
	procgroup.Own(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", opt.Command[0], err)
	}
	stop := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriter(w)
		defer bw.Flush()
		var lines tracefile.LineSplitter
		stopped := false
		buf := make([]byte, 32<<10)
		for {
			n, rerr := out.Read(buf)
			if n > 0 && !stopped {
				bw.Write(buf[:n])
				lines.Write(buf[:n], func(line []byte, _ bool) {
					if stopped {
						return
					}
					if l, found, err := bootline.Parse(line); found && err == nil && l.End != nil {
						stopped = true
						stop <- "the guest's BOOT_TRACE flush ended"
					} else if opt.Until != nil && opt.Until.Match(line) {
						stopped = true
						stop <- fmt.Sprintf("a console line matched %q", opt.Until.String())
					}
				})
			}
			if rerr != nil {
				return
			}
		}
	}()
	var timeout <-chan time.Time
	if opt.Timeout > 0 {
		timeout = time.After(opt.Timeout)
	}
	exited := make(chan error, 1)
	go func() {
		<-done
		exited <- cmd.Wait()
	}()
	kill := func() error {
		procgroup.Stop(cmd, false)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			procgroup.Stop(cmd, true)
			<-exited
		}
		return nil
	}
	select {
	case reason = <-stop:
		return reason, kill()
	case err := <-exited:
		select {
		case reason = <-stop: // the flush ended as the command exited
			return reason, nil
		default:
		}
		if err != nil {
			return "the command failed", fmt.Errorf("%s: %w", opt.Command[0], err)
		}
		return "the command exited", nil
	case <-timeout:
		return fmt.Sprintf("timeout after %s", opt.Timeout), kill()
	case <-ctx.Done():
		kill()
		return "interrupted", ctx.Err()
	}
}
