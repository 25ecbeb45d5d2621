//go:build ignore

// boottrace's guest sampler (record --sample-guest): a guest call stack,
// read from the host. When KVM is about to emulate a guest instruction
// (kvm_emulate_insn: every instruction on a host without hardware
// virtualization, where KVM emulates the whole guest) or takes a VM exit
// (kvm_exit, on VMX and SVM hosts), at most once per sample_period_ns on
// each vCPU thread of a followed VMM, it reads the guest's RIP, RBP and CR3
// from struct kvm_vcpu and follows the guest's frame pointers: each frame's
// address is translated through the guest's 4-level page tables from CR3,
// then from guest-physical to the VMM's memory through KVM's own memory
// slots (the gfn tree of kvm->memslots[0], as kvm_set_user_memory_region
// left it), and read with bpf_probe_read_user, in the vCPU thread (the
// VMM's address space) while KVM holds the slots' SRCU read lock.
//
// Unlike the probes (probes.c) this reads kernel structures, so it needs
// the kernel's BTF (tp_btf and CO-RE): it is a separate object, loaded
// only when asked for, sharing the probes' ring buffer and thread maps.
//
// Which registers are valid at the hook: KVM caches RIP (and, on VMX, RSP
// and CR3) lazily, and says which are loaded in vcpu->arch.regs_avail. RBP
// is a general register, saved on every exit. RIP and CR3 are used only
// when their bit is set, else the sample says so (status).
//
// KVM holds the memory slots' SRCU read lock while it emulates; at
// kvm_exit (called from vmx_vcpu_run/svm_vcpu_run, before KVM takes the
// lock again after the guest ran) it does not: every read here is a
// fault-safe probe read, so a slot changed at that very moment gives a
// wrong frame, never a crash.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "kinds.h"
#include "shared.h"

char __license[] SEC("license") = "Dual MIT/GPL";

// The kernel's types, as far as the sampler reads them: CO-RE relocates
// every field to where the running kernel's BTF puts it.
struct rb_node {
	struct rb_node *rb_right;
	struct rb_node *rb_left;
} __attribute__((preserve_access_index));

struct rb_root {
	struct rb_node *rb_node;
} __attribute__((preserve_access_index));

struct kvm_memory_slot {
	struct rb_node gfn_node[2];
	__u64 base_gfn;
	unsigned long npages;
	unsigned long userspace_addr;
} __attribute__((preserve_access_index));

struct kvm_memslots {
	struct rb_root gfn_tree;
	int node_idx;
} __attribute__((preserve_access_index));

struct kvm {
	struct kvm_memslots *memslots[1];
} __attribute__((preserve_access_index));

struct kvm_vcpu_arch {
	unsigned long regs[17];
	__u32 regs_avail;
	unsigned long cr0;
	unsigned long cr3;
	unsigned long cr4;
	__u64 efer;
} __attribute__((preserve_access_index));

struct kvm_vcpu {
	struct kvm *kvm;
	struct kvm_vcpu_arch arch;
} __attribute__((preserve_access_index));

enum kvm_reg {
	VCPU_REGS_RBP = 5,
	VCPU_REGS_RIP = 16,
	VCPU_EXREG_CR3 = 19,
};

#define MAX_RETURNS 15

// A guest sample: its first fields are struct event's (probes.c), so the
// reader tells it by kind; then RIP, the walk's status and the return
// addresses found, innermost first.
struct guest_sample {
	__u64 ts;
	__u32 tgid;
	__u32 tid;
	__u16 kind;
	__u16 cpu;
	__u32 len; // bytes after seq: 16 + 8 per return address
	__u32 seq;
	__u64 rip;
	__u64 status; // bits 0-7: return addresses; 8-15: why the walk ended (enum walk_end)
	__u64 ret[MAX_RETURNS];
};

const struct guest_sample *unused_guest_sample __attribute__((unused));

// Why a walk ended: mirrored in trace/input (guestWalkEnd).
enum walk_end {
	WALK_DONE = 0,       // a zero frame pointer or return address: the outermost frame
	WALK_DEPTH = 1,      // MAX_RETURNS frames
	WALK_NO_RIP = 2,     // RIP not loaded at the hook: no sample
	WALK_NO_CR3 = 3,     // CR3 not loaded at the hook: RIP alone
	WALK_UNMAPPED = 4,   // a frame's address is not mapped by the guest's page tables
	WALK_NO_SLOT = 5,    // a guest-physical address is in no memory slot
	WALK_READ = 6,       // the VMM's memory could not be read (a page not present)
	WALK_BAD_FRAME = 7,  // the next frame pointer is not above this one
	WALK_LA57 = 8,       // 5-level paging: not walked
	WALK_NOT_LONG = 9,   // paging outside long mode (a 32-bit guest): not walked
};

// The time of each vCPU thread's last sample.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} last_sample SEC(".maps");

volatile const __u64 sample_period_ns = 1000000;

#define PAGE_MASK 0x000ffffffffff000ULL
#define PTE_PRESENT 1ULL
#define PTE_LARGE 0x80ULL
#define CR0_PG (1ULL << 31)
#define CR4_LA57 (1ULL << 12)
#define EFER_LMA (1ULL << 10)

// gpa_to_hva finds the VMM's address of guest-physical gpa in KVM's gfn
// tree of memory slots (ordered by base_gfn).
static __always_inline int gpa_to_hva(struct kvm_memslots *slots, __u64 gpa, __u64 *hva)
{
	int idx = BPF_CORE_READ(slots, node_idx) & 1;
	struct rb_node *node = BPF_CORE_READ(slots, gfn_tree.rb_node);
	__u64 gfn = gpa >> 12;
	__u32 node_off = bpf_core_field_offset(struct kvm_memory_slot, gfn_node) +
			 idx * bpf_core_type_size(struct rb_node);

	for (int i = 0; i < 24 && node; i++) {
		struct kvm_memory_slot *s = (void *)node - node_off;
		__u64 base = BPF_CORE_READ(s, base_gfn);
		__u64 n = BPF_CORE_READ(s, npages);

		if (gfn < base) {
			node = BPF_CORE_READ(node, rb_left);
		} else if (gfn >= base + n) {
			node = BPF_CORE_READ(node, rb_right);
		} else {
			*hva = BPF_CORE_READ(s, userspace_addr) + ((gfn - base) << 12) + (gpa & 0xfff);
			return WALK_DONE;
		}
	}
	return WALK_NO_SLOT;
}

// gva_to_hva translates a guest virtual address to the VMM's address:
// through the guest's 4-level page tables (or none, paging off), then
// KVM's memory slots. Page-table entries are read from the VMM's memory.
static __always_inline int gva_to_hva(struct kvm_memslots *slots, __u64 cr0, __u64 cr3, __u64 gva, __u64 *hva)
{
	__u64 table = cr3 & PAGE_MASK, gpa = gva;

	if (!(cr0 & CR0_PG))
		return gpa_to_hva(slots, gpa, hva);
	for (int level = 3; level >= 0; level--) {
		int shift = 12 + 9 * level;
		__u64 e = 0, at = 0;
		int r = gpa_to_hva(slots, table + ((gva >> shift) & 511) * 8, &at);

		if (r)
			return r;
		if (bpf_probe_read_user(&e, sizeof(e), (void *)at))
			return WALK_READ;
		if (!(e & PTE_PRESENT))
			return WALK_UNMAPPED;
		if ((level == 1 || level == 2) && (e & PTE_LARGE)) {
			__u64 mask = (1ULL << shift) - 1;
			return gpa_to_hva(slots, (e & PAGE_MASK & ~mask) + (gva & mask), hva);
		}
		table = e & PAGE_MASK;
	}
	return gpa_to_hva(slots, table + (gva & 0xfff), hva);
}

// A one-page translation cache for a walk: a stack's frames are mostly
// on one or two pages, so most reads skip the page tables.
struct tlb {
	__u64 gva_page;
	__u64 hva_page;
};

static __always_inline int read_gva(struct kvm_memslots *slots, __u64 cr0, __u64 cr3, struct tlb *tlb,
				    __u64 gva, __u64 *v)
{
	__u64 hva = 0;

	if (tlb->hva_page && (gva & ~0xfffULL) == tlb->gva_page) {
		hva = tlb->hva_page + (gva & 0xfff);
	} else {
		int r = gva_to_hva(slots, cr0, cr3, gva, &hva);

		if (r)
			return r;
		tlb->gva_page = gva & ~0xfffULL;
		tlb->hva_page = hva & ~0xfffULL;
	}
	return bpf_probe_read_user(v, sizeof(*v), (void *)hva) ? WALK_READ : WALK_DONE;
}

static __always_inline int sample(struct kvm_vcpu *vcpu)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns(), *last;

	if (!followed(id))
		return 0;
	last = bpf_map_lookup_elem(&last_sample, &tid);
	if (last && now - *last < sample_period_ns)
		return 0;
	bpf_map_update_elem(&last_sample, &tid, &now, BPF_ANY);

	__u32 seq = next_seq();
	struct guest_sample *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(0);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->ts = now;
	e->tgid = id >> 32;
	e->tid = tid;
	e->kind = KIND_GUEST_SAMPLE;
	e->cpu = bpf_get_smp_processor_id();
	e->len = 16;

	__u32 avail = BPF_CORE_READ(vcpu, arch.regs_avail);
	__u64 walk = WALK_DONE, depth = 0;

	if (!(avail & (1U << VCPU_REGS_RIP))) {
		e->status = WALK_NO_RIP << 8;
		goto out;
	}
	e->rip = BPF_CORE_READ(vcpu, arch.regs[VCPU_REGS_RIP]);
	if (!(avail & (1U << VCPU_EXREG_CR3))) {
		e->status = WALK_NO_CR3 << 8;
		goto out;
	}
	__u64 cr0 = BPF_CORE_READ(vcpu, arch.cr0), cr3 = BPF_CORE_READ(vcpu, arch.cr3);
	__u64 rbp = BPF_CORE_READ(vcpu, arch.regs[VCPU_REGS_RBP]);
	struct kvm_memslots *slots = BPF_CORE_READ(vcpu, kvm, memslots[0]);

	if (BPF_CORE_READ(vcpu, arch.cr4) & CR4_LA57) {
		walk = WALK_LA57;
		goto done;
	}
	// Frames of 8 bytes and 4-level tables: a 64-bit guest's.
	if ((cr0 & CR0_PG) && !(BPF_CORE_READ(vcpu, arch.efer) & EFER_LMA)) {
		walk = WALK_NOT_LONG;
		goto done;
	}
	struct tlb tlb = {};

	walk = WALK_DEPTH;
	for (int i = 0; i < MAX_RETURNS; i++) {
		__u64 next = 0, ret = 0;
		int r;

		if (!rbp) {
			walk = WALK_DONE;
			break;
		}
		r = read_gva(slots, cr0, cr3, &tlb, rbp + 8, &ret);
		if (!r)
			r = read_gva(slots, cr0, cr3, &tlb, rbp, &next);
		if (r) {
			walk = r;
			break;
		}
		if (!ret) {
			walk = WALK_DONE;
			break;
		}
		e->ret[i] = ret;
		depth++;
		if (next && next <= rbp) {
			walk = WALK_BAD_FRAME;
			break;
		}
		rbp = next;
	}
done:
	e->status = depth | walk << 8;
	e->len = 16 + 8 * depth;
out:
	bpf_ringbuf_submit(e, 0);
	count(1 + KIND_GUEST_SAMPLE);
	return 0;
}

SEC("tp_btf/kvm_emulate_insn")
int BPF_PROG(sample_emulate, struct kvm_vcpu *vcpu, __u8 failed)
{
	return sample(vcpu);
}

// On VMX and SVM hosts (not run here: see the README).
SEC("tp_btf/kvm_exit")
int BPF_PROG(sample_exit, struct kvm_vcpu *vcpu, __u32 isa)
{
	return sample(vcpu);
}
