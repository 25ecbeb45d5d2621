package symbolize

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Frame is what a reference resolved to. File and Line are set only when
// DWARF line information was available.
type Frame struct {
	Func string
	File string
	Line int
}

// Table is a sorted symbol table. The zero value is an empty table that
// resolves nothing, so callers need no nil checks.
type Table struct {
	// addrs and names are parallel and sorted by address; a single
	// string slice is far more compact than a slice of structs holding
	// per-symbol metadata for the 100k+ symbols of a distribution kernel.
	addrs []uint64
	names []string
	// levels maps an initcall function name to its levels.
	levels map[string][]Level
	// lines, when set, resolves addresses to file and line (vmlinux with DWARF).
	lines lineResolver

	byNameOnce sync.Once
	byName     map[string]uint64
	// end is where the kernel image ends (_end, else __init_end), when the
	// symbols say: no code lies beyond it.
	end uint64
}

// maxSymbolSize bounds how far past a symbol's start an address may lie
// and still be in it: the largest kernel functions are tens of KiB. An
// address further on is not in any function the table knows (a KASLR
// offset not taken off, an address of another image) and is refused,
// rather than named after the symbol before it.
const maxSymbolSize = 1 << 20

type lineResolver interface {
	fileLine(addr uint64) (string, int, bool)
}

// ErrNoSymbols is returned when an input holds no symbol the table can use.
var ErrNoSymbols = errors.New("no symbols found")

type symbol struct {
	addr uint64
	name string
	typ  byte
}

// ReadSystemMap parses System.map or /proc/kallsyms text: one
// "ADDRESS TYPE NAME [MODULE]" per line. Lines that do not fit are skipped;
// an input with no usable line is an error naming the first bad line.
func ReadSystemMap(r io.Reader) (*Table, error) {
	var syms []symbol
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	line, firstBad := 0, 0
	for sc.Scan() {
		line++
		s, ok := parseMapLine(sc.Text())
		if !ok {
			if firstBad == 0 && strings.TrimSpace(sc.Text()) != "" {
				firstBad = line
			}
			continue
		}
		syms = append(syms, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read symbol map line %d: %w", line+1, err)
	}
	if len(syms) == 0 {
		if firstBad > 0 {
			return nil, fmt.Errorf("%w: line %d is not \"ADDRESS TYPE NAME\" (System.map or kallsyms format)", ErrNoSymbols, firstBad)
		}
		return nil, ErrNoSymbols
	}
	return newTable(syms), nil
}

func parseMapLine(l string) (symbol, bool) {
	f := strings.Fields(l)
	if len(f) < 3 || len(f[1]) != 1 {
		return symbol{}, false
	}
	addr, err := strconv.ParseUint(f[0], 16, 64)
	if err != nil {
		return symbol{}, false
	}
	name := f[2]
	if len(f) >= 4 && strings.HasPrefix(f[3], "[") {
		name += " " + f[3]
	}
	return symbol{addr: addr, name: name, typ: f[1][0]}, true
}

// newTable keeps code symbols for address lookup and uses the data symbols
// only to learn initcall levels.
func newTable(syms []symbol) *Table {
	t := &Table{levels: initcallLevels(syms)}
	code := syms[:0:0]
	for _, s := range syms {
		switch {
		case s.name == "_end":
			t.end = s.addr
		case s.name == "__init_end" && t.end == 0:
			t.end = s.addr
		}
		switch s.typ {
		case 'T', 't', 'W', 'w':
			code = append(code, s)
		}
	}
	sort.SliceStable(code, func(i, j int) bool { return code[i].addr < code[j].addr })
	t.addrs = make([]uint64, len(code))
	t.names = make([]string, len(code))
	for i, s := range code {
		t.addrs[i], t.names[i] = s.addr, s.name
	}
	return t
}

// Len reports how many code symbols the table holds.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.addrs)
}

// Lookup returns the code symbol containing addr and the offset into it.
func (t *Table) Lookup(addr uint64) (name string, off uint64, ok bool) {
	if t == nil || len(t.addrs) == 0 {
		return "", 0, false
	}
	if t.end != 0 && addr >= t.end {
		return "", 0, false
	}
	i := sort.Search(len(t.addrs), func(i int) bool { return t.addrs[i] > addr }) - 1
	if i < 0 || addr-t.addrs[i] > maxSymbolSize {
		return "", 0, false
	}
	return t.names[i], addr - t.addrs[i], true
}

// Address returns the address of the named code symbol.
func (t *Table) Address(name string) (uint64, bool) {
	if t == nil {
		return 0, false
	}
	t.byNameOnce.Do(func() {
		t.byName = make(map[string]uint64, len(t.names))
		for i, n := range t.names {
			if _, dup := t.byName[n]; !dup {
				t.byName[n] = t.addrs[i]
			}
		}
	})
	a, ok := t.byName[name]
	return a, ok
}

// InitcallLevels returns the initcall levels that a function of this name
// was registered at, in the order the table saw them; usually one.
func (t *Table) InitcallLevels(fn string) []Level {
	if t == nil {
		return nil
	}
	return t.levels[fn]
}

// Resolve turns a reference as the kernel prints it ("func+0x12/0x40",
// "func+0x12/0x40 [module]", "0xffffffff81234567", "ffffffff81234567" or a
// bare name) into a frame. What cannot be resolved keeps its text, so an
// unknown address stays visible as an address.
func (t *Table) Resolve(ref string) Frame {
	r := ParseRef(ref)
	if r.Func == "" {
		name, off, ok := t.Lookup(r.Addr)
		if !ok {
			return Frame{Func: ref}
		}
		r.Func, r.Offset = name, off
		if t.lines != nil {
			if file, line, ok := t.lines.fileLine(r.Addr); ok {
				return Frame{Func: r.Func, File: file, Line: line}
			}
		}
		return Frame{Func: r.Func}
	}
	f := Frame{Func: r.Func}
	if r.Module != "" {
		f.Func += " [" + r.Module + "]"
	}
	if t != nil && t.lines != nil && r.Module == "" {
		if base, ok := t.Address(r.Func); ok {
			if file, line, ok := t.lines.fileLine(base + r.Offset); ok {
				f.File, f.Line = file, line
			}
		}
	}
	return f
}

// Ref is a parsed symbol reference. Func is empty for a bare address.
type Ref struct {
	Func   string
	Offset uint64
	Size   uint64
	Module string
	Addr   uint64
}

// ParseRef splits a kernel symbol reference without resolving it.
func ParseRef(s string) Ref {
	s = strings.TrimSpace(s)
	var r Ref
	if i := strings.IndexByte(s, ' '); i >= 0 {
		mod := strings.TrimSpace(s[i+1:])
		if strings.HasPrefix(mod, "[") && strings.HasSuffix(mod, "]") {
			r.Module = mod[1 : len(mod)-1]
		}
		s = s[:i]
	}
	if a, ok := parseAddr(s); ok {
		r.Addr = a
		return r
	}
	name := s
	if i := strings.IndexByte(s, '+'); i > 0 {
		name = s[:i]
		rest := s[i+1:]
		off, size, _ := strings.Cut(rest, "/")
		if v, err := strconv.ParseUint(strings.TrimPrefix(off, "0x"), 16, 64); err == nil {
			r.Offset = v
		}
		if v, err := strconv.ParseUint(strings.TrimPrefix(size, "0x"), 16, 64); err == nil {
			r.Size = v
		}
	}
	r.Func = name
	return r
}

// parseAddr accepts "0x"-prefixed hex, or unprefixed hex of kernel-address
// length, so that names made only of hex letters ("add", "bad") stay names.
func parseAddr(s string) (uint64, bool) {
	h, prefixed := strings.CutPrefix(s, "0x")
	if !prefixed && len(h) < 8 {
		return 0, false
	}
	if h == "" || len(h) > 16 {
		return 0, false
	}
	v, err := strconv.ParseUint(h, 16, 64)
	return v, err == nil
}
