//go:build !unix

package procgroup

import "os/exec"

// Own makes cmd, once started, lead a process group of its own.
func Own(cmd *exec.Cmd) {}

// Stop stops the command (without process groups, only it).
func Stop(cmd *exec.Cmd, hard bool) { cmd.Process.Kill() }
