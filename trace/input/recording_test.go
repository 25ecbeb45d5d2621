package input

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/tracefile"

	"github.com/google/go-cmp/cmp"
)

func exampleRecording(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "examples", "record", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, err := Uncompressed(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(u)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadRecordingMiniVMM(t *testing.T) {
	tr, err := Read(bytes.NewReader(exampleRecording(t, "minivmm.trace.gz")), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Format != FormatRecording {
		t.Fatalf("format %q", tr.Format)
	}
	main := tr.Tracks[0]
	if !strings.HasPrefix(main.Name, "vmm main") || main.Start != 0 {
		t.Fatalf("first track %q at %d", main.Name, main.Start)
	}
	setup := main.Children[0]
	if !strings.HasPrefix(setup.Name, "vmm set-up") {
		t.Fatalf("main thread starts with %q, not the set-up phase", setup.Name)
	}
	var names []string
	for _, c := range setup.Children {
		if c.Kind == trace.KindIoctl {
			names = append(names, c.Name)
		}
	}
	got := strings.Join(names, " ")
	for _, want := range []string{"KVM_GET_API_VERSION", "KVM_CREATE_VM", "KVM_SET_USER_MEMORY_REGION", "KVM_CREATE_VCPU", "KVM_SET_SREGS", "KVM_SET_REGS"} {
		if !strings.Contains(got, want) {
			t.Errorf("set-up ioctls %q lack %s", got, want)
		}
	}
	checkTrace(t, tr)
}

// TestReadRecordingCut reads a trace file cut mid-line, as a recording
// killed while writing leaves it: everything before the cut is kept.
func TestReadRecordingCut(t *testing.T) {
	b := exampleRecording(t, "minivmm.trace.gz")
	cut := b[:len(b)*2/3]
	cut = cut[:bytes.LastIndexByte(cut, '\n')+20] // end inside a line
	tr, err := Read(bytes.NewReader(cut), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(tr.Notes, "\n")
	if !strings.Contains(notes, "partial: the recording has no end line") {
		t.Errorf("notes do not say the recording is partial:\n%s", notes)
	}
	if tr.Skipped.Total != 1 {
		t.Errorf("skipped %d lines, want the one cut line: %s", tr.Skipped.Total, tr.Skipped.String())
	}
	if len(tr.Tracks) == 0 || tr.End() <= 0 {
		t.Error("nothing kept from the cut recording")
	}
	checkTrace(t, tr)
}

func FuzzReadRecording(f *testing.F) {
	b := exampleRecording(f, "minivmm.trace.gz")
	lines := bytes.SplitAfter(b, []byte("\n"))
	// Small seeds (the header without its tracepoint formats, which the
	// reader does not need), so the fuzzer mutates rather than minimizes.
	var h tracefile.Header
	if err := json.Unmarshal(lines[0], &h); err != nil {
		f.Fatal(err)
	}
	h.Formats, h.Attached = nil, nil
	head, _ := json.Marshal(h)
	head = append(head, '\n')
	f.Add(append(append([]byte{}, head...), bytes.Join(lines[1:min(25, len(lines))], nil)...))
	f.Add(append(append([]byte{}, head...), []byte(`{"t":1,"k":"syscalls:sys_exit_ioctl","tid":5}`+"\n")...))
	// Version 2: Probe lines, decoded with the header's formats.
	var v2 bytes.Buffer
	w, _ := tracefile.NewWriter(&v2, tracefile.Header{PID: 7, Formats: map[string]tracefile.Format{
		"syscalls:sys_enter_ioctl": {{Name: "fd", Offset: 16, Size: 8}, {Name: "cmd", Offset: 24, Size: 8}},
		"syscalls:sys_exit_ioctl":  {{Name: "ret", Offset: 16, Size: 8, Signed: true}},
		"boottrace:guest_sample":   tracefile.GuestSampleFormat,
	}})
	w.Write(tracefile.Event{Time: 1000, Kind: "sched:sched_process_exec", TGID: 7, TID: 7})
	raw := make([]byte, 32)
	raw[24], raw[25] = 0x80, 0xae
	w.WriteProbe(&tracefile.Probe{Time: 2000, Kind: tracefile.KindIoctlEnter, TGID: 7, TID: 7, Seq: 1, Raw: raw})
	w.WriteProbe(&tracefile.Probe{Time: 3000, Kind: tracefile.KindIoctlExit, TGID: 7, TID: 7, Seq: 2, Raw: make([]byte, 24)})
	w.WriteProbe(&tracefile.Probe{Time: 3500, Kind: tracefile.KindGuestSample, TGID: 7, TID: 7, Seq: 3, Raw: guestSampleRaw(0x1000, walkDone, 0x2000)})
	w.Flush()
	f.Add(v2.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := ReadRecording(bytes.NewReader(in), ReadOptions{})
		if err != nil {
			return
		}
		checkTrace(t, tr)
	})
}

// TestRecordingFaults checks how page faults become spans: a fault timed
// from its exception to the software event that accounted it, holding the
// off-CPU time inside it; a fault that never ended, counted on what it
// interrupted; an end without its start, skipped; guest memory told from
// VMM memory by the KVM memory slot.
func TestRecordingFaults(t *testing.T) {
	slot := make([]byte, 32)
	binary.LittleEndian.PutUint64(slot[16:], 0x1000) // size
	binary.LittleEndian.PutUint64(slot[24:], 0x7000) // userspace address
	const pid = 100
	events := []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		{Time: 1500, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: map[string]int64{"cmd": 0x4020ae46}, Mem: slot},
		{Time: 1600, Kind: "syscalls:sys_exit_ioctl", TGID: pid, TID: pid},
		{Time: 2000, Kind: "exceptions:page_fault_user", TGID: pid, TID: pid, Fields: map[string]int64{"address": 0x5000}},
		{Time: 2100, Kind: "sched:sched_switch", TGID: pid, TID: pid, Fields: map[string]int64{"prev_pid": pid, "prev_state": 2, "next_pid": 0}},
		{Time: 2600, Kind: "sched:sched_switch", Fields: map[string]int64{"prev_pid": 0, "next_pid": pid}},
		{Time: 2800, Kind: "software:major-faults", TGID: pid, TID: pid, Fields: map[string]int64{"address": 0x5000}},
		{Time: 3000, Kind: "exceptions:page_fault_user", TGID: pid, TID: pid, Fields: map[string]int64{"address": 0x9000}},
		{Time: 3500, Kind: "exceptions:page_fault_kernel", TGID: pid, TID: pid, Fields: map[string]int64{"address": 0x7010}},
		{Time: 3600, Kind: "software:minor-faults", TGID: pid, TID: pid, Fields: map[string]int64{"address": 0x7010}},
		{Time: 4000, Kind: "software:minor-faults", TGID: pid, TID: pid, Fields: map[string]int64{"address": 0x1234}},
	}
	events = append(events, tracefile.Event{Time: 5000, Kind: "end", End: &tracefile.End{Reason: "test"}})
	tr := readEvents(t, tracefile.Header{PID: pid}, events)
	type flat struct {
		Depth      int
		Name       string
		Start, End int64
		Counts     map[string]int64
	}
	var got []flat
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		s := path[len(path)-1]
		got = append(got, flat{len(path) - 1, s.Name, s.Start, s.End, s.Counts})
		return true
	})
	want := []flat{
		{0, "vmm main", 0, 3000, map[string]int64{"page faults on VMM memory": 1}},
		{1, "KVM_SET_USER_MEMORY_REGION", 500, 600, nil},
		{1, "[host] page fault VMM memory (major)", 1000, 1800, map[string]int64{"page faults on VMM memory": 1}},
		{2, "[off-cpu] sleeping", 1100, 1600, nil},
		{1, "[host] page fault guest memory", 2500, 2600, map[string]int64{"page faults on guest memory": 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	// Line 12 of the file: the header, then the eleventh event.
	if diff := cmp.Diff([]trace.SkipReason{{Reason: skipFaultEnd, Count: 1, Lines: []int{12}}}, tr.Skipped.Reasons); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	checkTrace(t, tr)
}

// TestRecordingClockBound checks the placement of a guest without a usable
// TSC offset (an emulator): at the latest time the console allows, with
// the earliest stated. In a flush the header bounds it; printed live, the
// record that reached the console soonest does.
func TestRecordingClockBound(t *testing.T) {
	const pid, exec = 1, 1_000_000 // the VMM's exec, monotonic ns
	flush := smallFlush()          // 1 GHz: a cycle is a nanosecond; tsc0 = 1000, last 21000
	for _, tc := range []struct {
		name   string
		chunks []tracefile.Event
		upper  int64 // latest host time of tsc0
		what   string
	}{
		{
			name:   "flush",
			chunks: []tracefile.Event{{Time: 2_000_000, Data: strings.Join(flush, "")}},
			// The header carries no TSC: it was printed after the last record.
			upper: 2_000_000 - (21000 - 1000),
			what:  "after the last record",
		},
		{
			name: "live",
			// Each record arrives 500 µs after it was taken, but record 5
			// (TSC 16100) after 10 µs; the header comes last.
			chunks: func() []tracefile.Event {
				var cs []tracefile.Event
				for i, l := range flush {
					at := int64(1_700_000)
					if i >= 2 && i < 2+14 {
						tsc := []int64{1000, 1100, 5000, 6000, 6100, 16100, 17000, 18000, 18100, 19100, 20000, 20100, 20200, 21000}[i-2]
						at = exec + 500_000 + tsc
						if i-2 == 5 {
							at = exec + 10_000 + tsc
						}
					}
					cs = append(cs, tracefile.Event{Time: at, Data: l})
				}
				// Live: the header and end come after the records.
				cs[1].Time = 1_800_000
				cs[0], cs[1] = cs[1], cs[0]
				return cs
			}(),
			upper: exec + 10_000 + 1000,
			what:  "printed as it was taken",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := []tracefile.Event{{Time: exec, Kind: "sched:sched_process_exec", TGID: pid, TID: pid}}
			for _, c := range tc.chunks {
				c.Kind = "serial"
				events = append(events, c)
			}
			tr := readEvents(t, tracefile.Header{PID: pid, Clock: []tracefile.ClockPair{{TSC: 1 << 40, Mono: exec}}}, events)
			guest := guestTrack(t, tr)
			if want := tc.upper - exec; guest.Start != want {
				t.Errorf("guest starts at %d ns, want %d", guest.Start, want)
			}
			// The guest TSC counts from 0 at the VM's start, after the exec.
			lower := int64(exec + 1000)
			want := "at most " + trace.FormatDuration(tc.upper-lower) + " earlier"
			notes := strings.Join(tr.Notes, "\n")
			if !strings.Contains(notes, want) || !strings.Contains(notes, tc.what) {
				t.Errorf("notes lack %q and %q:\n%s", want, tc.what, notes)
			}
		})
	}
}

// readEvents writes a trace file with the real writer and reads it back.
func readEvents(t *testing.T, h tracefile.Header, events []tracefile.Event) *trace.Trace {
	t.Helper()
	var file bytes.Buffer
	w, err := tracefile.NewWriter(&file, h)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		w.Write(e)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	tr, err := Read(&file, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestRecordingKVMEvents checks what KVM's own events become: faults on
// guest memory counted on the KVM_RUN they happened in, an MMIO exit named
// by its device page, emulated instructions counted by guest RIP.
func TestRecordingKVMEvents(t *testing.T) {
	const pid = 7
	ev := func(at int64, kind string, fields map[string]int64) tracefile.Event {
		return tracefile.Event{Time: at, Kind: kind, TGID: pid, TID: pid, Fields: fields}
	}
	run := map[string]int64{"cmd": 0xae80}
	tr := readEvents(t, tracefile.Header{PID: pid}, []tracefile.Event{
		ev(100, "sched:sched_process_exec", nil),
		ev(200, "syscalls:sys_enter_ioctl", run),
		ev(300, "kvm:kvm_page_fault", nil),
		ev(310, "kvm:kvm_page_fault", nil),
		ev(320, "kvm:kvm_emulate_insn", map[string]int64{"rip": 0x8021}),
		ev(330, "kvm:kvm_emulate_insn", map[string]int64{"rip": 0x8021}),
		ev(340, "kvm:kvm_emulate_insn", map[string]int64{"rip": 0x9000}),
		ev(350, "kvm:kvm_mmio", map[string]int64{"gpa": 0xfeb00070}),
		ev(360, "kvm:kvm_userspace_exit", map[string]int64{"reason": 6}),
		ev(400, "syscalls:sys_exit_ioctl", nil),
		ev(500, "syscalls:sys_enter_ioctl", run),
		ev(600, "syscalls:sys_exit_ioctl", nil),
	})
	var runs []*trace.Span
	exits := map[string]int{}
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		switch s := path[len(path)-1]; {
		case s.Name == "KVM_RUN":
			runs = append(runs, s)
		case s.Kind == trace.KindHost:
			exits[s.Name]++
		}
		return true
	})
	if len(runs) != 2 || runs[0].Counts["KVM page faults on guest memory"] != 2 {
		t.Fatalf("KVM_RUNs %+v: want two, 2 KVM page faults counted on the first", runs)
	}
	if diff := cmp.Diff(map[string]int{"[host] userspace exit mmio 0xfeb00000": 1}, exits); diff != "" {
		t.Errorf("exits (-want +got):\n%s", diff)
	}
	notes := strings.Join(tr.Notes, "\n")
	for _, want := range []string{
		"2 KVM page faults on guest memory",
		"1 MMIO accesses on page 0xfeb00000",
		"3 instructions emulated by KVM (kvm_emulate_insn), most at guest RIP 0x8021 2, 0x9000 1",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// TestRecordingHostInGuest checks that the host's work on a vCPU is copied
// under the guest span it interrupted with what it holds: an exit to the
// VMM with the page fault taken while handling it.
func TestRecordingHostInGuest(t *testing.T) {
	const pid, vcpu = 1, 2
	ev := func(at int64, kind string, fields map[string]int64) tracefile.Event {
		return tracefile.Event{Time: at, Kind: kind, TGID: pid, TID: vcpu, Fields: fields}
	}
	run := map[string]int64{"cmd": 0xae80}
	// smallFlush's guest: 1 GHz, 20 µs from its first record (TSC 1000) to
	// its last; all of it arrives at 200 µs, so it is placed at
	// [180, 200] µs, start_kernel (TSC 1100-5000) at [180.1, 184] µs.
	tr := readEvents(t, tracefile.Header{PID: pid}, []tracefile.Event{
		{Time: 0, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		ev(170_000, "syscalls:sys_enter_ioctl", run),
		ev(180_900, "kvm:kvm_pio", map[string]int64{"port": 0x3f8}),
		ev(180_950, "kvm:kvm_userspace_exit", map[string]int64{"reason": 2}),
		ev(181_000, "syscalls:sys_exit_ioctl", nil),
		ev(181_500, "exceptions:page_fault_user", map[string]int64{"address": 0x5000}),
		ev(182_000, "software:minor-faults", map[string]int64{"address": 0x5000}),
		ev(183_000, "syscalls:sys_enter_ioctl", run),
		ev(183_500, "kvm:kvm_page_fault", nil),
		ev(250_000, "syscalls:sys_exit_ioctl", nil),
		{Time: 200_000, Kind: "serial", Data: strings.Join(smallFlush(), "")},
	})
	var sk *trace.Span
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Name == "start_kernel" && track.Source == "guest" {
				sk = s
			}
			return true
		})
	}
	if sk == nil {
		t.Fatalf("no guest start_kernel: %q", tr.Notes)
	}
	type flat struct {
		Depth      int
		Name       string
		Start, End int64
	}
	var got []flat
	sk.Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; s.Kind == trace.KindHost {
			got = append(got, flat{len(path) - 1, s.Name, s.Start, s.End})
		}
		return true
	})
	want := []flat{
		{1, "[host] userspace exit io 0x3f8", 181_000, 183_000},
		{2, "[host] page fault VMM or guest memory", 181_500, 182_000},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("host spans under start_kernel (-want +got):\n%s", diff)
	}
}

// TestRecordingVCPUOrder checks that vCPU ids with a gap (x86 APIC ids
// 0 and 4, as a VMM lays out a topology) still map to guest CPUs 0 and 1:
// the exit of vCPU 4 lands under the span that ran on guest CPU 1.
func TestRecordingVCPUOrder(t *testing.T) {
	const pid = 1
	on := func(tid uint32, at int64, kind string, fields map[string]int64) tracefile.Event {
		return tracefile.Event{Time: at, Kind: kind, TGID: pid, TID: tid, Fields: fields}
	}
	create, run := int64(0xae41), int64(0xae80)
	recs := []string{
		"0 I 0 0 3e8 0 x86_64_start_kernel",
		"1 B 0 0 44c 0 start_kernel",
		"2 E 0 0 1388 0 start_kernel",
		"3 B 1 20 1770 0 start_secondary", // TSC 6000-10000 on CPU 1
		"4 E 1 20 2710 0 start_secondary",
		"5 I 0 1 5208 0 run_init_process",
	}
	flush := flushLines(2, recs)
	// The guest (TSC 1000-21000 at 1 GHz) arrives at 200 µs: it is placed
	// at [180, 200] µs, start_secondary at [185, 189] µs.
	tr := readEvents(t, tracefile.Header{PID: pid}, []tracefile.Event{
		on(pid, 0, "sched:sched_process_exec", nil),
		on(pid, 100, "syscalls:sys_enter_ioctl", map[string]int64{"cmd": create, "arg": 0}),
		on(pid, 200, "syscalls:sys_exit_ioctl", map[string]int64{"ret": 10}),
		on(pid, 300, "syscalls:sys_enter_ioctl", map[string]int64{"cmd": create, "arg": 4}),
		on(pid, 400, "syscalls:sys_exit_ioctl", map[string]int64{"ret": 11}),
		on(2, 170_000, "syscalls:sys_enter_ioctl", map[string]int64{"cmd": run, "fd": 10}),
		on(3, 170_000, "syscalls:sys_enter_ioctl", map[string]int64{"cmd": run, "fd": 11}),
		on(3, 185_900, "kvm:kvm_pio", map[string]int64{"port": 0x3f8}),
		on(3, 185_950, "kvm:kvm_userspace_exit", map[string]int64{"reason": 2}),
		on(3, 186_000, "syscalls:sys_exit_ioctl", nil),
		on(3, 187_000, "syscalls:sys_enter_ioctl", map[string]int64{"cmd": run, "fd": 11}),
		on(2, 250_000, "syscalls:sys_exit_ioctl", nil),
		on(3, 250_000, "syscalls:sys_exit_ioctl", nil),
		{Time: 200_000, Kind: "serial", Data: strings.Join(flush, "")},
	})
	var under []string
	for _, track := range tr.Tracks {
		if track.Source != "guest" {
			continue
		}
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Kind == trace.KindHost {
				under = append(under, path[len(path)-2].Name+" > "+s.Name)
			}
			return true
		})
	}
	if diff := cmp.Diff([]string{"start_secondary > [host] userspace exit io 0x3f8"}, under); diff != "" {
		t.Errorf("host exits in the guest (-want +got):\n%s", diff)
	}
}

// TestRecordingReorder checks that events a little out of order in the
// file are put back in order, and that one coming after events later than
// itself by more than the reorder window were built is reported, not
// misplaced.
func TestRecordingReorder(t *testing.T) {
	const pid = 1
	run := map[string]int64{"cmd": 0xae80}
	tr := readEvents(t, tracefile.Header{PID: pid}, []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		{Time: 6000, Kind: "syscalls:sys_exit_ioctl", TGID: pid, TID: pid},
		{Time: 5000, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: run}, // 1 µs late
		{Time: 50_000_000, Kind: "kvm:kvm_pio", TGID: pid, TID: pid, Fields: map[string]int64{"port": 0x3f8}},
		{Time: 5500, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: run}, // after events it precedes were built
	})
	var runs []string
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; s.Kind == trace.KindIoctl {
			runs = append(runs, fmt.Sprintf("%s %d-%d", s.Name, s.Start, s.End))
		}
		return true
	})
	if diff := cmp.Diff([]string{"KVM_RUN 4000-5000"}, runs); diff != "" {
		t.Errorf("ioctls (-want +got):\n%s", diff)
	}
	// Line 6 of the file: the header, then the fifth event.
	if diff := cmp.Diff([]trace.SkipReason{{Reason: skipLate, Count: 1, Lines: []int{6}}}, tr.Skipped.Reasons); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
}

// TestRecordingProcesses checks the VMM's tracks: a child process (a
// wrapper script's grep, say) is named so and ends where it exited; a
// thread of the VMM runs to the end of the recording.
func TestRecordingProcesses(t *testing.T) {
	tr := readEvents(t, tracefile.Header{PID: 1}, []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: 1, TID: 1},
		{Time: 1100, Kind: "sched:sched_process_fork", TGID: 1, TID: 1, Fields: map[string]int64{"child_pid": 2}},
		{Time: 1200, Kind: "sched:sched_process_exec", TGID: 2, TID: 2},
		{Time: 1400, Kind: "sched:sched_process_exit", TGID: 2, TID: 2},
		{Time: 1500, Kind: "sched:sched_process_fork", TGID: 1, TID: 1, Fields: map[string]int64{"child_pid": 3}},
		{Time: 1600, Kind: "syscalls:sys_enter_ioctl", TGID: 1, TID: 3, Fields: map[string]int64{"cmd": 0xae80}},
		{Time: 5000, Kind: "syscalls:sys_exit_ioctl", TGID: 1, TID: 3},
	})
	var got []string
	for _, track := range tr.Tracks {
		got = append(got, fmt.Sprintf("%s %d-%d", track.Name, track.Start, track.End))
	}
	want := []string{"vmm main 0-4000", "vmm vcpu thread 3 500-4000", "vmm child process 2 100-400"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tracks (-want +got):\n%s", diff)
	}
}

// TestRecordingDeterministic reads one recording many times: notes (probes
// not attached, from a map in the header) and the placement of host work
// (from the threads) must come out the same every time.
func TestRecordingDeterministic(t *testing.T) {
	b := exampleRecording(t, "minivmm-2vcpu.trace.gz")
	lines := bytes.SplitAfterN(b, []byte("\n"), 2)
	var h tracefile.Header
	if err := json.Unmarshal(lines[0], &h); err != nil {
		t.Fatal(err)
	}
	h.Missing = map[string]string{}
	for _, tp := range []string{"kvm:kvm_exit", "kvm:kvm_entry", "kvm:kvm_mmio", "kvm:kvm_page_fault", "sched:sched_wakeup", "x:y"} {
		h.Missing[tp] = "not in this kernel"
	}
	head, _ := json.Marshal(h)
	in := append(append(head, '\n'), lines[1]...)
	var first string
	for i := range 20 {
		tr, err := Read(bytes.NewReader(in), ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := dump(tr)
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("read %d differs from the first:\n%s", i, cmp.Diff(first, got))
		}
	}
}

// dump prints a trace's notes and span trees, with their order.
func dump(tr *trace.Trace) string {
	var b strings.Builder
	for _, n := range tr.Notes {
		fmt.Fprintln(&b, n)
	}
	for _, track := range tr.Tracks {
		fmt.Fprintf(&b, "track %s cpu %d\n", track.Name, track.CPU)
		track.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			fmt.Fprintf(&b, "%*s%s %d %d %v\n", len(path), "", s.Name, s.Start, s.End, s.Counts)
			return true
		})
	}
	return b.String()
}

// TestRecordingHostOnce checks that host work placed under the guest span
// it interrupted is not also kept on the vCPU thread: each exit is in the
// profile once, so totals add up to the tracks' time.
func TestRecordingHostOnce(t *testing.T) {
	tr, err := Read(bytes.NewReader(exampleRecording(t, "minivmm-2vcpu.trace.gz")), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		name       string
		start, end int64
	}
	seen := map[key]string{}
	exits := 0
	var self, tracks int64
	for _, track := range tr.Tracks {
		tracks += track.Duration()
		track.Walk(func(path []*trace.Span) bool {
			s := path[len(path)-1]
			self += s.Self()
			if s.Kind != trace.KindHost {
				return true
			}
			if strings.HasPrefix(s.Name, "[host] userspace exit") {
				exits++
			}
			k := key{s.Name, s.Start, s.End}
			if other, ok := seen[k]; ok {
				t.Fatalf("%s at %d is on track %q and on %q", s.Name, s.Start, other, track.Name)
			}
			seen[k] = track.Name
			return true
		})
	}
	// The VMM handled 288 port I/O exits; the last of each vCPU did not
	// end in another KVM_RUN.
	if exits < 280 || exits > 288 {
		t.Errorf("%d userspace exit spans, want one per exit (288 port I/O)", exits)
	}
	if self != tracks {
		t.Errorf("self times add up to %d ns, the tracks to %d", self, tracks)
	}
}

// TestRecordingCPUs checks that a 2-vCPU recording knows each vCPU
// thread's guest CPU and each guest task's, so pprof can label them.
func TestRecordingCPUs(t *testing.T) {
	tr, err := Read(bytes.NewReader(exampleRecording(t, "minivmm-2vcpu.trace.gz")), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cpus := map[string]int{}
	for _, track := range tr.Tracks {
		if track.CPU >= 0 {
			cpus[track.Source+" "+strconv.Itoa(track.CPU)]++
		}
	}
	if diff := cmp.Diff(map[string]int{"vmm 0": 1, "vmm 1": 1, "guest 0": 1, "guest 1": 1}, cpus); diff != "" {
		t.Errorf("tracks by source and CPU (-want +got):\n%s", diff)
	}
}

// TestRecordingHeaderOnly reads a trace file with a header and nothing
// else: an error that says so, not an empty profile.
func TestRecordingHeaderOnly(t *testing.T) {
	var b bytes.Buffer
	if _, err := tracefile.NewWriter(&b, tracefile.Header{PID: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := Read(&b, ReadOptions{})
	if !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), "no event") {
		t.Errorf("header only: %v, want ErrNoData saying there is no event", err)
	}
}

// TestRecordingLostEvents checks that a lost event spoils nothing after
// it: a KVM_RUN whose exit event is missing ends where the next ioctl
// starts, an exit whose kvm_entry is missing ends at the next exit; both
// are reported. It also reads a preemption as the kernel reports it
// (TASK_REPORT_MAX, 0x100), and compares what fired with what is in the
// file.
func TestRecordingLostEvents(t *testing.T) {
	const pid = 7
	run := map[string]int64{"cmd": 0xae80}
	exit := map[string]int64{"isa": 1, "exit_reason": 30}
	tr := readEvents(t, tracefile.Header{PID: pid, Attached: []string{"syscalls:sys_enter_ioctl", "kvm:kvm_exit"}}, []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		{Time: 2000, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: run},
		// its sys_exit_ioctl is lost
		{Time: 3000, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: run},
		{Time: 3100, Kind: "kvm:kvm_exit", TGID: pid, TID: pid, Fields: exit},
		// its kvm_entry is lost
		{Time: 3300, Kind: "kvm:kvm_exit", TGID: pid, TID: pid, Fields: exit},
		{Time: 3400, Kind: "kvm:kvm_entry", TGID: pid, TID: pid},
		{Time: 4000, Kind: "syscalls:sys_exit_ioctl", TGID: pid, TID: pid},
		{Time: 5000, Kind: "sched:sched_switch", TGID: pid, TID: pid, Fields: map[string]int64{"prev_pid": pid, "prev_state": 0x100, "next_pid": 0}},
		{Time: 6000, Kind: "sched:sched_switch", Fields: map[string]int64{"prev_pid": 0, "next_pid": pid}},
		{Time: 9000, Kind: "end", End: &tracefile.End{Reason: "test", Fired: map[string]uint64{"syscalls:sys_enter_ioctl": 3, "kvm:kvm_exit": 2}}},
	})
	var got []string
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; len(path) > 1 {
			got = append(got, fmt.Sprintf("%d %s %d-%d", len(path)-1, s.Name, s.Start, s.End))
		}
		return true
	})
	want := []string{
		"1 vmm set-up (exec to first KVM_RUN) 0-1000",
		"1 KVM_RUN 1000-2000",
		"1 KVM_RUN 2000-3000",
		"2 [host] exit io 2100-2300",
		"2 [host] exit io 2300-2400",
		"1 [off-cpu] preempted 4000-5000",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]trace.SkipReason{{Reason: skipLostEnd, Count: 2, Lines: []int{4, 6}}}, tr.Skipped.Reasons); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "fewer events in the file than fired") || !strings.Contains(notes, "syscalls:sys_enter_ioctl 2 of 3") {
		t.Errorf("the notes do not say that events are missing from the file:\n%s", notes)
	}
}

// TestRecordingTSCScaling places a guest whose TSC KVM scales (the VMM set
// 1 GHz with KVM_SET_TSC_KHZ on a 2 GHz host): guest TSC = host TSC × 0.5
// + offset. Read as guest TSC = host TSC + offset, the offset would not
// fit the recording and the guest would only be bounded by the console.
func TestRecordingTSCScaling(t *testing.T) {
	const pid, exec = 1, 1_000_000
	// Host TSC = 2 × monotonic ns. The guest's first record (TSC 1000)
	// was taken at monotonic 1,500,000: host TSC 3,000,000.
	const off = 1000 - 3_000_000/2
	events := []tracefile.Event{
		{Time: exec, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		{Time: exec + 100, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: map[string]int64{"cmd": 0xaea2, "arg": 1_000_000}},
		{Time: exec + 200, Kind: "syscalls:sys_exit_ioctl", TGID: pid, TID: pid},
		{Time: exec + 300, Kind: "kvm:kvm_write_tsc_offset", TGID: pid, TID: pid, Fields: map[string]int64{"vcpu_id": 0, "next_tsc_offset": off}},
		{Time: 2_000_000, Kind: "serial", Data: strings.Join(smallFlush(), "")},
	}
	clock := []tracefile.ClockPair{{TSC: 2 * exec, Mono: exec}, {TSC: 2 * 1_000_000_000, Mono: 1_000_000_000}}
	tr := readEvents(t, tracefile.Header{PID: pid, Clock: clock}, events)
	guest := guestTrack(t, tr)
	if want := int64(1_500_000 - exec); guest.Start != want {
		t.Errorf("guest starts at %d ns, want %d\n%s", guest.Start, want, strings.Join(tr.Notes, "\n"))
	}
	if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "scaled to 1000000 kHz") {
		t.Errorf("the clock note does not state the scaling:\n%s", notes)
	}
}

// guestTrack is a recording's first guest track.
func guestTrack(t *testing.T, tr *trace.Trace) *trace.Track {
	t.Helper()
	for i := range tr.Tracks {
		if tr.Tracks[i].Source == "guest" {
			return &tr.Tracks[i]
		}
	}
	t.Fatalf("no guest track: %q", tr.Notes)
	return nil
}

// TestRecordingLossesLocated: the per-CPU event numbers place each loss
// between the two events around it; a number that comes back late (a
// probe nested in another on the same CPU) fills its gap.
func TestRecordingLossesLocated(t *testing.T) {
	const pid = 7
	ev := func(at int64, cpu uint16, seq uint32) tracefile.Event {
		return tracefile.Event{Time: at, Kind: "sched:sched_switch", TGID: pid, TID: pid, CPU: cpu, Seq: seq, Fields: map[string]int64{"prev_pid": 0, "next_pid": pid}}
	}
	tr := readEvents(t, tracefile.Header{PID: pid, Attached: []string{"sched:sched_switch"}}, []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid, Seq: 1},
		ev(2000, 0, 2),
		ev(3000, 0, 5), // 3 and 4 lost
		ev(3500, 1, 1),
		ev(4000, 1, 3), // 2 comes later
		ev(4100, 1, 2),
		ev(9000, 1, 9), // 4 to 8 lost
		{Time: 9500, Kind: "end", End: &tracefile.End{Reason: "test", Lost: 7}},
	})
	notes := strings.Join(tr.Notes, "\n")
	want := "partial: 7 events located as lost (gaps in the per-CPU event numbers; the probes counted 7): 5 on CPU 1 between 3.0 µs and 8.0 µs, 2 on CPU 0 between 1.0 µs and 2.0 µs"
	if !strings.Contains(notes, want) {
		t.Errorf("notes lack\n%s\n:\n%s", want, notes)
	}
	if strings.Contains(notes, "no probe event lost") {
		t.Error("notes say nothing was lost")
	}
}

// TestRecordingEmulatedCounts: instructions KVM emulated, counted by the
// probes and written in the end line, are noted as if they came as events,
// and are not taken for events missing from the file.
func TestRecordingEmulatedCounts(t *testing.T) {
	const pid = 7
	tr := readEvents(t, tracefile.Header{PID: pid, Attached: []string{"kvm:kvm_emulate_insn"}}, []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		{Time: 2000, Kind: "kvm:kvm_emulate_insn", TGID: pid, TID: pid, Fields: map[string]int64{"rip": 0x2000}},
		{Time: 9000, Kind: "end", End: &tracefile.End{Reason: "test", Fired: map[string]uint64{"kvm:kvm_emulate_insn": 8}, Emulated: map[string]uint64{"0x1000": 5, "0x2000": 2}}},
	})
	notes := strings.Join(tr.Notes, "\n")
	if want := "8 instructions emulated by KVM (kvm_emulate_insn), most at guest RIP 0x1000 5, 0x2000 3"; !strings.Contains(notes, want) {
		t.Errorf("notes lack %q:\n%s", want, notes)
	}
	if strings.Contains(notes, "fewer events in the file") {
		t.Errorf("counted instructions taken for missing events:\n%s", notes)
	}
}

// TestRecordingFaultIn: under EPT/NPT, KVM faults guest memory in inside
// an EPT-violation (VMX) or NPF (SVM) exit, through get_user_pages: no
// page fault event, but the pages the host allocates between the exit and
// the next entry. Such an exit is named for what it is, with the largest
// page it allocated; one that allocated nothing keeps the exit's name.
func TestRecordingFaultIn(t *testing.T) {
	const pid = 7
	run := map[string]int64{"cmd": 0xae80}
	alloc := func(at int64, order int64) tracefile.Event {
		return tracefile.Event{Time: at, Kind: "kmem:mm_page_alloc", TGID: pid, TID: pid, Fields: map[string]int64{"order": order}}
	}
	tr := readEvents(t, tracefile.Header{PID: pid}, []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		{Time: 2000, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: run},
		{Time: 2100, Kind: "kvm:kvm_exit", TGID: pid, TID: pid, Fields: map[string]int64{"isa": 1, "exit_reason": 48}},
		alloc(2200, 0), // a page-table page
		alloc(2300, 9),
		{Time: 2900, Kind: "kvm:kvm_entry", TGID: pid, TID: pid},
		{Time: 3000, Kind: "kvm:kvm_exit", TGID: pid, TID: pid, Fields: map[string]int64{"isa": 1, "exit_reason": 48}},
		{Time: 3100, Kind: "kvm:kvm_entry", TGID: pid, TID: pid},
		{Time: 3200, Kind: "kvm:kvm_exit", TGID: pid, TID: pid, Fields: map[string]int64{"isa": 2, "exit_reason": 0x400}},
		alloc(3300, 0),
		{Time: 3400, Kind: "kvm:kvm_entry", TGID: pid, TID: pid},
		{Time: 4000, Kind: "syscalls:sys_exit_ioctl", TGID: pid, TID: pid},
		{Time: 9000, Kind: "end", End: &tracefile.End{Reason: "test"}},
	})
	var got []string
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; len(path) > 2 {
			got = append(got, fmt.Sprintf("%s %d-%d %v", s.Name, s.Start, s.End, s.Counts))
		}
		return true
	})
	want := []string{
		"[host] KVM fault-in guest memory (2 MiB page) 1100-1900 map[host pages allocated (2 MiB):1 host pages allocated (4 KiB):1]",
		"[host] exit ept violation 2000-2100 map[]",
		"[host] KVM fault-in guest memory (4 KiB page) 2200-2400 map[host pages allocated (4 KiB):1]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exits (-want +got):\n%s", diff)
	}
}

// TestRecordingMemorySlots: a slot counts from the KVM_SET_USER_MEMORY_REGION
// that made it succeeding to the one that deletes it (size 0); a failed
// ioctl changes nothing; KVM_SET_USER_MEMORY_REGION2 counts too; slots are
// per process, so another VMM's guest memory at the same address is not
// this one's.
func TestRecordingMemorySlots(t *testing.T) {
	region := func(slot uint32, size, uaddr uint64) []byte {
		b := make([]byte, 32)
		binary.LittleEndian.PutUint32(b[0:], slot)
		binary.LittleEndian.PutUint64(b[16:], size)
		binary.LittleEndian.PutUint64(b[24:], uaddr)
		return b
	}
	const a, b = 7, 8
	set := func(at int64, pid uint32, cmd int64, mem []byte, ret int64) []tracefile.Event {
		return []tracefile.Event{
			{Time: at, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: map[string]int64{"cmd": cmd, "fd": 5}, Mem: mem},
			{Time: at + 10, Kind: "syscalls:sys_exit_ioctl", TGID: pid, TID: pid, Fields: map[string]int64{"ret": ret}},
		}
	}
	fault := func(at int64, pid uint32, addr int64) []tracefile.Event {
		return []tracefile.Event{
			{Time: at, Kind: "exceptions:page_fault_user", TGID: pid, TID: pid, Fields: map[string]int64{"address": addr}},
			{Time: at + 10, Kind: "software:minor-faults", TGID: pid, TID: pid, Fields: map[string]int64{"address": addr}},
		}
	}
	events := []tracefile.Event{
		{Time: 1000, Kind: "sched:sched_process_exec", TGID: a, TID: a},
		{Time: 1001, Kind: "sched:sched_process_fork", TGID: a, TID: a, Fields: map[string]int64{"child_pid": b}},
	}
	for _, part := range [][]tracefile.Event{
		set(1100, a, 0x4020ae46, region(0, 0x1000, 0x10000), 0),   // slot 0 at 0x10000
		set(1200, a, 0x40a0ae49, region(1, 0x1000, 0x20000), 0),   // slot 1, REGION2
		set(1300, a, 0x4020ae46, region(2, 0x1000, 0x30000), -22), // failed
		set(1400, b, 0x4020ae46, region(0, 0x1000, 0x40000), 0),   // the other VMM
		fault(2000, a, 0x10010),                                   // guest
		fault(2100, a, 0x20010),                                   // guest (REGION2)
		fault(2200, a, 0x30010),                                   // VMM: the ioctl failed
		fault(2300, a, 0x40010),                                   // VMM: b's slot
		set(2400, a, 0x4020ae46, region(0, 0, 0x10000), 0),        // slot 0 deleted
		fault(2500, a, 0x10020),                                   // VMM now
	} {
		events = append(events, part...)
	}
	events = append(events, tracefile.Event{Time: 9000, Kind: "end", End: &tracefile.End{Reason: "test"}})
	tr := readEvents(t, tracefile.Header{PID: a}, events)
	var got []string
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; strings.HasPrefix(s.Name, "[host] page fault") {
				got = append(got, fmt.Sprintf("%d %s", s.Start+1000, s.Name))
			}
			return true
		})
	}
	want := []string{
		"2000 [host] page fault guest memory",
		"2100 [host] page fault guest memory",
		"2200 [host] page fault VMM memory",
		"2300 [host] page fault VMM memory",
		"2500 [host] page fault VMM memory",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("faults (-want +got):\n%s", diff)
	}
}

// TestRecordingDebugfsClock places the guest with what KVM's debugfs said
// of its boot vCPU: the offset in effect when the guest's first record was
// taken (KVM moved it later, catching the TSC up) and the scaling ratio,
// over a kvm_write_tsc_offset that a PVM host reported but never applied.
func TestRecordingDebugfsClock(t *testing.T) {
	const pid, exec = 1, 1_000_000
	// Host TSC = 2 × monotonic ns; the guest TSC runs at half the host's
	// (ratio 0.5, 48 fraction bits). The guest's first record (TSC 1000)
	// was taken at monotonic 1,500,000: host TSC 3,000,000.
	const off = 1000 - 3_000_000/2
	vcpu := func(at, offset int64) tracefile.Event {
		return tracefile.Event{Time: at, Kind: "kvm-debugfs", TGID: pid, Fields: map[string]int64{
			"vm_fd": 4, "vcpu": 0, "tsc_offset": offset, "tsc_scaling_ratio": 1 << 47, "tsc_scaling_ratio_frac_bits": 48}}
	}
	events := []tracefile.Event{
		{Time: exec, Kind: "sched:sched_process_exec", TGID: pid, TID: pid},
		{Time: exec + 300, Kind: "kvm:kvm_write_tsc_offset", TGID: pid, TID: pid, Fields: map[string]int64{"vcpu_id": 0, "next_tsc_offset": -123456789}},
		{Time: exec + 400, Kind: "syscalls:sys_enter_ioctl", TGID: pid, TID: pid, Fields: map[string]int64{"cmd": 0xae80}},
		vcpu(exec+500, off),
		vcpu(1_800_000, off+5000), // caught up after the first record
		{Time: 2_000_000, Kind: "serial", Data: strings.Join(smallFlush(), "")},
		{Time: 2_000_100, Kind: "kvm-debugfs", TGID: pid, Fields: map[string]int64{"vm_fd": 4, "vcpu": -1, "pages_4k": 10, "pages_2m": 3, "pages_1g": 0, "exits": 99}},
	}
	clock := []tracefile.ClockPair{{TSC: 2 * exec, Mono: exec}, {TSC: 2 * 1_000_000_000, Mono: 1_000_000_000}}
	tr := readEvents(t, tracefile.Header{PID: pid, Clock: clock}, events)
	guest := guestTrack(t, tr)
	notes := strings.Join(tr.Notes, "\n")
	if want := int64(1_500_000 - exec); guest.Start != want {
		t.Errorf("guest starts at %d ns, want %d\n%s", guest.Start, want, notes)
	}
	for _, want := range []string{
		"clock: exact, from KVM's debugfs tsc-offset of vCPU 0 and tsc-scaling-ratio (0.500000)",
		"KVM's debugfs of VM 1-4, read while it ran (values as of 1.000 ms): guest memory mapped by KVM in 10 pages of 4 KiB, 3 of 2 MiB, 0 of 1 GiB, exits 99",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}
