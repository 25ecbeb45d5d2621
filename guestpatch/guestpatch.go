// Package guestpatch holds the BOOT_TRACE kernel patches and Kconfig
// fragments, and applies the right patch to a kernel source tree.
//
// The patch adds CONFIG_BOOT_TRACE: TSC-stamped records of the phases of
// start_kernel, every initcall and async function, SMP bring-up, memory
// init, root mount, freeing init memory and boot-time waits, flushed to the
// console as checksummed BOOT_TRACE lines before init is executed (see
// patches/, the line format in guestpatch/bootline).
package guestpatch

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

//go:embed patches/*.patch configs/*.config
var files embed.FS

// ErrUnsupported is returned for a kernel version without a patch.
var ErrUnsupported = errors.New("unsupported kernel version")

// Versions lists the kernel versions ("6.1", "6.12") a patch exists for.
func Versions() []string {
	ents, _ := files.ReadDir("patches")
	var vs []string
	for _, e := range ents {
		v := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "boot-trace-"), ".patch")
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// Patch returns the patch for a kernel version ("6.1").
func Patch(version string) ([]byte, error) {
	b, err := files.ReadFile("patches/boot-trace-" + version + ".patch")
	if err != nil {
		return nil, fmt.Errorf("%w %s: patches exist for %s", ErrUnsupported, version, strings.Join(Versions(), ", "))
	}
	return b, nil
}

// Config returns a Kconfig fragment by name ("microvm", "smp", "boottrace").
func Config(name string) ([]byte, error) {
	return files.ReadFile("configs/" + name + ".config")
}

// KernelVersion reads "MAJOR.MINOR" and the full version from the
// top-level Makefile of a kernel source tree.
func KernelVersion(dir string) (short, full string, err error) {
	f, err := os.Open(filepath.Join(dir, "Makefile"))
	if err != nil {
		return "", "", fmt.Errorf("not a kernel source tree: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan() && n < 20; n++ {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			vars[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if vars["VERSION"] == "" || vars["PATCHLEVEL"] == "" {
		return "", "", fmt.Errorf("%s: no VERSION and PATCHLEVEL in the first lines: not a kernel source tree", f.Name())
	}
	short = vars["VERSION"] + "." + vars["PATCHLEVEL"]
	full = short
	if vars["SUBLEVEL"] != "" {
		full += "." + vars["SUBLEVEL"]
	}
	return short, full, nil
}

// Result says what Apply found or did.
type Result struct {
	Version string // full kernel version of the tree
	Patch   string // the patch's name
	// Already is true when the tree carried the patch before Apply ran.
	Already bool
}

// Apply applies the BOOT_TRACE patch matching the tree's version with
// patch(1). With check it only tells whether the patch applies. A tree that
// already carries the patch is left alone.
func Apply(dir string, check bool) (Result, error) {
	short, full, err := KernelVersion(dir)
	if err != nil {
		return Result{}, err
	}
	p, err := Patch(short)
	if err != nil {
		return Result{Version: full}, fmt.Errorf("linux %s: %w", full, err)
	}
	res := Result{Version: full, Patch: "boot-trace-" + short + ".patch"}
	if _, err := exec.LookPath("patch"); err != nil {
		return res, errors.New("patch(1) not found: apt-get install patch")
	}
	if runPatch(dir, p, "--dry-run", "-R") == nil {
		res.Already = true
		return res, nil
	}
	if err := runPatch(dir, p, "--dry-run"); err != nil {
		return res, fmt.Errorf("%s does not apply to linux %s in %s: %w", res.Patch, full, dir, err)
	}
	touched := touchedFiles(p)
	if err := writable(dir, touched); err != nil {
		return res, fmt.Errorf("%s cannot be applied in %s: %w", res.Patch, dir, err)
	}
	if check {
		return res, nil
	}
	if err := applyStaged(dir, p, touched); err != nil {
		return res, fmt.Errorf("apply %s (the tree is unchanged): %w", res.Patch, err)
	}
	return res, nil
}

var rePatched = regexp.MustCompile(`(?m)^\+\+\+ b/(\S+)`)

// touchedFiles lists the files a patch writes, relative to the tree.
func touchedFiles(p []byte) []string {
	var files []string
	for _, m := range rePatched.FindAllSubmatch(p, -1) {
		files = append(files, filepath.FromSlash(string(m[1])))
	}
	return files
}

// writable checks that every file the patch writes can be written: the
// file itself if it exists, its directory for the new file beside it.
func writable(dir string, files []string) error {
	for _, f := range files {
		path := filepath.Join(dir, f)
		if _, err := os.Stat(path); err == nil {
			w, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return fmt.Errorf("%s is not writable: %w", f, err)
			}
			w.Close()
		}
		// The patch may create the directory: its nearest existing
		// ancestor must be writable then.
		d := filepath.Dir(path)
		for _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) && d != dir; _, err = os.Stat(d) {
			d = filepath.Dir(d)
		}
		// Trying is the one test that holds for root, read-only mounts and
		// ACLs alike.
		probe, err := os.CreateTemp(d, ".boot-trace-check-*")
		if err != nil {
			rel, _ := filepath.Rel(dir, d)
			return fmt.Errorf("%s is not writable: %w", rel, err)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	return nil
}

// applyStaged patches copies of the touched files in a staging directory,
// writes each result beside its file, and only when every one is written
// renames them into place: a failure leaves the tree as it was.
func applyStaged(dir string, p []byte, files []string) error {
	stage, err := os.MkdirTemp("", "boottrace-patch")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		os.MkdirAll(filepath.Dir(filepath.Join(stage, f)), 0o755)
		if err := os.WriteFile(filepath.Join(stage, f), b, 0o644); err != nil {
			return err
		}
	}
	if err := runPatch(stage, p); err != nil {
		return err
	}
	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(stage, f))
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
			mode = fi.Mode().Perm()
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(filepath.Join(dir, f)), ".boot-trace-*")
		if err != nil {
			return err
		}
		temps = append(temps, tmp.Name())
		_, err = tmp.Write(b)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Chmod(tmp.Name(), mode)
		}
		if err != nil {
			return err
		}
	}
	for i, f := range files {
		if err := os.Rename(temps[i], filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	temps = nil
	return nil
}

func runPatch(dir string, p []byte, args ...string) error {
	cmd := exec.Command("patch", append([]string{"-p1", "--forward", "--batch", "--silent", "-d", dir}, args...)...)
	cmd.Stdin = bytes.NewReader(p)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 600 {
			msg = msg[:600] + "..."
		}
		return fmt.Errorf("%w: %s", err, msg)
	}
	return nil
}
