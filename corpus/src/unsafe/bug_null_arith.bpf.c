// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (null-arith): computes &stats->bytes from the lookup result before
 * the NULL check. Pointer arithmetic on a maybe-NULL pointer is rejected
 * even if the NULL check follows: a NULL base plus an offset is a small
 * non-NULL address the later check would not catch.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct stats);
} queue_stats SEC(".maps");

SEC("xdp")
int bug_null_arith(struct xdp_md *ctx)
{
	__u32 q = ctx->rx_queue_index;
	struct stats *s = bpf_map_lookup_elem(&queue_stats, &q);
	__u64 *bytes = &s->bytes; /* BUG: s may be NULL here */

	/* keep the address computation ahead of the check, as written */
	asm volatile("" : "+r"(bytes));
	if (!s)
		return XDP_PASS;
	*bytes += 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
