package guestpatch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// TestApplyUnwritable applies a patch, as a user who cannot write one of
// the directories it touches, to the files it touches from Debian's
// source: the check must fail, and so must the apply, with the tree
// unchanged (a rerun must not find the patch "already applied").
func TestApplyUnwritable(t *testing.T) {
	if dir := os.Getenv("BOOTTRACE_PATCH_CHILD"); dir != "" {
		if _, err := Apply(dir, true); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("check: %v, want a directory that is not writable", err)
		}
		if _, err := Apply(dir, false); err == nil {
			t.Error("apply succeeded")
		}
		if res, err := Apply(dir, true); res.Already || err == nil {
			t.Errorf("after a failed apply: %+v, %v", res, err)
		}
		return
	}
	if testing.Short() {
		t.Skip("unpacks kernel sources")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the apply as another user")
	}
	const v = "6.1"
	tarball := "/usr/src/linux-source-" + v + ".tar.xz"
	if _, err := os.Stat(tarball); err != nil {
		t.Skipf("%s missing: apt-get install linux-source-%s", tarball, v)
	}
	p, _ := Patch(v)
	members := []string{"linux-source-" + v + "/Makefile"}
	for _, f := range touchedFiles(p) {
		if f != filepath.FromSlash("include/linux/boot_trace.h") && f != filepath.FromSlash("kernel/boot_trace.c") {
			members = append(members, "linux-source-"+v+"/"+filepath.ToSlash(f))
		}
	}
	dir, err := os.MkdirTemp("", "boottrace-patch-tree")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if out, err := exec.Command("tar", append([]string{"-xf", tarball, "-C", dir, "--strip-components=1"}, members...)...).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	// Everything is nobody's but kernel/, where the patch adds a file.
	if out, err := exec.Command("chown", "-R", "65534:65534", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	os.Chown(filepath.Join(dir, "kernel"), 0, 0)
	os.Chmod(filepath.Join(dir, "kernel"), 0o755)
	before := treeSum(t, dir)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "guestpatch.test")
	b, _ := os.ReadFile(exe)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run", "^TestApplyUnwritable$")
	cmd.Env = append(os.Environ(), "BOOTTRACE_PATCH_CHILD="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Skipf("cannot run the test binary as nobody here (a noexec /tmp?): %v", err)
	}
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	os.Remove(bin)
	if after := treeSum(t, dir); after != before {
		t.Error("the tree changed")
	}
}

// treeSum is every file's path and content under dir, hashed.
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".test") {
			return err
		}
		b, err := os.ReadFile(path)
		fmt.Fprintf(h, "%s %d\n", path, len(b))
		h.Write(b)
		return err
	})
	return fmt.Sprintf("%x", h.Sum(nil))
}
