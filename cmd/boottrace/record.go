package main

import (
	"fmt"
	"maps"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/boottrace/boottrace/ebpf/record"
	"github.com/boottrace/boottrace/symbolize"
)

func newRecordCmd() *cobra.Command {
	var out, until string
	var in inputFlags
	var pid, bufferKiB, sampleHz int
	var sampleGuest bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "record [-o FILE] [--vmlinux F | --system-map F] [--until REGEX] [--timeout D] -- VMM ARGS...",
		Short: "Run a VMM under host eBPF probes and record one timeline with its guest",
		Long: `Start a VMM (Firecracker, cloud-hypervisor, QEMU: any command) with eBPF probes
attached before its first instruction, tee its standard output (the guest's
serial console) to the terminal and into the trace file, and record:

  syscalls:sys_enter/exit_ioctl   every ioctl of the VMM's threads with its duration,
                                  KVM ioctls by name, memory slots of
                                  KVM_SET_USER_MEMORY_REGION
  kvm:kvm_exit, kvm:kvm_entry     VM exits and their reasons (VMX/SVM hosts)
  kvm:kvm_userspace_exit, kvm_pio, kvm_mmio, kvm_emulate_insn
                                  exits to the VMM, port and MMIO accesses
  kvm:kvm_write_tsc_offset        the guest TSC offset (exact clock alignment)
  exceptions:page_fault_user/kernel, perf software events minor-faults
  and major-faults (their start and end)
                                  page faults of the VMM's threads with their
                                  duration, on guest or VMM memory
  kvm:kvm_page_fault              KVM's faults on guest memory
  sched:sched_switch, sched_process_fork/exec/exit
                                  on-CPU and off-CPU time, threads, exec

Probes the running kernel lacks are listed and skipped; events lost to
a full buffer are counted and reported in every output.

A guest kernel with the BOOT_TRACE patch is read from its memory while it
boots (the VMM's mapping of guest RAM, found by the descriptor the kernel
keeps): no console needed, the guest may boot with its serial port off
(8250.nr_uarts=0). A boottrace=console flush on the console is read too.

The recording stops when the VMM exits, when the guest's boot has ended
(the done flag in guest memory, or the end of a console flush), when a
console line matches --until, at --timeout (the VMM is then stopped), or
at Ctrl-C. The trace file is written as events arrive:
an interrupted recording keeps everything up to that moment, and every
other command reads it ("boottrace flame --chart boot.trace"). The guest's
symbols given with --vmlinux or --system-map are checked and named in the
file, so those commands use them without the flag.

With --sample-guest, the guest's call stack is sampled from the host, at
--sample-rate per vCPU: when KVM emulates a guest instruction (every one,
on a host without hardware virtualization) or takes a VM exit (VMX, SVM;
untested here), a BPF program reads the guest's RIP, RBP and CR3 from
KVM's vCPU state and follows the guest's frame pointers through its page
tables and KVM's memory slots. A guest kernel built with
CONFIG_FRAME_POINTER=y (and CONFIG_UNWINDER_FRAME_POINTER=y) gives whole
stacks; without frame pointers a sample is its RIP and whatever the
frame-pointer register happens to point to. Samples are symbolized with
--vmlinux or --system-map. It needs the kernel's BTF with KVM's types
(/sys/kernel/btf/vmlinux) and Linux 5.17 or later on the host. A walk
costs the vCPU a few microseconds per sample (measured here: 3-4 us).
The samples, and how many walks ended early and why, are in every
output; on VMX with EPT, KVM may not have loaded the guest's CR3 at an
exit, and those samples are the guest's RIP alone.

KVM's debugfs directory of each VM is read while it runs: the TSC offset
and scaling ratio KVM applies (an exact guest clock where the tracepoint's
offset is not the one in effect), and its counters, such as the page sizes
guest memory is mapped with.

Needs root (or CAP_BPF, CAP_PERFMON and CAP_DAC_READ_SEARCH) and tracefs;
it mounts tracefs and debugfs if needed. It changes no global tracing switch.`,
		Example: `  sudo boottrace record -o boot.trace -- qemu-system-x86_64 -M microvm -kernel bzImage ... -serial stdio
  sudo boottrace record --until 'login:' --timeout 30s -- firecracker --config-file vm.json
  sudo boottrace record --system-map System.map -o boot.trace -- ./boot.sh bzImage initrd -
  sudo boottrace record --sample-guest --sample-rate 1000 --system-map System.map -- firecracker ...
  boottrace flame --chart -o boot.svg boot.trace`,
		Args: func(cmd *cobra.Command, args []string) error {
			if pid == 0 && len(args) == 0 {
				return fmt.Errorf("give the VMM command after --, or --pid PID")
			}
			if pid != 0 && len(args) > 0 {
				return fmt.Errorf("give either a VMM command or --pid, not both")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var re *regexp.Regexp
			if until != "" {
				var err error
				if re, err = regexp.Compile(until); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			// The guest's symbols are checked now and their paths kept in
			// the trace file, for the commands that read it.
			_, closeSyms, err := symbolize.Open(in.vmlinux, in.systemMap)
			if err != nil {
				return err
			}
			closeSyms()
			vmlinux, systemMap, err := in.absolute()
			if err != nil {
				return err
			}
			opt := record.Options{
				Command: args, PID: pid,
				Console: cmd.OutOrStdout(), Stdin: cmd.InOrStdin(), Stderr: cmd.ErrOrStderr(),
				Until: re, Timeout: timeout, Progress: cmd.ErrOrStderr(),
				Vmlinux: vmlinux, SystemMap: systemMap, RingBytes: bufferKiB << 10,
			}
			if sampleGuest {
				if sampleHz <= 0 || sampleHz > 1_000_000 {
					return fmt.Errorf("--sample-rate %d: give a rate from 1 to 1000000 Hz", sampleHz)
				}
				opt.SamplePeriod = time.Second / time.Duration(sampleHz)
			}
			// Everything that can fail before the recording begins is
			// checked before the trace file is touched.
			if err := record.Check(opt); err != nil {
				return err
			}
			// The file is written in place, not renamed at the end: a
			// recording cut short (boottrace killed) keeps what it has.
			f, err := os.Create(out)
			if err != nil {
				return fmt.Errorf("create trace file: %w", err)
			}
			defer f.Close()
			opt.Trace = f
			ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			res, err := record.Record(ctx, opt)
			if cerr := f.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("write %s: %w", out, cerr)
			}
			if err != nil {
				return err
			}
			e := cmd.ErrOrStderr()
			fmt.Fprintf(e, "boottrace: recorded %d events to %s (%s); lost %d", res.Events, out, res.Reason, res.Lost)
			if res.Errors > 0 {
				fmt.Fprintf(e, "; %d could not be read", res.Errors)
			}
			fmt.Fprintln(e)
			var fired []string
			for _, k := range slices.Sorted(maps.Keys(res.Fired)) {
				fired = append(fired, fmt.Sprintf("%s=%d", k, res.Fired[k]))
			}
			fmt.Fprintf(e, "boottrace: fired: %s\n", strings.Join(fired, " "))
			for _, k := range slices.Sorted(maps.Keys(res.Missing)) {
				fmt.Fprintf(e, "boottrace: not attached: %s (%s)\n", k, res.Missing[k])
			}
			hint := " (add --system-map for guest symbols)"
			if vmlinux != "" || systemMap != "" {
				hint = ""
			}
			fmt.Fprintf(e, "boottrace: see it with: boottrace flame --chart -o boot.svg %s%s\n", out, hint)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "boot.trace", "write the trace to `FILE`")
	in.register(cmd)
	cmd.Flags().StringVar(&until, "until", "", "stop at the first console line matching this regular expression")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "stop (and stop the VMM) after this long, e.g. 30s")
	cmd.Flags().IntVar(&pid, "pid", 0, "attach to a running VMM instead of starting one")
	cmd.Flags().IntVarP(&bufferKiB, "buffer-size", "b", 16<<10, "size the ring buffer the probes' events pass through, in `KiB` (a power of two); a bigger one rides out longer bursts (lost events are counted either way)")
	cmd.Flags().BoolVar(&sampleGuest, "sample-guest", false, "sample the guest's call stacks from the host (frame pointers; needs the kernel's BTF)")
	cmd.Flags().IntVar(&sampleHz, "sample-rate", 1000, "with --sample-guest: samples per second per vCPU, in `HZ`")
	return cmd
}
