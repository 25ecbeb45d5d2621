package symbolize

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const smallMap = `ffffffff81000000 T _stext
ffffffff81000100 t do_one_initcall
ffffffff81000200 T con_init
ffffffff81000300 W weak_fn
ffffffff81000400 d some_data
ffffffff82000000 D __initcall_start
ffffffff82000000 d __initcall__kmod_core__391_2229_init_hw_perf_eventsearly
ffffffff82000004 D __initcall0_start
ffffffff82000004 d __initcall__kmod_x__1_2_pure_fn0
ffffffff82000008 D __initcall1_start
ffffffff82000008 d __initcall_old_style_fn1
ffffffff8200000c D __initcall6_start
ffffffff8200000c d __initcall__kmod_serial__5_6_init16s
ffffffff82000010 d __initcall__kmod_a__7_8_init6
ffffffff82000014 D __initcall7_start
ffffffff82000014 d __initcall__kmod_b__9_10_init7s
ffffffff82000018 D __initcall_end
ffffffffc0000000 t mod_fn	[virtio_blk]
`

func TestReadSystemMap(t *testing.T) {
	tab, err := ReadSystemMap(strings.NewReader(smallMap))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tab.Len(), 5; got != want {
		t.Errorf("Len() = %d, want %d code symbols", got, want)
	}
	for _, tc := range []struct {
		addr uint64
		name string
		off  uint64
	}{
		{0xffffffff81000000, "_stext", 0},
		{0xffffffff81000212, "con_init", 0x12},
		{0xffffffff81000480, "weak_fn", 0x180}, // data symbols are not code
		{0xffffffffc0000010, "mod_fn [virtio_blk]", 0x10},
	} {
		name, off, ok := tab.Lookup(tc.addr)
		if !ok || name != tc.name || off != tc.off {
			t.Errorf("Lookup(%#x) = %q+%#x, %v; want %q+%#x", tc.addr, name, off, ok, tc.name, tc.off)
		}
	}
	if _, _, ok := tab.Lookup(0x1000); ok {
		t.Error("Lookup below the first symbol succeeded")
	}
}

func TestInitcallLevels(t *testing.T) {
	tab, err := ReadSystemMap(strings.NewReader(smallMap))
	if err != nil {
		t.Fatal(err)
	}
	for fn, want := range map[string][]Level{
		"init_hw_perf_events": {LevelEarly},
		"pure_fn":             {LevelPure},
		"old_style_fn":        {LevelCore},
		"init1":               {LevelDevice}, // "init1" + the sync suffix "6s"
		"init":                {LevelDevice, LevelLate},
		"missing":             nil,
	} {
		if diff := cmp.Diff(want, tab.InitcallLevels(fn)); diff != "" {
			t.Errorf("InitcallLevels(%q) (-want +got):\n%s", fn, diff)
		}
	}
}

func TestReadSystemMapErrors(t *testing.T) {
	_, err := ReadSystemMap(strings.NewReader("hello world\nnot a map\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("err = %v, want one naming line 1", err)
	}
	if _, err := ReadSystemMap(strings.NewReader("")); err == nil {
		t.Error("empty input: no error")
	}
}

func TestResolve(t *testing.T) {
	tab, err := ReadSystemMap(strings.NewReader(smallMap))
	if err != nil {
		t.Fatal(err)
	}
	var empty *Table
	for _, tc := range []struct {
		tab  *Table
		ref  string
		want Frame
	}{
		{tab, "con_init+0x0/0x22c", Frame{Func: "con_init"}},
		{tab, "0xffffffff81000212", Frame{Func: "con_init"}},
		{tab, "ffffffff81000212", Frame{Func: "con_init"}},
		{tab, "virtio_init+0x0/0x1000 [virtio_blk]", Frame{Func: "virtio_init [virtio_blk]"}},
		{tab, "0x1234", Frame{Func: "0x1234"}},
		{empty, "con_init+0x0/0x22c", Frame{Func: "con_init"}},
		{empty, "0xffffffff81000212", Frame{Func: "0xffffffff81000212"}},
		{empty, "add", Frame{Func: "add"}},
	} {
		if diff := cmp.Diff(tc.want, tc.tab.Resolve(tc.ref)); diff != "" {
			t.Errorf("Resolve(%q) (-want +got):\n%s", tc.ref, diff)
		}
	}
}

// TestDistributionSystemMap reads the full System.map of Debian's 6.1
// kernel shipped with the examples and checks initcalls seen in its boot log.
func TestDistributionSystemMap(t *testing.T) {
	tab, _, err := Open("", filepath.Join("..", "examples", "debian-6.1", "System.map.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() < 40000 {
		t.Errorf("only %d code symbols in a distribution System.map", tab.Len())
	}
	for fn, want := range map[string]Level{
		"init_hw_perf_events": LevelEarly,
		"inet_init":           LevelFS,
		"serial8250_init":     LevelDevice,
		"crypto_algapi_init":  LevelLate,
		"acpi_init":           LevelSubsys,
	} {
		if got := tab.InitcallLevels(fn); len(got) != 1 || got[0] != want {
			t.Errorf("InitcallLevels(%q) = %v, want [%s]", fn, got, want)
		}
	}
	addr, ok := tab.Address("con_init")
	if !ok {
		t.Fatal("con_init not found")
	}
	if f := tab.Resolve(hex(addr + 0x10)); f.Func != "con_init" {
		t.Errorf("Resolve(con_init+0x10 as address) = %q", f.Func)
	}
}

func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// TestReadELF resolves a function of this very test binary, a real ELF file
// with DWARF, to its name, file and line.
func TestReadELF(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("no executable path:", err)
	}
	tab, closeFn, err := ReadELF(exe)
	if err != nil {
		t.Skipf("test binary is not a readable ELF file here: %v", err)
	}
	defer closeFn()
	pc := reflect.ValueOf(TestReadELF).Pointer()
	want := runtime.FuncForPC(pc).Name()
	f := tab.Resolve(hex(uint64(pc) + 4))
	if f.Func != want {
		t.Fatalf("Resolve(TestReadELF+4).Func = %q, want %q", f.Func, want)
	}
	if f.File == "" {
		t.Skip("test binary carries no DWARF line table (built with -w?)")
	}
	if filepath.Base(f.File) != "table_test.go" || f.Line == 0 {
		t.Errorf("Resolve(TestReadELF+4) = %s:%d, want table_test.go", f.File, f.Line)
	}
}

func TestReadELFErrors(t *testing.T) {
	if _, _, err := ReadELF(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
	p := filepath.Join(t.TempDir(), "notelf")
	os.WriteFile(p, []byte("hello"), 0o644)
	if _, _, err := ReadELF(p); err == nil {
		t.Error("non-ELF file: no error")
	}
}

func BenchmarkLookup(b *testing.B) {
	tab, _, err := Open("", filepath.Join("..", "examples", "debian-6.1", "System.map.gz"))
	if err != nil {
		b.Fatal(err)
	}
	lo, hi := tab.addrs[0], tab.addrs[len(tab.addrs)-1]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		addr := lo + uint64(i*7919)%(hi-lo)
		if _, _, ok := tab.Lookup(addr); !ok {
			b.Fatal("lookup failed")
		}
	}
}

func BenchmarkReadSystemMap(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "debian-6.1", "System.map.gz"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ReadSystemMapGz(strings.NewReader(string(data))); err != nil {
			b.Fatal(err)
		}
	}
}
