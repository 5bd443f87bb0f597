// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (map-value-oob): the map value is a single __u64 (value_size 8),
 * but the program treats it as a {packets, last_queue} pair and writes bytes 8..15.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64); /* 8 bytes */
} counters SEC(".maps");

SEC("xdp")
int bug_map_value_oob(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (!v)
		return XDP_PASS;
	v[0] += 1;
	/* BUG: v[1] is at offset 8 of an 8-byte value. */
	v[1] = ctx->rx_queue_index;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
