package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/examples"
	"github.com/boottrace/boottrace/symbolize"
	"github.com/boottrace/boottrace/trace"
)

// inputFlags are the flags every reading command shares.
type inputFlags struct {
	vmlinux   string
	systemMap string
}

func (f *inputFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.vmlinux, "vmlinux", "", "resolve addresses with this vmlinux (ELF symbols; file and line from DWARF)")
	cmd.Flags().StringVar(&f.systemMap, "system-map", "", "resolve addresses and initcall levels with this System.map or kallsyms file (may be gzipped)")
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

// recordedSymbols returns the symbol files a trace file names ("boottrace
// record --system-map" keeps them there), if they can still be read.
func recordedSymbols(cmd *cobra.Command, path string) (vmlinux, systemMap string) {
	file, err := os.Open(path)
	if err != nil {
		return "", ""
	}
	defer file.Close()
	h, ok := trace.ReadRecordingHeader(file)
	if !ok || h.Vmlinux == "" && h.SystemMap == "" {
		return "", ""
	}
	for _, p := range []string{h.Vmlinux, h.SystemMap} {
		if _, err := os.Stat(p); p != "" && err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "boottrace: %s was recorded with the symbols %s, which cannot be read (%v): pass --vmlinux or --system-map\n", path, p, err)
			return "", ""
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "boottrace: using the guest symbols the recording names: %s\n", strings.TrimSpace(h.Vmlinux+" "+h.SystemMap))
	return h.Vmlinux, h.SystemMap
}

// load reads INPUT (a path, "-" for stdin, or nothing for the embedded
// example) and reports skipped lines on stderr.
func (f *inputFlags) load(cmd *cobra.Command, args []string) (*trace.Trace, error) {
	var r io.Reader
	name := ""
	vmlinux, systemMap := f.vmlinux, f.systemMap
	var embeddedMap []byte
	switch {
	case len(args) == 0:
		ex := examples.Default()
		name = ex.Name
		r = bytes.NewReader(ex.Log)
		if vmlinux == "" && systemMap == "" {
			embeddedMap = ex.SystemMap
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "boottrace: no INPUT given; reading the embedded example %s\n", name)
	case args[0] == "-":
		name, r = "stdin", cmd.InOrStdin()
	default:
		if vmlinux == "" && systemMap == "" {
			vmlinux, systemMap = recordedSymbols(cmd, args[0])
		}
		file, err := os.Open(args[0])
		if err != nil {
			return nil, fmt.Errorf("open input: %w", err)
		}
		defer file.Close()
		name, r = args[0], file
	}
	var syms *symbolize.Table
	if embeddedMap != nil {
		t, err := symbolize.ReadSystemMapGz(bytes.NewReader(embeddedMap))
		if err != nil {
			return nil, fmt.Errorf("embedded example symbols: %w", err)
		}
		syms = t
	} else {
		t, closer, err := symbolize.Open(vmlinux, systemMap)
		if err != nil {
			return nil, err
		}
		defer closer()
		syms = t
	}
	t, err := trace.Read(r, trace.ReadOptions{Symbols: syms})
	if errors.Is(err, trace.ErrNoData) {
		return nil, errors.New(trace.Describe(name, t, err))
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if t.Skipped.Total > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "boottrace: %s: read as %s; skipped %d lines:\n%s", name, t.Format, t.Skipped.Total, t.Skipped.String())
	}
	return t, nil
}

// output opens -o FILE, or stdout for "" and "-".
func output(cmd *cobra.Command, path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return cmd.OutOrStdout(), func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create output: %w", err)
	}
	return f, f.Close, nil
}

// writeTo writes with fn to -o FILE (or stdout) and closes it, keeping the
// first error.
func writeTo(cmd *cobra.Command, path string, fn func(io.Writer) error) error {
	w, closeFn, err := output(cmd, path)
	if err != nil {
		return err
	}
	err = fn(w)
	if cerr := closeFn(); err == nil && cerr != nil {
		err = fmt.Errorf("write %s: %w", path, cerr)
	}
	return err
}
