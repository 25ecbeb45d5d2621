package trace

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func exampleRecording(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "examples", "record", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
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
		if c.Kind == KindIoctl {
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
	f.Add(bytes.Join(lines[:min(40, len(lines))], nil))
	f.Add(append(append([]byte{}, lines[0]...), []byte(`{"t":1,"k":"syscalls:sys_exit_ioctl","tid":5}`+"\n")...))
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, err := ReadRecording(bytes.NewReader(in), ReadOptions{})
		if err != nil {
			return
		}
		checkTrace(t, tr)
	})
}
