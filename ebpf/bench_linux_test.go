package ebpf

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boottrace/boottrace/trace/tracefile"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

const kvmGetAPIVersion = 0xae00

// ioctlLoop makes n KVM_GET_API_VERSION ioctls: the cheapest real ioctl,
// so the probes' share of its cost is as large as it gets.
func ioctlLoop(b *testing.B, fd uintptr) {
	for b.Loop() {
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, kvmGetAPIVersion, 0); errno != 0 {
			b.Fatal(errno)
		}
	}
}

// faultLoop takes one page fault per iteration: it writes to a page not
// yet mapped in an anonymous region, dropping the region's pages when all
// were touched.
func faultLoop(b *testing.B) {
	const size = 64 << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(mem)
	page := os.Getpagesize()
	off := 0
	for b.Loop() {
		if off == size {
			b.StopTimer()
			if err := unix.Madvise(mem, unix.MADV_DONTNEED); err != nil {
				b.Fatal(err)
			}
			off = 0
			b.StartTimer()
		}
		mem[off] = 1
		off += page
	}
}

// BenchmarkIoctl measures what the probes cost the VMM: the same ioctl
// loop without probes and with them following the process (two events per
// ioctl, read and written to a trace file as boottrace record does).
// Compare the ns/op of the two.
func BenchmarkIoctl(b *testing.B) {
	kvm, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		b.Skip("no /dev/kvm")
	}
	defer kvm.Close()
	b.Run("no-probes", func(b *testing.B) { ioctlLoop(b, kvm.Fd()) })
	b.Run("probes", func(b *testing.B) { withProbes(b, true, func(b *testing.B) { ioctlLoop(b, kvm.Fd()) }) })
	b.Run("probes-unrelated", func(b *testing.B) { withProbes(b, false, func(b *testing.B) { ioctlLoop(b, kvm.Fd()) }) })
	// One ioctl every 2 µs: 1,000,000 events a second, sustained, to be
	// recorded with none lost (the unpaced loop above floods the ring
	// faster than that: its events/s is the recorder's ceiling).
	b.Run("probes-1M-events-per-second", func(b *testing.B) {
		withProbes(b, true, func(b *testing.B) { pacedIoctlLoop(b, kvm.Fd(), 2*time.Microsecond) })
	})
}

// pacedIoctlLoop is ioctlLoop making one ioctl per period, spinning
// between them (sleeping is far coarser than microseconds).
func pacedIoctlLoop(b *testing.B, fd uintptr, period time.Duration) {
	start := time.Now()
	i := 0
	for b.Loop() {
		for time.Since(start) < time.Duration(i)*period {
		}
		i++
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, kvmGetAPIVersion, 0); errno != 0 {
			b.Fatal(errno)
		}
	}
}

// BenchmarkPageFault measures what the probes cost a page fault of the
// VMM: the exception tracepoint at its start and the minor-faults event at
// its end, two events per fault.
func BenchmarkPageFault(b *testing.B) {
	b.Run("no-probes", faultLoop)
	b.Run("probes", func(b *testing.B) { withProbes(b, true, faultLoop) })
	b.Run("probes-unrelated", func(b *testing.B) { withProbes(b, false, faultLoop) })
}

// withProbes runs loop with the probes loaded, its events read and written
// to a trace file as boottrace record does. They follow this process, or
// (follow false) another one: the cost to every other process on the host
// while a VMM is recorded (the tracepoints fire for every task and the
// programs filter).
func withProbes(b *testing.B, follow bool, loop func(b *testing.B)) {
	p, err := Load(LoadOptions{})
	if errors.Is(err, ErrPrivileges) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	pid := os.Getpid()
	if !follow {
		pid = os.Getppid() // a process that makes no ioctl and takes no fault meanwhile
	}
	if err := p.Follow(uint32(pid)); err != nil {
		b.Fatal(err)
	}
	// A file, as boottrace record writes (a growing buffer in memory
	// would cost more than the encoding).
	file, err := os.Create(filepath.Join(b.TempDir(), "bench.trace"))
	if err != nil {
		b.Fatal(err)
	}
	defer file.Close()
	w, err := tracefile.NewWriter(file, tracefile.Header{})
	if err != nil {
		b.Fatal(err)
	}
	var events atomic.Int64
	done := drain(p, func(ev Event) {
		events.Add(1)
		pr := ev.Probe()
		w.WriteProbe(&pr)
	})
	loop(b)
	b.StopTimer()
	lost, _, err := p.Counters()
	if err != nil {
		b.Fatal(err)
	}
	p.Close()
	<-done
	w.Flush()
	size, _ := file.Seek(0, io.SeekCurrent)
	n := events.Load()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(lost), "lost")
	if n > 0 {
		b.ReportMetric(float64(size)/float64(n), "bytes/event")
	}
}

// drain reads events into each until the probes are closed, and the
// returned channel is closed.
func drain(p *Probes, each func(Event)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := p.Read()
			if errors.Is(err, ringbuf.ErrClosed) {
				return
			}
			if err == nil {
				each(ev)
			}
		}
	}()
	return done
}
