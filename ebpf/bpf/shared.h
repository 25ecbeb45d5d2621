// What the probes (probes.c) and the guest sampler (sample.c) share: the
// ring buffer, the followed processes and the counters. The sampler's
// copies are replaced by the probes' maps when it is loaded.

// Events of every kind, in one ring: struct event (probes.c), struct
// guest_sample (sample.c); both begin with the same fields.
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} events SEC(".maps");

// tgids to follow: the VMM and the processes it forks.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

// counters[0]: events lost to a full ring buffer; counters[1 + kind]: events per kind;
// counters[COUNT_FOLLOW_FAILED]: threads or processes that could not be followed (map full);
// counters[COUNT_SEQ]: events this CPU tried to write, lost ones included.
#define COUNT_SEQ 62
#define COUNT_FOLLOW_FAILED 63
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		(*c)++;
}

// next_seq numbers an event this CPU is about to write: a gap in a CPU's
// numbers is a lost event, located between its neighbours.
static __always_inline __u32 next_seq(void)
{
	__u32 idx = COUNT_SEQ;
	__u64 *seq = bpf_map_lookup_elem(&counters, &idx);
	return seq ? (__u32)++*seq : 0;
}

static __always_inline int followed(__u64 id)
{
	__u32 tgid = id >> 32;
	return bpf_map_lookup_elem(&tgids, &tgid) != 0;
}
