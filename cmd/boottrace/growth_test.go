package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
		n = min(n, bootline.MaxRecords) // what a kernel buffer holds
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
	{"kernel log lines", func(n int) []byte {
		var b bytes.Buffer
		for i := range n {
			us := 1000 + 37*i
			fmt.Fprintf(&b, "[%5d.%06d] driver%d: message %d about device %x\n", us/1e6, us%1e6, i%300, i, i*7919)
		}
		return b.Bytes()
	}},
	{"events in one reorder window", func(n int) []byte {
		return recording("exceptions:page_fault_user", func(i int) tracefile.Event {
			return tracefile.Event{Time: int64(2000 + i%1000), Kind: "exceptions:page_fault_user", Fields: map[string]int64{"address": int64(i) << 12}}
		}, n)
	}},
	{"probe events in one reorder window", func(n int) []byte {
		var b bytes.Buffer
		const pid = 7
		fault := tracefile.Format{{Name: "address", Offset: 8, Size: 8}}
		w, _ := tracefile.NewWriter(&b, tracefile.Header{PID: pid, Formats: map[string]tracefile.Format{tracefile.KindPageFaultUser.String(): fault}})
		w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid})
		raw := make([]byte, 64)
		for i := range n {
			raw[9], raw[10] = byte(i), byte(i>>8)
			w.WriteProbe(&tracefile.Probe{Time: int64(2000 + i%1000), Kind: tracefile.KindPageFaultUser, TGID: pid, TID: pid, Seq: uint32(i + 1), Raw: raw})
		}
		w.Write(tracefile.Event{Time: 5000, Kind: "end", End: &tracefile.End{Reason: "test"}})
		w.Flush()
		return b.Bytes()
	}},
	{"VM exits without their entry", func(n int) []byte {
		return recording("kvm:kvm_exit", func(i int) tracefile.Event {
			if i == 0 {
				return tracefile.Event{Time: 2000, Kind: "syscalls:sys_enter_ioctl", Fields: map[string]int64{"cmd": 0xae80}}
			}
			return tracefile.Event{Time: int64(3000 + 100*i), Kind: "kvm:kvm_exit", Fields: map[string]int64{"isa": 1, "exit_reason": 30}}
		}, n)
	}},
}

// recording is a trace file of one VMM process that execs, then has the
// n events ev(0), ev(1), ... on its main thread, then ends.
func recording(kind string, ev func(i int) tracefile.Event, n int) []byte {
	var b bytes.Buffer
	const pid = 7
	w, _ := tracefile.NewWriter(&b, tracefile.Header{PID: pid, Attached: []string{"syscalls:sys_enter_ioctl", kind}})
	w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid})
	end := int64(0)
	for i := range n {
		e := ev(i)
		e.TGID, e.TID = pid, pid
		end = max(end, e.Time)
		w.Write(e)
	}
	w.Write(tracefile.Event{Time: end + 1000, Kind: "end", End: &tracefile.End{Reason: "test"}})
	w.Flush()
	return b.Bytes()
}

var (
	writeShapes = flag.String("write-shapes", "", "write each input shape of growthShapes to this directory, about -shape-mb MB each, and exit the test (scripts/measure-memory.sh)")
	shapeMB     = flag.Int("shape-mb", 20, "size of each shape -write-shapes writes, in MB")
)

// TestWriteShapes writes the shapes for measuring memory by hand.
func TestWriteShapes(t *testing.T) {
	if *writeShapes == "" {
		t.Skip("set -write-shapes DIR to write the input shapes")
	}
	for _, shape := range growthShapes {
		n := int(int64(*shapeMB) << 20 * 1000 / int64(len(shape.gen(1000))))
		name := strings.ReplaceAll(shape.name, " ", "-")
		if err := os.WriteFile(filepath.Join(*writeShapes, name), shape.gen(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
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

// TestMemoryBudget runs every reading command on each shape, at a size
// whose whole reading would need several times the budget given: each
// must finish, say in its notes where reading stopped, and keep the heap
// (sampled while it runs) within twice the budget.
func TestMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("reads inputs of some megabytes with every command")
	}
	const budget = 32 << 20
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	dir := t.TempDir()
	for _, shape := range growthShapes {
		in := filepath.Join(dir, strings.ReplaceAll(shape.name, " ", "-"))
		n := 8 << 20 * 1000 / len(shape.gen(1000))
		if err := os.WriteFile(in, shape.gen(n), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"summary"}, {"pprof", "-o", "-"}, {"flame", "--folded"}, {"flame"}, {"flame", "--chart"}, {"export"}, {"report", "-o", "-"}} {
			peak := sampleHeap()
			out, _, err := run(t, "", append(args, "--max-memory", "32MiB", in)...)
			max := peak()
			if err != nil {
				t.Fatalf("%s, %v: %v", shape.name, args, err)
			}
			t.Logf("%s, %v: heap at most %.1f MiB", shape.name, args, float64(max)/(1<<20))
			if max > 2*budget {
				t.Errorf("%s, %v: heap reached %.1f MiB with a budget of 32 MiB", shape.name, args, float64(max)/(1<<20))
			}
			if args[0] == "summary" && !strings.Contains(out, "partial: the memory budget (32.0 MiB, --max-memory) stopped reading") {
				t.Errorf("%s: the summary does not say where the budget stopped reading:\n%s", shape.name, out)
			}
		}
	}
}

// sampleHeap samples the heap's live and unswept objects every
// millisecond until the returned function is called, which returns the
// largest sample.
func sampleHeap() func() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-stopped
		return peak.Load()
	}
}
