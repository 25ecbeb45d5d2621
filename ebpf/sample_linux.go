package ebpf

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/boottrace/boottrace/trace/tracefile"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// ErrNoSampler is returned when the guest sampler cannot run on this kernel.
var ErrNoSampler = errors.New("the guest sampler attached to no hook: it needs the kernel's BTF with KVM's types (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF=y), KVM built in or its module loaded (its types in /sys/kernel/btf/kvm), KVM's memory slots as Linux 5.17 and later keep them (a gfn tree), and kvm_emulate_insn or kvm_exit")

// sampleHooks are where the guest sampler (bpf/sample.c) runs, by program:
// kvm_emulate_insn where KVM emulates the guest (every instruction on a
// host without hardware virtualization), kvm_exit on VMX and SVM hosts.
var sampleHooks = []struct{ prog, tracepoint string }{
	{"sample_emulate", "kvm_emulate_insn"},
	{"sample_exit", "kvm_exit"},
}

// loadSampler loads the guest sampler beside the probes, sharing their ring
// buffer, followed processes and counters, and attaches it to every hook
// the kernel has. It needs the kernel's BTF with KVM's types in it.
func (p *Probes) loadSampler(period uint64) error {
	spec, err := loadSample()
	if err != nil {
		return fmt.Errorf("load guest sampler spec: %w", err)
	}
	if err := spec.Variables["sample_period_ns"].Set(period); err != nil {
		return fmt.Errorf("set sample_period_ns: %w", err)
	}
	spec.Maps["events"].MaxEntries = p.objs.Events.MaxEntries()
	// One rate limit for both hooks: a VMX host can fire both.
	last, err := ebpf.NewMap(spec.Maps["last_sample"])
	if err != nil {
		return fmt.Errorf("guest sampler: %w", err)
	}
	p.links = append(p.links, last)
	repl := map[string]*ebpf.Map{"events": p.objs.Events, "tgids": p.objs.Tgids, "counters": p.objs.Counters, "last_sample": last}
	var failed []error
	exitHook := true
	for _, h := range sampleHooks {
		one := spec.Copy()
		for name := range one.Programs {
			if name != h.prog {
				delete(one.Programs, name)
			}
		}
		coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{MapReplacements: repl})
		var l link.Link
		if err == nil {
			if l, err = link.AttachTracing(link.TracingOptions{Program: coll.Programs[h.prog]}); err != nil {
				coll.Close()
			}
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("kvm:%s: %w", h.tracepoint, err))
			p.Missing[tracefile.KindGuestSample.String()+" on kvm:"+h.tracepoint] = err.Error()
			exitHook = exitHook && h.tracepoint != "kvm_exit"
			continue
		}
		p.links = append(p.links, l, closer(coll.Close))
		p.samplers = append(p.samplers, coll.Programs[h.prog])
	}
	if len(failed) == len(sampleHooks) {
		return fmt.Errorf("%w: %w", ErrNoSampler, errors.Join(failed...))
	}
	p.Attached = append(p.Attached, tracefile.KindGuestSample.String())
	if exitHook {
		// A vCPU running its guest exits at the host's timer interrupts
		// only: a timer of the sampling period on every CPU makes it exit,
		// and so be sampled, at that rate (on paper: kvm_exit does not
		// fire on a host without VMX or SVM).
		timer := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Sample: period}
		timers, err := perCPUEvents("cpu-clock", timer, nil)
		if err != nil {
			p.Missing["software:cpu-clock (the guest sampler's timer)"] = err.Error()
		}
		p.links = append(p.links, timers...)
	}
	p.formats[tracefile.KindGuestSample] = tracefile.GuestSampleFormat
	return nil
}

// closer makes a Close function an io.Closer.
type closer func()

func (c closer) Close() error { c(); return nil }

// guestSampleSize is struct guest_sample's size in bpf/sample.c.
const guestSampleSize = int(unsafe.Sizeof(sampleGuestSample{}))

// decodeGuestSample reads struct guest_sample: Raw is RIP, the status and
// the return addresses found, as tracefile.GuestSampleFormat lays them out.
func decodeGuestSample(b []byte, ev *Event) error {
	if len(b) < guestSampleSize {
		return fmt.Errorf("short guest sample: %d bytes, want %d", len(b), guestSampleSize)
	}
	s := (*sampleGuestSample)(unsafe.Pointer(&b[0]))
	off := int(unsafe.Offsetof(s.Rip))
	n := int(s.Len)
	if n < 16 || off+n > guestSampleSize {
		return fmt.Errorf("guest sample of %d bytes", n)
	}
	ev.Raw = b[off : off+n]
	ev.Format = tracefile.GuestSampleFormat
	return nil
}

// samplerStats adds up the sampler programs' runs and run time, which the
// kernel counts while BPF statistics are on (ebpf.EnableStats).
func (p *Probes) samplerStats() (runs uint64, runtime time.Duration, err error) {
	for _, prog := range p.samplers {
		st, err := prog.Stats()
		if err != nil {
			return 0, 0, fmt.Errorf("sampler statistics: %w", err)
		}
		runs += st.RunCount
		runtime += st.Runtime
	}
	return runs, runtime, nil
}
