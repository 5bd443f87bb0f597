// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (tail-call-wrong-map): the jump table was declared as a plain
 * array of u32 instead of BPF_MAP_TYPE_PROG_ARRAY; bpf_tail_call would
 * interpret arbitrary map data as a program pointer.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY); /* should be BPF_MAP_TYPE_PROG_ARRAY */
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jmp_table SEC(".maps");

SEC("xdp")
int bug_tail_call_wrong_map(struct xdp_md *ctx)
{
	/* BUG: tail call through a non-prog-array map. */
	bpf_tail_call(ctx, &jmp_table, ctx->rx_queue_index & 3);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
