//go:build ignore

// boottrace host probes: tracepoints filtered in the kernel by the VMM's
// thread group, each event copied raw into one ring buffer. User space
// decodes the raw record with the tracepoint's format file, so these
// programs need no kernel headers and no BTF, and stay correct when a
// tracepoint's layout changes between kernels.

#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

#include "kinds.h"
#include "shared.h"

char __license[] SEC("license") = "Dual MIT/GPL";

#define RAW_LEN 64

struct event {
	__u64 ts;   // bpf_ktime_get_ns: CLOCK_MONOTONIC
	__u32 tgid;
	__u32 tid;
	__u16 kind; // which tracepoint: enum event_kind
	__u16 cpu;
	__u32 len;  // bytes of raw that are valid (ioctl: plus the argument)
	__u32 seq;  // this CPU's event number: a gap is a loss, located
	__u8 raw[RAW_LEN];
	__u8 arg[32]; // KVM_SET_USER_MEMORY_REGION: the struct it points to
};

// Force emitting struct event into the ELF for bpf2go.
const struct event *unused_event __attribute__((unused));


// Thread ids of followed tgids, to see a VMM thread being switched in
// (sched_switch runs in the context of the thread switched out).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} threads SEC(".maps");

// Adopting the VMM by its global ids, which boottrace may not see (it may
// run in a pid namespace of its own, as in a container): boottrace
// announces itself with a magic ioctl (announce[0] = its tgid); a process
// it forks is pending until it execs (Go's threads, forked too, never
// exec); then it is followed and its tgid is announce[1], for boottrace to
// read.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} announce SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} pending SEC(".maps");


// emulated[guest RIP]: instructions KVM emulated there (kvm_emulate_insn).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} emulated SEC(".maps");

// Field offsets from the tracepoints' format files, set before loading.
volatile const __u32 next_pid_off = 56;
volatile const __u32 emulate_rip_off = 8;
volatile const __u32 fork_parent_off = 12;
volatile const __u32 fork_child_off = 20;
volatile const __u32 ioctl_cmd_off = 24;
volatile const __u32 ioctl_arg_off = 32;
// The magic ioctl's argument: a random cookie, so no other process can
// announce itself.
volatile const __u64 announce_cookie = 0;

#define BOOTTRACE_ANNOUNCE 0x42540001 // 'B' 'T' 0 1
#define KVM_SET_USER_MEMORY_REGION 0x4020ae46
#define KVM_SET_USER_MEMORY_REGION2 0x40a0ae49 // its first 32 bytes are the same

static __always_inline struct event *reserve(__u16 kind, __u64 id)
{
	__u32 n = next_seq();
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(0);
		return 0;
	}
	e->seq = n;
	e->ts = bpf_ktime_get_ns();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->kind = kind;
	e->cpu = bpf_get_smp_processor_id();
	e->len = RAW_LEN;
	__builtin_memset(e->arg, 0, sizeof(e->arg));
	return e;
}

static __always_inline int commit(struct event *e)
{
	__u32 kind = e->kind; // e is gone once submitted

	bpf_ringbuf_submit(e, 0);
	count(1 + kind);
	return 0;
}

static __always_inline int submit(void *ctx, __u16 kind, __u64 id)
{
	struct event *e = reserve(kind, id);
	if (!e)
		return 0;
	bpf_probe_read_kernel(e->raw, RAW_LEN, ctx);
	if (kind == KIND_IOCTL_ENTER) {
		__u64 cmd = 0, arg = 0;
		bpf_probe_read_kernel(&cmd, sizeof(cmd), ctx + ioctl_cmd_off);
		bpf_probe_read_kernel(&arg, sizeof(arg), ctx + ioctl_arg_off);
		if ((__u32)cmd == KVM_SET_USER_MEMORY_REGION || (__u32)cmd == KVM_SET_USER_MEMORY_REGION2)
			bpf_probe_read_user(e->arg, sizeof(e->arg), (void *)arg);
	}
	return commit(e);
}

static __always_inline int emit(void *ctx, __u16 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!followed(id))
		return 0;
	return submit(ctx, kind, id);
}

SEC("tracepoint/syscalls/sys_enter_ioctl")
int ioctl_enter(void *ctx)
{
	__u64 cmd = 0, arg = 0;

	bpf_probe_read_kernel(&cmd, sizeof(cmd), ctx + ioctl_cmd_off);
	if ((__u32)cmd == BOOTTRACE_ANNOUNCE) {
		__u32 zero = 0, tgid = bpf_get_current_pid_tgid() >> 32;

		bpf_probe_read_kernel(&arg, sizeof(arg), ctx + ioctl_arg_off);
		if (announce_cookie && arg == announce_cookie)
			bpf_map_update_elem(&announce, &zero, &tgid, BPF_ANY);
		return 0;
	}
	return emit(ctx, KIND_IOCTL_ENTER);
}
SEC("tracepoint/syscalls/sys_exit_ioctl") int ioctl_exit(void *ctx) { return emit(ctx, KIND_IOCTL_EXIT); }
SEC("tracepoint/kvm/kvm_userspace_exit") int kvm_userspace_exit(void *ctx) { return emit(ctx, KIND_USERSPACE_EXIT); }
SEC("tracepoint/kvm/kvm_pio") int kvm_pio(void *ctx) { return emit(ctx, KIND_PIO); }
SEC("tracepoint/kvm/kvm_mmio") int kvm_mmio(void *ctx) { return emit(ctx, KIND_MMIO); }

// Instructions KVM emulated are only ever counted, by guest RIP, and can be
// half of all events: counted here instead of sent. A RIP the full map has
// no room for goes out as an event, as before.
SEC("tracepoint/kvm/kvm_emulate_insn")
int kvm_emulate_insn(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 rip = 0, one = 1, *n;

	if (!followed(id))
		return 0;
	bpf_probe_read_kernel(&rip, sizeof(rip), ctx + emulate_rip_off);
	n = bpf_map_lookup_elem(&emulated, &rip);
	if (n)
		__sync_fetch_and_add(n, 1);
	else if (bpf_map_update_elem(&emulated, &rip, &one, BPF_NOEXIST) != 0)
		return submit(ctx, KIND_EMULATE_INSN, id);
	count(1 + KIND_EMULATE_INSN);
	return 0;
}
SEC("tracepoint/kvm/kvm_write_tsc_offset") int kvm_write_tsc_offset(void *ctx) { return emit(ctx, KIND_WRITE_TSC_OFFSET); }
SEC("tracepoint/kvm/kvm_exit") int kvm_exit(void *ctx) { return emit(ctx, KIND_KVM_EXIT); }
SEC("tracepoint/kvm/kvm_entry") int kvm_entry(void *ctx) { return emit(ctx, KIND_KVM_ENTRY); }
SEC("tracepoint/kvm/kvm_page_fault") int kvm_page_fault(void *ctx) { return emit(ctx, KIND_KVM_PAGE_FAULT); }
SEC("tracepoint/exceptions/page_fault_user") int page_fault_user(void *ctx) { return emit(ctx, KIND_PAGE_FAULT_USER); }
SEC("tracepoint/exceptions/page_fault_kernel") int page_fault_kernel(void *ctx) { return emit(ctx, KIND_PAGE_FAULT_KERNEL); }

SEC("tracepoint/sched/sched_switch")
int sched_switch(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 next = 0;

	bpf_probe_read_kernel(&next, sizeof(next), ctx + next_pid_off);
	if (followed(id) || bpf_map_lookup_elem(&threads, &next))
		return submit(ctx, KIND_SCHED_SWITCH, id);
	return 0;
}

SEC("tracepoint/sched/sched_process_fork")
int sched_process_fork(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 child = 0;
	__u8 one = 1;

	bpf_probe_read_kernel(&child, sizeof(child), ctx + fork_child_off);
	if (!followed(id)) {
		__u32 zero = 0, *announced = bpf_map_lookup_elem(&announce, &zero);

		if (announced && *announced && *announced == id >> 32)
			bpf_map_update_elem(&pending, &child, &one, BPF_ANY);
		return 0;
	}
	if (bpf_map_update_elem(&threads, &child, &one, BPF_ANY))
		count(COUNT_FOLLOW_FAILED);
	// A new process (not a thread) is followed too: its tgid is its pid.
	if (bpf_map_update_elem(&tgids, &child, &one, BPF_ANY))
		count(COUNT_FOLLOW_FAILED);
	return submit(ctx, KIND_FORK, id);
}

// Pages the host allocates for the VMM's threads, whatever the path: a
// fault, KVM resolving an EPT/NPT violation through get_user_pages (no
// #PF, no fault event), MADV_POPULATE, -mem-prealloc. The order tells
// 4 KiB pages from 2 MiB ones.
SEC("tracepoint/kmem/mm_page_alloc") int mm_page_alloc(void *ctx) { return emit(ctx, KIND_PAGE_ALLOC); }

SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, one = 1;
	__u8 yes = 1;

	if (bpf_map_lookup_elem(&pending, &tgid)) {
		// The announced process's child: the gate. Its exec of the
		// shell is before the recording begins, so it is not an event.
		bpf_map_delete_elem(&pending, &tgid);
		bpf_map_update_elem(&tgids, &tgid, &yes, BPF_ANY);
		bpf_map_update_elem(&threads, &tgid, &yes, BPF_ANY);
		bpf_map_update_elem(&announce, &one, &tgid, BPF_ANY);
		return 0;
	}
	return emit(ctx, KIND_EXEC);
}

// A thread that exits is followed no more (its id may be reused by an
// unrelated task), nor is a process whose main thread exits. Fork put
// every new thread's id in tgids too (it cannot tell a thread from a
// process): that entry goes as well, or a VMM's thread churn would fill
// the map and new processes would go unfollowed.
SEC("tracepoint/sched/sched_process_exit")
int sched_process_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (!followed(id))
		return 0;
	submit(ctx, KIND_EXIT, id);
	bpf_map_delete_elem(&threads, &tid);
	bpf_map_delete_elem(&tgids, &tid);
	return 0;
}

// The software events minor-faults and major-faults fire where the kernel
// accounts a page fault, at the end of handle_mm_fault: paired with
// exceptions:page_fault_* at its start, they give each fault a duration
// (no tracepoint fires when a fault ends). raw holds the fault address.
static __always_inline int fault_done(struct bpf_perf_event_data *ctx, __u16 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!followed(id))
		return 0;
	struct event *e = reserve(kind, id);
	if (!e)
		return 0;
	__builtin_memset(e->raw, 0, RAW_LEN);
	*(__u64 *)e->raw = ctx->addr;
	return commit(e);
}

SEC("perf_event") int minor_fault_done(struct bpf_perf_event_data *ctx) { return fault_done(ctx, KIND_MINOR_FAULT_DONE); }
SEC("perf_event") int major_fault_done(struct bpf_perf_event_data *ctx) { return fault_done(ctx, KIND_MAJOR_FAULT_DONE); }
