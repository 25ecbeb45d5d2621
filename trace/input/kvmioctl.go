package input

import "fmt"

// kvmIoctls names the KVM ioctls by request number (x86-64).
var kvmIoctls = map[uint32]string{
	0xae00: "KVM_GET_API_VERSION", 0xae01: "KVM_CREATE_VM", 0xae03: "KVM_CHECK_EXTENSION",
	0xae04: "KVM_GET_VCPU_MMAP_SIZE", 0xc008ae05: "KVM_GET_SUPPORTED_CPUID", 0xc004ae02: "KVM_GET_MSR_INDEX_LIST",
	0xc004ae0a: "KVM_GET_MSR_FEATURE_INDEX_LIST", 0xae41: "KVM_CREATE_VCPU", 0x4020ae46: "KVM_SET_USER_MEMORY_REGION",
	0x40a0ae49: "KVM_SET_USER_MEMORY_REGION2", 0xae47: "KVM_SET_TSS_ADDR", 0x4008ae48: "KVM_SET_IDENTITY_MAP_ADDR",
	0xae60: "KVM_CREATE_IRQCHIP", 0x4008ae61: "KVM_IRQ_LINE", 0xc008ae67: "KVM_IRQ_LINE_STATUS",
	0x4008ae6a: "KVM_SET_GSI_ROUTING", 0x4020ae76: "KVM_IRQFD", 0x4040ae77: "KVM_CREATE_PIT2",
	0x4040ae79: "KVM_IOEVENTFD", 0x4030ae7b: "KVM_SET_CLOCK", 0x8030ae7c: "KVM_GET_CLOCK",
	0xae80: "KVM_RUN", 0x8090ae81: "KVM_GET_REGS", 0x4090ae82: "KVM_SET_REGS",
	0x8138ae83: "KVM_GET_SREGS", 0x4138ae84: "KVM_SET_SREGS", 0xc018ae85: "KVM_TRANSLATE",
	0x4004ae86: "KVM_INTERRUPT", 0xc008ae88: "KVM_GET_MSRS", 0x4008ae89: "KVM_SET_MSRS",
	0x4008ae8a: "KVM_SET_CPUID", 0x4004ae8b: "KVM_SET_SIGNAL_MASK", 0x81a0ae8c: "KVM_GET_FPU",
	0x41a0ae8d: "KVM_SET_FPU", 0x8400ae8e: "KVM_GET_LAPIC", 0x4400ae8f: "KVM_SET_LAPIC",
	0x4008ae90: "KVM_SET_CPUID2", 0xc008ae91: "KVM_GET_CPUID2", 0x8004ae98: "KVM_GET_MP_STATE",
	0x4004ae99: "KVM_SET_MP_STATE", 0xae9a: "KVM_NMI", 0x4048ae9b: "KVM_SET_GUEST_DEBUG",
	0x8040ae9f: "KVM_GET_VCPU_EVENTS", 0x4040aea0: "KVM_SET_VCPU_EVENTS", 0x8080aea1: "KVM_GET_DEBUGREGS",
	0x4080aea2: "KVM_SET_DEBUGREGS", 0xaea2: "KVM_SET_TSC_KHZ", 0xaea3: "KVM_GET_TSC_KHZ",
	0x4068aea3: "KVM_ENABLE_CAP", 0x9000aea4: "KVM_GET_XSAVE", 0x5000aea5: "KVM_SET_XSAVE",
	0x8188aea6: "KVM_GET_XCRS", 0x4188aea7: "KVM_SET_XCRS", 0xaead: "KVM_KVMCLOCK_CTRL",
	0xc0b0aeb0: "KVM_GET_NESTED_STATE", 0x4080aeb1: "KVM_SET_NESTED_STATE", 0xc008aeba: "KVM_GET_XSAVE2",
}

// otherIoctls names the few other ioctls VMMs make while starting: the
// terminal set-up of -serial stdio, and non-blocking descriptors.
var otherIoctls = map[uint32]string{
	0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF",
	0x5413: "TIOCGWINSZ", 0x541b: "FIONREAD", 0x5421: "FIONBIO", 0x5451: "FIOCLEX",
	0x400454ca: "TUNSETIFF", 0x800454d2: "TUNGETIFF", 0x400454d0: "TUNSETOFFLOAD", 0x400454d8: "TUNSETVNETHDRSZ",
}

// ioctlName names an ioctl request: KVM ones and a few others by name, the
// rest by number.
func ioctlName(cmd int64) string {
	if n, ok := kvmIoctls[uint32(cmd)]; ok {
		return n
	}
	if n, ok := otherIoctls[uint32(cmd)]; ok {
		return n
	}
	return fmt.Sprintf("ioctl 0x%x", uint32(cmd))
}

// KVM exit reasons reported by kvm_userspace_exit (KVM_EXIT_*).
var kvmExitReasons = map[int64]string{
	0: "unknown", 1: "exception", 2: "io", 3: "hypercall", 4: "debug", 5: "hlt", 6: "mmio",
	7: "irq window open", 8: "shutdown", 9: "fail entry", 10: "intr", 11: "set tpr",
	12: "tpr access", 17: "internal error", 24: "system event", 29: "x86 rdmsr", 30: "x86 wrmsr",
}

func exitReason(r int64) string {
	if n, ok := kvmExitReasons[r]; ok {
		return n
	}
	return fmt.Sprintf("reason %d", r)
}

// VM exit reasons of kvm:kvm_exit, by instruction set (isa 1: VMX, 2: SVM).
var (
	vmxExits = map[int64]string{
		0: "exception or NMI", 1: "external interrupt", 2: "triple fault", 7: "interrupt window",
		8: "NMI window", 9: "task switch", 10: "cpuid", 12: "hlt", 14: "invlpg", 16: "rdtsc",
		18: "vmcall", 28: "cr access", 29: "dr access", 30: "io", 31: "rdmsr", 32: "wrmsr",
		33: "invalid guest state", 40: "pause", 44: "apic access", 45: "eoi induced",
		48: "ept violation", 49: "ept misconfig", 52: "preemption timer", 54: "wbinvd", 55: "xsetbv",
	}
	svmExits = map[int64]string{
		0x60: "intr", 0x61: "nmi", 0x64: "vintr", 0x6e: "rdtsc", 0x72: "cpuid", 0x77: "pause",
		0x78: "hlt", 0x79: "invlpg", 0x7b: "io", 0x7c: "msr", 0x7f: "shutdown", 0x81: "vmmcall",
		0x400: "npf",
	}
)

// vmExitName names a kvm_exit reason; unknown ones keep their number.
func vmExitName(isa, reason int64) string {
	table := vmxExits
	if isa == 2 {
		table = svmExits
		if reason >= 0x40 && reason < 0x60 {
			return fmt.Sprintf("exception %d", reason-0x40)
		}
	}
	if n, ok := table[reason]; ok {
		return n
	}
	return fmt.Sprintf("%d", reason)
}
