package capture

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// endLine is a BOOT_TRACE flush's end line with its checksum.
func endLine() string {
	p := "Z 10 500"
	return fmt.Sprintf("BOOT_TRACE %s *%08x", p, crc32.ChecksumIEEE([]byte(p)))
}

// TestRun checks how a boot ends: at the flush's end line (the command,
// still running, is stopped with what it started), at --until, at a
// timeout, at the command's exit, or with its failure.
func TestRun(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	for _, tc := range []struct {
		name, script string
		until        string
		timeout      time.Duration
		reason       string
		fails        bool
	}{
		{name: "flush", script: "echo booting; echo '" + endLine() + "'; sleep 600 & wait", reason: "BOOT_TRACE flush ended"},
		{name: "forged end", script: "echo 'BOOT_TRACE Z 10 500 *00000000'; echo done", reason: "the command exited"},
		{name: "until", script: "echo 'login: '; sleep 600", until: "^login:", reason: "matched"},
		{name: "timeout", script: "echo waiting; sleep 600", timeout: 200 * time.Millisecond, reason: "timeout"},
		{name: "exit", script: "echo bye", reason: "the command exited"},
		{name: "failure", script: "echo oops; exit 3", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Command: []string{"sh", "-c", tc.script}, Timeout: tc.timeout}
			if tc.until != "" {
				opt.Until = regexp.MustCompile(tc.until)
			}
			var out bytes.Buffer
			reason, err := Run(context.Background(), opt, &out)
			if tc.fails {
				if err == nil {
					t.Errorf("a failed command gave no error (%s)", reason)
				}
				return
			}
			if err != nil || !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q, err %v; want %q", reason, err, tc.reason)
			}
			if out.Len() == 0 {
				t.Error("nothing of the console kept")
			}
		})
	}
}
