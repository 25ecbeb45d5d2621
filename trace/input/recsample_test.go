package input

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/boottrace/boottrace/symbolize"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"
)

// guestSampleRaw is a guest sample's record: RIP, the status (return
// addresses and why the walk ended), the return addresses.
func guestSampleRaw(rip uint64, end walkEnd, rets ...uint64) []byte {
	b := binary.LittleEndian.AppendUint64(nil, rip)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(rets))|uint64(end)<<8)
	for _, r := range rets {
		b = binary.LittleEndian.AppendUint64(b, r)
	}
	return b
}

// TestRecordingGuestSamples checks what guest samples become: a track per
// vCPU thread of stacks, outermost frame first, each sample standing for
// the time to the next one (at most two usual intervals); the same frames
// in consecutive samples merge; return addresses are looked up one byte
// back (a call that is a function's last instruction returns to the next
// function); a walk that ended early is under a frame saying why; a record
// shorter than it says and one without RIP are counted, not drawn; the
// innermost frame counts its samples.
func TestRecordingGuestSamples(t *testing.T) {
	const pid, vcpu = 7, 8
	syms, err := symbolize.ReadSystemMap(strings.NewReader("ffffffff81000000 t main\nffffffff81000020 t a\nffffffff81000040 t spin\nffffffff81000060 t after_spin\n"))
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	w, err := tracefile.NewWriter(&file, tracefile.Header{PID: pid, Formats: map[string]tracefile.Format{"boottrace:guest_sample": tracefile.GuestSampleFormat}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid})
	seq := uint32(0)
	sample := func(at int64, raw []byte) {
		seq++
		w.WriteProbe(&tracefile.Probe{Time: at, Kind: tracefile.KindGuestSample, TGID: pid, TID: vcpu, Seq: seq, Raw: raw})
	}
	// main calls a (returning to 0x...0c), a calls spin: a's call is its
	// last instruction, so its return address is spin's first byte.
	full := []uint64{0xffffffff81000040, 0xffffffff8100000c}
	sample(10_000, guestSampleRaw(0xffffffff81000045, walkDone, full...))
	sample(11_000, guestSampleRaw(0xffffffff81000046, walkDone, full...))
	sample(12_000, guestSampleRaw(0xffffffff81000025, walkDone, 0xffffffff8100000c))
	sample(13_000, guestSampleRaw(0xffffffff81000045, 4, 0xffffffff81000040)) // unmapped past a
	sample(20_000, guestSampleRaw(0xffffffff81000045, walkDone, full...))     // after a gap
	sample(21_000, guestSampleRaw(0, walkNoRIP))
	sample(22_000, guestSampleRaw(0xffffffff81000045, walkDone, full...)[:20]) // cut short
	w.Flush()
	tr, err := Read(&file, ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	counted := int64(0)
	for _, track := range tr.Tracks {
		if track.Name != "guest stacks (vcpu thread 8)" {
			continue
		}
		track.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			counted += s.Counts["guest samples"]
			if len(path) > 1 {
				got = append(got, strings.Repeat(" ", len(path)-2)+s.Name+" "+trace.FormatDuration(s.Start)+"+"+trace.FormatDuration(s.End-s.Start))
			}
			return true
		})
	}
	// Times from the exec; the usual interval is 1 µs, so the sample
	// before the gap stands for 2 µs.
	want := []string{
		"main 9.0 µs+3.0 µs",
		" a 9.0 µs+3.0 µs",
		"  spin 9.0 µs+2.0 µs",
		"[partial stack: address not mapped by the guest's page tables] 12.0 µs+2.0 µs",
		" a 12.0 µs+2.0 µs",
		"  spin 12.0 µs+2.0 µs",
		"main 19.0 µs+1.0 µs",
		" a 19.0 µs+1.0 µs",
		"  spin 19.0 µs+1.0 µs",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("guest stacks (-want +got):\n%s", diff)
	}
	if counted != 5 {
		t.Errorf("%d samples counted on the frames, want 5", counted)
	}
	notes := strings.Join(tr.Notes, "\n")
	if !strings.Contains(notes, "guest stacks: 5 samples") || !strings.Contains(notes, "1 address not mapped by the guest's page tables") || !strings.Contains(notes, "left out: 1 without RIP, 1 unreadable") {
		t.Errorf("notes do not count the samples, the early end and those left out:\n%s", notes)
	}
}
