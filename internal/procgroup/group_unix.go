//go:build unix

package procgroup

import (
	"os/exec"
	"syscall"
)

// Own makes cmd, once started, lead a process group of its own.
func Own(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// Stop stops the command and what it started: SIGTERM, or SIGKILL
// with hard.
func Stop(cmd *exec.Cmd, hard bool) {
	sig := syscall.SIGTERM
	if hard {
		sig = syscall.SIGKILL
	}
	syscall.Kill(-cmd.Process.Pid, sig)
}
