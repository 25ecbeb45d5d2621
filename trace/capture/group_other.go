//go:build !unix

package capture

import "os/exec"

func ownGroup(cmd *exec.Cmd) {}

// stopGroup stops the command (without process groups, only it).
func stopGroup(cmd *exec.Cmd, hard bool) { cmd.Process.Kill() }
