package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/boottrace/boottrace/guestpatch/bootline"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// growthShapes generate, at size n, the inputs that once made a reader or
// an output grow with the square of their size: each must now cost about
// 4 times as much at 4n.
var growthShapes = []struct {
	name string
	gen  func(n int) []byte
}{
	{"nested driver probes", func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			us := 1_000_000 + i
			fmt.Fprintf(&b, "[%5d.%06d] probe of dev%d returned 0 after %d usecs\n", us/1e6, us%1e6, i, 2*i+1)
		}
		return b.Bytes()
	}},
	{"initcalls that never return", func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "[%6d.%06d] calling  fn%d+0x0/0x10 @ 1\n", 0, i, i)
		}
		for i := range n {
			fmt.Fprintf(&b, "[%6d.%06d] initcall other%d+0x0/0x10 returned 0 after 1 usecs\n", 1, i, i)
		}
		return b.Bytes()
	}},
	{"nested BOOT_TRACE phases", func(n int) []byte {
		var b bytes.Buffer
		fmt.Fprintln(&b, bootline.Header{Release: "6.1.0", TSCkHz: 1_000_000, CPUs: 1, Records: n}.String())
		for i := range n {
			fmt.Fprintln(&b, bootline.Record{Seq: i, Kind: 'B', PID: 1, TSC: uint64(1000 + i*1000), Name: fmt.Sprintf("phase%d", i)}.String())
		}
		fmt.Fprintln(&b, bootline.End{Records: n}.String())
		return b.Bytes()
	}},
	{"distinct folded stacks", func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			fmt.Fprintf(&b, "start_kernel;init%d;probe%d;leaf%d %d\n", i%97, i%1013, i, 1+i%7)
		}
		return b.Bytes()
	}},
	{"VM exits without their entry", func(n int) []byte {
		var b bytes.Buffer
		const pid = 7
		w, _ := tracefile.NewWriter(&b, tracefile.Header{PID: pid, Attached: []string{"syscalls:sys_enter_ioctl", "kvm:kvm_exit"}})
		w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid})
		w.Write(tracefile.Event{Time: 2000, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: map[string]int64{"cmd": 0xae80}})
		for i := range n {
			w.Write(tracefile.Event{Time: int64(3000 + 100*i), Kind: "kvm:kvm_exit", TGID: pid, TID: pid, Fields: map[string]int64{"isa": 1, "exit_reason": 30}})
		}
		w.Write(tracefile.Event{Time: int64(4000 + 100*n), Kind: "end", End: &tracefile.End{Reason: "test"}})
		w.Flush()
		return b.Bytes()
	}},
}

// TestLinearGrowth runs every command on each shape at n and 4n and
// compares the bytes they allocate (deterministic, unlike time): 4n may
// cost at most 5 times n, where a quadratic step costs 16 times.
func TestLinearGrowth(t *testing.T) {
	if testing.Short() {
		t.Skip("reads inputs of some 10,000 lines with every command")
	}
	const n = 3000
	dir := t.TempDir()
	for _, shape := range growthShapes {
		for _, args := range [][]string{{"summary"}, {"pprof", "-o", "-"}, {"flame", "--folded"}, {"flame"}, {"flame", "--chart"}} {
			var alloc [2]uint64
			for i, size := range []int{n, 4 * n} {
				in := filepath.Join(dir, fmt.Sprintf("in-%d", size))
				if err := os.WriteFile(in, shape.gen(size), 0o644); err != nil {
					t.Fatal(err)
				}
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				if _, _, err := run(t, "", append(args, in)...); err != nil {
					t.Fatalf("%s, %v: %v", shape.name, args, err)
				}
				runtime.ReadMemStats(&m1)
				alloc[i] = m1.TotalAlloc - m0.TotalAlloc
			}
			t.Logf("%s, %v: %.2f×", shape.name, args, float64(alloc[1])/float64(alloc[0]))
			if ratio := float64(alloc[1]) / float64(alloc[0]); ratio > 5 {
				t.Errorf("%s, %v: %d bytes allocated at n=%d, %d at 4n (%.1f×, want at most 5×)", shape.name, args, alloc[0], n, alloc[1], ratio)
			}
		}
	}
}
