package symbolize

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"sync"
)

// ReadELF builds a table from the symbols of an ELF file such as vmlinux.
// When the file carries DWARF, frames also get file and line; the DWARF
// data is read only on the first such lookup. Close the table's file with
// the returned closer when done.
func ReadELF(path string) (*Table, func() error, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open ELF %s: %w", path, err)
	}
	esyms, err := f.Symbols()
	if err != nil {
		f.Close()
		if errors.Is(err, elf.ErrNoSymbols) {
			return nil, nil, fmt.Errorf("%s: %w (a stripped file? use the unstripped vmlinux or --system-map)", path, ErrNoSymbols)
		}
		return nil, nil, fmt.Errorf("read ELF symbols of %s: %w", path, err)
	}
	syms := make([]symbol, 0, len(esyms))
	for _, s := range esyms {
		if s.Name == "" {
			continue
		}
		typ := byte('d')
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			typ = 't'
		}
		syms = append(syms, symbol{addr: s.Value, name: s.Name, typ: typ})
	}
	t := newTable(syms)
	if t.Len() == 0 {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w: no function symbols", path, ErrNoSymbols)
	}
	if f.Section(".debug_info") != nil {
		t.lines = &dwarfLines{file: f}
	}
	return t, f.Close, nil
}

// dwarfLines answers file:line queries from DWARF line tables, loading them
// on first use because a distribution vmlinux carries hundreds of MB.
type dwarfLines struct {
	file *elf.File
	once sync.Once
	data *dwarf.Data
	err  error
}

func (d *dwarfLines) fileLine(addr uint64) (string, int, bool) {
	d.once.Do(func() { d.data, d.err = d.file.DWARF() })
	if d.err != nil {
		return "", 0, false
	}
	r := d.data.Reader()
	cu, err := r.SeekPC(addr)
	if err != nil {
		return "", 0, false
	}
	lr, err := d.data.LineReader(cu)
	if err != nil || lr == nil {
		return "", 0, false
	}
	var e dwarf.LineEntry
	if err := lr.SeekPC(addr, &e); err != nil || e.File == nil {
		return "", 0, false
	}
	return e.File.Name, e.Line, true
}
