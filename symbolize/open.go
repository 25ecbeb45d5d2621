package symbolize

import (
	"fmt"
	"os"
)

// Open loads symbols from a vmlinux ELF file or a System.map/kallsyms text
// file, whichever path is set. Both empty yields an empty table. The
// returned closer is never nil.
func Open(vmlinux, systemMap string) (*Table, func() error, error) {
	nop := func() error { return nil }
	switch {
	case vmlinux != "" && systemMap != "":
		return nil, nop, fmt.Errorf("use one of --vmlinux and --system-map, not both")
	case vmlinux != "":
		t, closer, err := ReadELF(vmlinux)
		if err != nil {
			return nil, nop, err
		}
		return t, closer, nil
	case systemMap != "":
		f, err := os.Open(systemMap)
		if err != nil {
			return nil, nop, fmt.Errorf("open symbol map: %w", err)
		}
		defer f.Close()
		r, err := maybeGunzip(f)
		if err != nil {
			return nil, nop, fmt.Errorf("read symbol map %s: %w", systemMap, err)
		}
		t, err := ReadSystemMap(r)
		if err != nil {
			return nil, nop, fmt.Errorf("symbol map %s: %w", systemMap, err)
		}
		return t, nop, nil
	}
	return &Table{}, nop, nil
}
