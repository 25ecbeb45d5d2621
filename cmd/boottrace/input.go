package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/analysis"
	"github.com/boottrace/boottrace/trace/input"
)

// inputFlags are the flags every reading command shares.
type inputFlags struct {
	vmlinux   string
	systemMap string
	format    string
	// callTree: the command draws only the merged call tree.
	callTree  bool
	maxMemory string
}

func (f *inputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.vmlinux, "vmlinux", "", "resolve addresses with this vmlinux (ELF symbols; file and line from DWARF)")
	cmd.Flags().StringVar(&f.systemMap, "system-map", "", "resolve addresses and initcall levels with this System.map or kallsyms file (may be gzipped)")
	cmd.Flags().StringVar(&f.format, "input-format", "", "read INPUT as this format instead of detecting it: "+strings.Join(input.Formats, ", "))
	cmd.Flags().StringVar(&f.maxMemory, "max-memory", input.FormatBytes(input.DefaultMaxMemory), "memory budget for each INPUT (such as 512MiB, 4GiB; 0 for none): an input that needs more is read only as far as fits, and a note says what was left out")
}

// absolute is the flags' paths made absolute, to be kept in a trace file.
func (f *inputFlags) absolute() (vmlinux, systemMap string, err error) {
	abs := func(p string) (string, error) {
		if p == "" {
			return "", nil
		}
		return filepath.Abs(p)
	}
	if vmlinux, err = abs(f.vmlinux); err == nil {
		systemMap, err = abs(f.systemMap)
	}
	return vmlinux, systemMap, err
}

// load reads INPUT (a path, "-" for stdin, or nothing for the embedded
// example).
func (f *inputFlags) load(cmd *cobra.Command, args []string) (*trace.Trace, error) {
	name := ""
	if len(args) > 0 {
		name = args[0]
	}
	budget, err := input.ParseBytes(f.maxMemory)
	if err != nil {
		return nil, fmt.Errorf("--max-memory: %w", err)
	}
	if budget == 0 {
		budget = -1 // none
	} else {
		// The garbage collector then works harder near the budget
		// instead of letting the heap grow to twice what is live.
		debug.SetMemoryLimit(budget)
	}
	return input.Load(name, input.LoadOptions{
		Vmlinux: f.vmlinux, SystemMap: f.systemMap, Format: f.format,
		Stdin: cmd.InOrStdin(), Log: cmd.ErrOrStderr(), CallTree: f.callTree,
		MaxMemory: budget,
	})
}

// loadAll reads several INPUTs, in order.
func (f *inputFlags) loadAll(cmd *cobra.Command, names []string) ([]*trace.Trace, error) {
	var ts []*trace.Trace
	for _, n := range names {
		t, err := f.load(cmd, []string{n})
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// checkOutput refuses an output file that is one of the inputs: writing
// it would destroy what is being read.
func checkOutput(out string, inputs ...string) error {
	if out == "" || out == "-" {
		return nil
	}
	fo, err := os.Stat(out)
	if err != nil {
		return nil // does not exist yet
	}
	for _, in := range inputs {
		if fi, err := os.Stat(in); err == nil && os.SameFile(fi, fo) {
			return fmt.Errorf("-o %s is the input %s: choose another output file", out, in)
		}
	}
	return nil
}

// writeTo writes with fn to -o FILE (or stdout for "" and "-"). A file is
// written beside its final name and renamed into place only when complete,
// so a failed write leaves an existing file as it was.
func writeTo(cmd *cobra.Command, path string, fn func(io.Writer) error) error {
	if path == "" || path == "-" {
		w := &errWriter{w: cmd.OutOrStdout()}
		err := fn(w)
		return errors.Join(err, w.err)
	}
	// A device or FIFO (/dev/null, a pipe to a viewer) is written as it
	// is: the rename below would replace it with a file.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return fmt.Errorf("write %s: it is a directory", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		w := &errWriter{w: f}
		err = errors.Join(fn(w), w.err, f.Close())
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	err = fn(tmp)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		if fi, serr := os.Stat(path); serr == nil {
			os.Chmod(tmp.Name(), fi.Mode().Perm())
		} else {
			os.Chmod(tmp.Name(), 0o644)
		}
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// errWriter keeps the first error of w, so that writers that ignore what
// Write returns (fmt.Fprintf in a loop) still fail: "> /dev/full" is an
// error, not an empty success.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = fmt.Errorf("write output: %w", err)
	}
	return n, err
}

// inputArgs is INPUT as a list, for checkOutput.
func inputArgs(args []string) []string {
	return slices.DeleteFunc(slices.Clone(args), func(a string) bool { return a == "-" })
}

// view is what flame and pprof draw: the boot's critical path (its
// wall-clock budget, every instant once), or with all every track.
func view(t *trace.Trace, all bool) *trace.Trace {
	if all {
		return t
	}
	if b, ok := analysis.BudgetOf(t); ok {
		return b.Path
	}
	return t
}
