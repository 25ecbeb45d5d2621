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

type timedSample struct {
	at  int64
	raw []byte
}

// readSamples reads a recording of one VMM (pid 7) whose vCPU thread (8)
// took the given guest samples.
func readSamples(t *testing.T, syms *symbolize.Table, samples []timedSample) *trace.Trace {
	t.Helper()
	const pid, vcpu = 7, 8
	var file bytes.Buffer
	w, err := tracefile.NewWriter(&file, tracefile.Header{PID: pid, Formats: map[string]tracefile.Format{"boottrace:guest_sample": tracefile.GuestSampleFormat}})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid})
	for i, s := range samples {
		w.WriteProbe(&tracefile.Probe{Time: s.at, Kind: tracefile.KindGuestSample, TGID: pid, TID: vcpu, Seq: uint32(i + 1), Raw: s.raw})
	}
	w.Flush()
	tr, err := Read(&file, ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatal(err)
	}
	return tr
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
	syms, err := symbolize.ReadSystemMap(strings.NewReader("ffffffff81000000 t main\nffffffff81000020 t a\nffffffff81000040 t spin\nffffffff81000060 t after_spin\n"))
	if err != nil {
		t.Fatal(err)
	}
	// main calls a (returning to 0x...0c), a calls spin: a's call is its
	// last instruction, so its return address is spin's first byte.
	full := []uint64{0xffffffff81000040, 0xffffffff8100000c}
	tr := readSamples(t, syms, []timedSample{
		{10_000, guestSampleRaw(0xffffffff81000045, walkDone, full...)},
		{11_000, guestSampleRaw(0xffffffff81000046, walkDone, full...)},
		{12_000, guestSampleRaw(0xffffffff81000025, walkDone, 0xffffffff8100000c)},
		{13_000, guestSampleRaw(0xffffffff81000045, 4, 0xffffffff81000040)}, // unmapped past a
		{20_000, guestSampleRaw(0xffffffff81000045, walkDone, full...)},     // after a gap
		{21_000, guestSampleRaw(0, walkNoRIP)},
		{22_000, guestSampleRaw(0xffffffff81000045, walkDone, full...)[:20]}, // cut short
	})
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
	if strings.Contains(notes, "most walks ended early") {
		t.Errorf("one walk of five that ended early called most:\n%s", notes)
	}
	if !strings.Contains(notes, "guest stacks: 5 samples") || !strings.Contains(notes, "1 address not mapped by the guest's page tables") || !strings.Contains(notes, "left out: 1 without RIP, 1 unreadable") {
		t.Errorf("notes do not count the samples, the early end and those left out:\n%s", notes)
	}
}

// TestRecordingGuestSamplesEarly: when most walks end early (a guest
// without frame pointers), the notes say what to build the guest with.
func TestRecordingGuestSamplesEarly(t *testing.T) {
	tr := readSamples(t, nil, []timedSample{
		{10_000, guestSampleRaw(0x1000, 7, 0x2000)},
		{11_000, guestSampleRaw(0x1000, 4)},
		{12_000, guestSampleRaw(0x1000, walkDone, 0x2000)},
	})
	if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "most walks ended early") || !strings.Contains(notes, "CONFIG_FRAME_POINTER=y") {
		t.Errorf("two walks of three ended early, and the notes do not say why that may be:\n%s", notes)
	}
}
