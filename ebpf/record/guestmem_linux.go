package record

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/boottrace/boottrace/guestpatch/bootline"
	"github.com/boottrace/boottrace/guestpatch/guestmem"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// How often guest memory is read: records while the boot runs (each
// batch's arrival bounds the guest clock), and the scan for the
// descriptor until the kernel is loaded.
const (
	memPoll = 20 * time.Millisecond
	memScan = 250 * time.Millisecond
)

// consoleGrace is how long the end of the boot waits for a console flush
// to begin before the recording stops.
const consoleGrace = time.Second

// minGuestRAM is the smallest mapping scanned for guest RAM.
const minGuestRAM = 2 << 20

// guestMemory reads the guest's BOOT_TRACE records out of the VMM's
// memory (any process under pid, as seen in boottrace's own pid
// namespace) until quit is closed, writing them to the trace file as
// "guest-memory" events. It reports the end of the guest's boot on stop,
// and when quit closes it writes the header it has (a boot cut short is
// kept, marked partial by the missing end line). A guest that prints its
// trace on the console too (boottrace=console or live) is left to finish
// printing: the console's end line stops the recording then.
func guestMemory(pid int, w *tracefile.Writer, stop chan<- string, quit <-chan struct{}, console *consoleSeen) {
	var g *guestmem.Guest
	var mem *os.File
	defer func() {
		if mem != nil {
			mem.Close()
		}
	}()
	lastScan := time.Time{}
	lastRead := int64(0)
	tick := time.NewTicker(memPoll)
	defer tick.Stop()
	for {
		// Once the boot has ended nothing is read again: the descriptor
		// keeps saying done.
		ended := g != nil && g.Done()
		select {
		case <-quit:
			if g != nil && !ended {
				// The boot did not end while the VMM could be read: what
				// was read stands, without the end line.
				h := g.Header()
				w.Write(tracefile.Event{Time: lastRead, Kind: tracefile.KindGuestMemory, Data: h.String() + "\n"})
			}
			return
		case <-tick.C:
		}
		if ended {
			continue
		}
		if g == nil {
			if time.Since(lastScan) < memScan {
				continue
			}
			lastScan = time.Now()
			g, mem = locate(pid)
			if g == nil {
				continue
			}
		}
		recs, err := g.Poll()
		if err != nil {
			// The VMM exited or remapped its memory: keep what was read.
			continue
		}
		lastRead = monotonic()
		lines := make([]string, 0, len(recs)+2)
		for _, r := range recs {
			lines = append(lines, r.String())
		}
		if g.Done() {
			h := g.Header()
			lines = append(lines, h.String(), bootline.End{Records: g.Count}.String())
		}
		if len(lines) > 0 {
			w.Write(tracefile.Event{Time: lastRead, Kind: tracefile.KindGuestMemory, Data: strings.Join(lines, "\n") + "\n"})
		}
		if g.Done() {
			// A guest that talks on its console may print the trace there
			// too: its flush begins as the boot ends; give it a moment.
			if console.output.Load() {
				for grace := time.Now().Add(consoleGrace); !console.bootTrace.Load() && time.Now().Before(grace); {
					time.Sleep(memPoll)
				}
			}
			if console.bootTrace.Load() && !g.Off() {
				continue
			}
			reason := "the guest's boot ended (BOOT_TRACE read from guest memory)"
			if g.Off() {
				reason = "the guest records nothing (booted with boottrace=off)"
			}
			select {
			case stop <- reason:
			default:
			}
		}
	}
}

// locate finds the BOOT_TRACE descriptor in the memory of pid or a
// descendant (a VMM started through a shell or wrapper).
func locate(pid int) (*guestmem.Guest, *os.File) {
	for _, p := range processTree(pid) {
		regions := ramRegions(p)
		if len(regions) == 0 {
			continue
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/mem", p))
		if err != nil {
			continue
		}
		if g, err := guestmem.Locate(f, regions); err == nil {
			return g, f
		}
		f.Close()
	}
	return nil, nil
}

// processTree is pid and its descendants, deepest last.
func processTree(pid int) []int {
	parent := map[int][]int{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		_, ppid, err := procStat(s)
		child, cerr := strconv.Atoi(filepath.Base(filepath.Dir(s)))
		if err == nil && cerr == nil && ppid >= 0 {
			parent[ppid] = append(parent[ppid], child)
		}
	}
	tree := []int{pid}
	for i := 0; i < len(tree) && len(tree) < 4096; i++ {
		tree = append(tree, parent[tree[i]]...)
	}
	return tree
}

// ramRegions lists pid's writable, non-executable mappings large enough
// to be guest RAM: anonymous, shared memory or memory-backend files.
func ramRegions(pid int) []guestmem.Region {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return nil
	}
	defer f.Close()
	var all []guestmem.Region
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.HasPrefix(fields[1], "rw") || strings.Contains(fields[1], "x") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		// A VMM's RAM may be several mappings side by side (parts of it
		// advised differently): one region.
		if n := len(all); n > 0 && all[n-1].End == start {
			all[n-1].End = end
			continue
		}
		all = append(all, guestmem.Region{Start: start, End: end})
	}
	var out []guestmem.Region
	for _, r := range all {
		if r.End-r.Start >= minGuestRAM {
			out = append(out, r)
		}
	}
	return out
}
