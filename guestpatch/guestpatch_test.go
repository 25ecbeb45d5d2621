package guestpatch

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestKernelVersion(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 117\nEXTRAVERSION =\n"), 0o644)
	short, full, err := KernelVersion(dir)
	if err != nil || short != "6.12" || full != "6.12.117" {
		t.Errorf("KernelVersion = %q, %q, %v", short, full, err)
	}
	if _, _, err := KernelVersion(t.TempDir()); err == nil {
		t.Error("no Makefile: no error")
	}
}

func TestUnsupported(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("VERSION = 4\nPATCHLEVEL = 19\n"), 0o644)
	_, err := Apply(dir, true)
	if err == nil || !strings.Contains(err.Error(), "unsupported") || !strings.Contains(err.Error(), "6.1") {
		t.Errorf("err = %v, want one naming the supported versions", err)
	}
}

var rePatched = regexp.MustCompile(`(?m)^\+\+\+ b/(\S+)`)

// TestApplyToDebianSource applies each patch to the files it touches,
// taken from Debian's linux-source package, then checks a second run sees
// the patch already there.
func TestApplyToDebianSource(t *testing.T) {
	if testing.Short() {
		t.Skip("unpacks kernel sources")
	}
	for _, v := range Versions() {
		t.Run(v, func(t *testing.T) {
			tarball := "/usr/src/linux-source-" + v + ".tar.xz"
			if _, err := os.Stat(tarball); err != nil {
				t.Skipf("%s missing: apt-get install linux-source-%s", tarball, v)
			}
			p, _ := Patch(v)
			members := []string{"linux-source-" + v + "/Makefile"}
			for _, m := range rePatched.FindAllStringSubmatch(string(p), -1) {
				if !strings.HasPrefix(m[1], "include/linux/boot_trace.h") && !strings.HasPrefix(m[1], "kernel/boot_trace.c") {
					members = append(members, "linux-source-"+v+"/"+m[1])
				}
			}
			dir := t.TempDir()
			out, err := exec.Command("tar", append([]string{"-xf", tarball, "-C", dir, "--strip-components=1"}, members...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("tar: %v\n%s", err, out)
			}
			if _, err := Apply(dir, true); err != nil {
				t.Fatalf("check: %v", err)
			}
			res, err := Apply(dir, false)
			if err != nil || res.Already {
				t.Fatalf("apply: %+v, %v", res, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "kernel", "boot_trace.c")); err != nil {
				t.Errorf("kernel/boot_trace.c not created: %v", err)
			}
			res, err = Apply(dir, false)
			if err != nil || !res.Already {
				t.Errorf("second apply: %+v, %v; want already applied", res, err)
			}
		})
	}
}
