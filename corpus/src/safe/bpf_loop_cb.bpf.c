// SPDX-License-Identifier: GPL-2.0
/* Find the busiest of 64 queues with the bpf_loop helper (Linux 5.17+):
 * the kernel calls the callback up to nr_loops times, so the verifier only
 * has to check the callback body once, whatever the trip count.
 * Features: bpf_loop, a static callback in .text, a context struct on the
 * caller's stack passed by pointer.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define NR_QUEUES 64

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR_QUEUES);
	__type(key, __u32);
	__type(value, __u64);
} queue_depth SEC(".maps");

struct scan_ctx {
	__u64 max_depth;
	__u32 max_queue;
};

static int scan_queue(__u32 index, struct scan_ctx *sc)
{
	__u64 *depth = bpf_map_lookup_elem(&queue_depth, &index);

	if (!depth)
		return 1; /* stop: index out of range */
	if (*depth > sc->max_depth) {
		sc->max_depth = *depth;
		sc->max_queue = index;
	}
	return 0; /* continue */
}

SEC("tc")
int tc_busiest_queue(struct __sk_buff *skb)
{
	struct scan_ctx sc = {};

	bpf_loop(NR_QUEUES, scan_queue, &sc, 0);
	skb->queue_mapping = sc.max_queue;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
