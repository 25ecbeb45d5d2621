// Command minivmm is the smallest VMM that boots something on /dev/kvm: it
// makes the real KVM ioctls (create VM, memory region, vCPU, registers,
// run), runs a tiny long-mode guest that reads the TSC and writes records
// to the serial port, copies the guest's serial output to stdout, and at
// the end prints the records as a BOOT_TRACE flush. boottrace's recorder
// tests run it under their probes; its flags give them what a real VMM
// does to the host: guest memory populated on first touch (-touch, -thp),
// a scaled guest TSC (-tsc-khz), thread churn (-churn), floods of exits
// (-records). With -stacks it runs another guest instead: a call tree with
// frame pointers at kernel-like virtual addresses (stacks.S), for the
// guest sampler, and writes its symbols as a System.map (-symbols).
package main

//go:generate ./gen.sh

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	kvmGetAPIVersion       = 0xae00
	kvmCreateVM            = 0xae01
	kvmGetVCPUMmapSize     = 0xae04
	kvmCreateVCPU          = 0xae41
	kvmSetUserMemoryRegion = 0x4020ae46
	kvmRun                 = 0xae80
	kvmGetSregs            = 0x8138ae83
	kvmSetSregs            = 0x4138ae84
	kvmSetRegs             = 0x4090ae82
	kvmGetTSCKHz           = 0xaea3
	kvmSetTSCKHz           = 0xaea2

	exitIO  = 2
	exitHLT = 5

	memSize  = 2 << 20
	codeAddr = 0x8000
	pml4     = 0x1000
	// touchAddr is where the memory -touch adds starts, guest-physical.
	touchAddr = memSize

	// The -stacks guest's code and stack: guest-physical, and where its
	// page tables map them, in the top 2 GiB as a Linux kernel's text.
	stacksCodeAddr = 0x10000
	stacksStack    = 0x20000 // 4 pages
	stacksVA       = 0xffffffff81000000
	stacksStackVA  = stacksVA + 0x10000
)

type segment struct {
	Base                         uint64
	Limit                        uint32
	Selector                     uint16
	Type, Present, DPL, DB, S, L uint8
	G, AVL, Unusable, Padding    uint8
}

type dtable struct {
	Base    uint64
	Limit   uint16
	Padding [3]uint16
}

type sregs struct {
	CS, DS, ES, FS, GS, SS, TR, LDT     segment
	GDT, IDT                            dtable
	CR0, CR2, CR3, CR4, CR8, EFER, APIC uint64
	InterruptBitmap                     [4]uint64
}

type regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFLAGS                            uint64
}

func ioctl(fd uintptr, req uintptr, arg uintptr) (uintptr, error) {
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, req, arg)
	if errno != 0 {
		return r, errno
	}
	return r, nil
}

var (
	nvcpus     *int
	crashAfter *int
	records    *int
	touchMiB   *int
	thp        *bool
	tscKHz     *int
	churn      *int
	noFlush    *bool
	remap      *bool
	stacks     *int
	spin       *int
	symbols    *string
)

// init keeps the set-up on the process's main thread, as a VMM written in
// C does: Go could otherwise move it to another thread, and its ioctls
// would not show as the main thread's set-up.
func init() { runtime.LockOSThread() }

func main() {
	delay := flag.Duration("delay", 0, "wait this long before opening /dev/kvm (to attach a recorder with --pid)")
	nvcpus = flag.Int("vcpus", 1, "number of vCPUs, each running the guest on its own thread")
	crashAfter = flag.Int("crash-after", 0, "die by SIGKILL after this many console lines, as a crashing VMM would (0: never)")
	records = flag.Int("records", 8, "records each vCPU writes (each is 18 port writes, 18 exits to the VMM)")
	touchMiB = flag.Int("touch", 0, "give the guest this many MiB more (a second memory slot), which it writes a byte to in each 4 KiB page before its records")
	thp = flag.Bool("thp", false, "ask for transparent huge pages on that memory (madvise MADV_HUGEPAGE)")
	tscKHz = flag.Int("tsc-khz", 0, "set the vCPUs' TSC frequency (KVM_SET_TSC_KHZ), scaling the guest's TSC (0: the host's)")
	churn = flag.Int("churn", 0, "start this many threads, one after another, each exiting at once, before the VM is made")
	noFlush = flag.Bool("no-flush", false, "print no BOOT_TRACE flush at the end (a second VMM on the same console)")
	remap = flag.Bool("remap", false, "with -touch, once the guest has run: fail to add an overlapping slot, delete the -touch slot, and write both memories again from the VMM (faults on the VMM's own memory now)")
	stacks = flag.Int("stacks", 0, "run the call-tree guest (stacks.S) for this many milliseconds of guest TSC instead of the records guest (its flush: one span from its first record to its last)")
	spin = flag.Int("spin", 2000, "with -stacks: c's spin loop's iterations in a round (b's are twice as many)")
	symbols = flag.String("symbols", "", "with -stacks: write the guest's symbols to this file, as a System.map")
	flag.Parse()
	time.Sleep(*delay)
	churnThreads(*churn)
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "minivmm:", err)
		os.Exit(1)
	}
}

func run() error {
	kvm, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if v, err := ioctl(kvm.Fd(), kvmGetAPIVersion, 0); err != nil || v != 12 {
		return fmt.Errorf("KVM_GET_API_VERSION: %d, %v", v, err)
	}
	vmfd, err := ioctl(kvm.Fd(), kvmCreateVM, 0)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	mem, err := unix.Mmap(-1, 0, memSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	if err := setRegion(vmfd, 0, 0, mem); err != nil {
		return err
	}
	if *touchMiB < 0 || *touchMiB > 1000 {
		return fmt.Errorf("-touch %d: from 0 to 1000 MiB", *touchMiB)
	}
	var touched []byte
	if *touchMiB > 0 {
		if touched, err = addTouchMemory(vmfd, *touchMiB<<20, *thp); err != nil {
			return err
		}
	}
	// Identity-map the first GiB with 2 MiB pages.
	binary.LittleEndian.PutUint64(mem[pml4:], 0x2000|3)
	binary.LittleEndian.PutUint64(mem[0x2000:], 0x3000|3)
	for i := range uint64(512) {
		binary.LittleEndian.PutUint64(mem[0x3000+8*i:], i<<21|0x83)
	}
	copy(mem[codeAddr:], guestCode)
	if *stacks > 0 {
		if err := mapStacksGuest(mem); err != nil {
			return err
		}
	}

	size, err := ioctl(kvm.Fd(), kvmGetVCPUMmapSize, 0)
	if err != nil {
		return fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	type vcpu struct {
		fd     uintptr
		run    []byte
		serial bytes.Buffer
	}
	vcpus := make([]*vcpu, *nvcpus)
	var khz uintptr
	for i := range vcpus {
		fd, err := ioctl(vmfd, kvmCreateVCPU, uintptr(i))
		if err != nil {
			return fmt.Errorf("KVM_CREATE_VCPU: %w", err)
		}
		runMem, err := unix.Mmap(int(fd), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return err
		}
		var sr sregs
		if _, err := ioctl(fd, kvmGetSregs, uintptr(unsafe.Pointer(&sr))); err != nil {
			return fmt.Errorf("KVM_GET_SREGS: %w", err)
		}
		code := segment{Limit: 0xffffffff, Selector: 8, Type: 11, Present: 1, S: 1, L: 1, G: 1}
		data := segment{Limit: 0xffffffff, Selector: 16, Type: 3, Present: 1, S: 1, DB: 1, G: 1}
		sr.CS, sr.DS, sr.ES, sr.FS, sr.GS, sr.SS = code, data, data, data, data, data
		sr.CR3 = pml4
		sr.CR4 = 1 << 5              // PAE
		sr.CR0 = 1<<0 | 1<<4 | 1<<31 // PE, ET, PG
		sr.EFER = 1<<8 | 1<<10       // LME, LMA
		if _, err := ioctl(fd, kvmSetSregs, uintptr(unsafe.Pointer(&sr))); err != nil {
			return fmt.Errorf("KVM_SET_SREGS: %w", err)
		}
		// The TSC frequency first: the -stacks guest runs for a time in
		// its TSC's cycles.
		if *tscKHz > 0 {
			if _, err := ioctl(fd, kvmSetTSCKHz, uintptr(*tscKHz)); err != nil {
				return fmt.Errorf("KVM_SET_TSC_KHZ %d: %w", *tscKHz, err)
			}
		}
		if khz, err = ioctl(fd, kvmGetTSCKHz, 0); err != nil {
			return fmt.Errorf("KVM_GET_TSC_KHZ: %w", err)
		}
		// The guest's arguments (guest.S): what to touch, how many records.
		rg := regs{RIP: codeAddr, RSP: 0x7000, RFLAGS: 2, RDI: touchAddr, RBX: uint64(*touchMiB) << 20 / 4096, R9: uint64(*records)}
		if i > 0 {
			rg.RBX = 0 // one vCPU touches the memory
		}
		if *stacks > 0 {
			// The stack's top word stays 0: main's return address, where
			// a frame-pointer walk ends. R11: how many TSC cycles to run.
			rg = regs{RIP: stacksVA, RSP: stacksStackVA + 4*4096 - 8, RFLAGS: 2, R10: uint64(*spin), R11: uint64(khz) * uint64(*stacks)}
		}
		if _, err := ioctl(fd, kvmSetRegs, uintptr(unsafe.Pointer(&rg))); err != nil {
			return fmt.Errorf("KVM_SET_REGS: %w", err)
		}
		vcpus[i] = &vcpu{fd: fd, run: runMem}
	}

	// One OS thread per vCPU, each in its own KVM_RUN loop, as real VMMs do.
	var mu sync.Mutex
	lines := 0 // console lines written, under mu
	errs := make(chan error, len(vcpus))
	for _, v := range vcpus {
		go func() {
			runtime.LockOSThread()
			errs <- func() error {
				var line []byte
				for {
					if _, err := ioctl(v.fd, kvmRun, 0); err != nil {
						if err == unix.EINTR {
							continue
						}
						return fmt.Errorf("KVM_RUN: %w", err)
					}
					switch reason := binary.LittleEndian.Uint32(v.run[8:]); reason {
					case exitIO:
						dir, sz := v.run[32], v.run[33]
						port := binary.LittleEndian.Uint16(v.run[34:])
						off := binary.LittleEndian.Uint64(v.run[40:])
						if dir == 1 && port == 0x3f8 && sz == 1 {
							b := v.run[off]
							v.serial.WriteByte(b)
							if line = append(line, b); b == '\n' {
								mu.Lock()
								os.Stdout.Write(line)
								if lines++; lines == *crashAfter {
									unix.Kill(os.Getpid(), unix.SIGKILL)
								}
								mu.Unlock()
								line = line[:0]
							}
						}
					case exitHLT:
						return nil
					default:
						return fmt.Errorf("unexpected exit reason %d", reason)
					}
				}
			}()
		}()
	}
	for range vcpus {
		if err := <-errs; err != nil {
			return err
		}
	}
	if *remap && touched != nil {
		if err := remapTouchMemory(vmfd, touched); err != nil {
			return err
		}
	}
	if *noFlush {
		return nil
	}
	var serials []string
	for _, v := range vcpus {
		serials = append(serials, v.serial.String())
	}
	return flush(serials, uint64(khz))
}

// memoryRegion is struct kvm_userspace_memory_region.
type memoryRegion struct {
	Slot, Flags                uint32
	GuestPhysAddr, Size, UAddr uint64
}

// setRegion makes, moves or (size 0) deletes a memory slot.
func setRegion(vmfd uintptr, slot uint32, gpa uint64, mem []byte) error {
	r := memoryRegion{Slot: slot, GuestPhysAddr: gpa, Size: uint64(len(mem))}
	if len(mem) > 0 {
		r.UAddr = uint64(uintptr(unsafe.Pointer(&mem[0])))
	}
	if _, err := ioctl(vmfd, kvmSetUserMemoryRegion, uintptr(unsafe.Pointer(&r))); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION (slot %d): %w", slot, err)
	}
	return nil
}

// writePages writes a byte to each 4 KiB page of mem.
func writePages(mem []byte) {
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
}

// mapStacksGuest puts the -stacks guest's code and stack in guest memory
// and maps them at stacksVA through 4-level page tables of 4 KiB pages
// (PML4 entry 511, PDPT entry 510, PD entry 8), beside the identity map
// of the first GiB, and writes its symbols where -symbols says.
func mapStacksGuest(mem []byte) error {
	const pdpt, pd, pt = 0x4000, 0x5000, 0x6000
	put := func(at, v uint64) { binary.LittleEndian.PutUint64(mem[at:], v) }
	put(pml4+8*(stacksVA>>39&511), pdpt|3)
	put(pdpt+8*(stacksVA>>30&511), pd|3)
	put(pd+8*(stacksVA>>21&511), pt|3)
	put(pt+8*(stacksVA>>12&511), stacksCodeAddr|3)
	for i := range uint64(4) {
		put(pt+8*(stacksStackVA>>12&511+i), stacksStack+i*4096|3)
	}
	copy(mem[stacksCodeAddr:], stacksCode)
	if *symbols == "" {
		return nil
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(stacksSymbols), "\n") {
		f := strings.Fields(l)
		off, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || len(f) != 3 {
			return fmt.Errorf("symbol line %q", l)
		}
		fmt.Fprintf(&b, "%016x %s %s\n", stacksVA+off, f[1], f[2])
	}
	return os.WriteFile(*symbols, []byte(b.String()), 0o644)
}

// remapTouchMemory does what a VMM does when it remaps guest memory: a
// slot it adds over the -touch slot's addresses is refused (EEXIST), the
// -touch slot is deleted, and the memory of both is the VMM's own from
// then on: written again after dropping its pages, every write a fault
// on memory that is not the guest's.
func remapTouchMemory(vmfd uintptr, touched []byte) error {
	other, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	if err := setRegion(vmfd, 2, touchAddr, other); err == nil {
		return fmt.Errorf("an overlapping slot was accepted")
	}
	if err := setRegion(vmfd, 1, touchAddr, nil); err != nil {
		return err
	}
	if err := unix.Madvise(touched, unix.MADV_DONTNEED); err != nil {
		return err
	}
	writePages(other)
	writePages(touched)
	return nil
}

// addTouchMemory gives the guest size bytes more at touchAddr, private
// anonymous memory as QEMU's RAM is, that nothing has touched yet.
func addTouchMemory(vmfd uintptr, size int, huge bool) ([]byte, error) {
	// 2 MiB-aligned, so a huge page can back it.
	raw, err := unix.Mmap(-1, 0, size+2<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	start := uintptr(unsafe.Pointer(&raw[0]))
	skip := (2<<20 - int(start%(2<<20))) % (2 << 20)
	mem := raw[skip : skip+size]
	if huge {
		if err := unix.Madvise(mem, unix.MADV_HUGEPAGE); err != nil {
			return nil, fmt.Errorf("madvise MADV_HUGEPAGE: %w", err)
		}
	}
	return mem, setRegion(vmfd, 1, touchAddr, mem)
}

// churnThreads starts n threads one after another, each ending at once: a
// goroutine that exits locked to its thread takes the thread with it, so
// the next one needs a new thread, as a VMM's short-lived workers do.
func churnThreads(n int) {
	for range n {
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(done)
		}()
		<-done
	}
}

// flush prints the guests' records as a BOOT_TRACE flush: for each vCPU,
// an instant per record inside a "guest_loop" span from its first record
// to its last, on that CPU.
func flush(serials []string, khz uint64) error {
	type rec struct {
		kind, name string
		cpu        int
		tsc        uint64
	}
	var recs []rec
	for cpu, serial := range serials {
		var tscs []uint64
		for _, l := range strings.Split(serial, "\n") {
			if v, err := strconv.ParseUint(strings.TrimPrefix(l, "T"), 16, 64); err == nil && strings.HasPrefix(l, "T") {
				tscs = append(tscs, v)
			}
		}
		if len(tscs) == 0 {
			return fmt.Errorf("no records from vCPU %d", cpu)
		}
		recs = append(recs, rec{"B", "guest_loop", cpu, tscs[0]})
		for i, t := range tscs {
			name := fmt.Sprintf("guest_record_%d", i)
			if len(serials) > 1 {
				name = fmt.Sprintf("guest_record_%d_%d", cpu, i)
			}
			recs = append(recs, rec{"I", name, cpu, t})
		}
		recs = append(recs, rec{"E", "guest_loop", cpu, tscs[len(tscs)-1]})
	}
	line := func(payload string) {
		fmt.Printf("BOOT_TRACE %s *%08x\n", payload, crc32.ChecksumIEEE([]byte(payload)))
	}
	line(fmt.Sprintf("H 1 minivmm %d %d %d 0", khz, len(serials), len(recs)))
	for i, r := range recs {
		line(fmt.Sprintf("%d %s %d 0 %x 0 %s", i, r.kind, r.cpu, r.tsc, r.name))
	}
	line(fmt.Sprintf("Z %d 0", len(recs)))
	return nil
}
