package ebpf

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/boottrace/boottrace/trace/tracefile"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkGuestSample measures what a guest stack sample costs the vCPU
// thread: the sampler's run time per hook, from the kernel's BPF
// statistics (BPF_STATS_RUN_TIME), while the minivmm's -stacks guest runs
// on /dev/kvm, one run of it per op. "walk" samples at every emulated
// instruction: each run reads the vCPU's registers and follows four
// frames (per frame, two reads, each through four levels of guest page
// tables and KVM's memory slots); "1kHz", the default rate, walks once a
// millisecond and otherwise only reads the clock.
func BenchmarkGuestSample(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip(ErrPrivileges)
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		b.Skip("no /dev/kvm")
	}
	vmm := filepath.Join(b.TempDir(), "minivmm")
	if out, err := exec.Command("go", "build", "-o", vmm, "./testdata/minivmm").CombinedOutput(); err != nil {
		b.Fatalf("build minivmm: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name   string
		period time.Duration
	}{{"walk", 1}, {"1kHz", time.Millisecond}} {
		b.Run(c.name, func(b *testing.B) {
			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				b.Skipf("BPF statistics: %v", err)
			}
			defer stats.Close()
			p, err := Load(LoadOptions{SamplePeriod: c.period})
			if errors.Is(err, ErrNoSampler) {
				b.Skip(err)
			}
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			samples := 0
			done := drain(p, func(ev Event) {
				if ev.Kind == tracefile.KindGuestSample {
					samples++
				}
			})
			for b.Loop() {
				cmd := exec.Command(vmm, "-stacks", "5", "-delay", "20ms")
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				if err := p.Follow(uint32(cmd.Process.Pid)); err != nil {
					b.Fatal(err)
				}
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			runs, runtime, err := p.samplerStats()
			if err != nil {
				b.Fatal(err)
			}
			p.Close()
			<-done
			if runs == 0 || samples == 0 {
				b.Fatalf("the sampler ran %d times and sent %d samples", runs, samples)
			}
			b.ReportMetric(float64(runtime.Nanoseconds())/float64(runs), "ns/hook")
			b.ReportMetric(float64(samples)/float64(b.N), "samples/op")
		})
	}
}
