// SPDX-License-Identifier: GPL-2.0
/* Per-tenant packet counters: an array of maps whose slot i holds tenant
 * i's counter array; user space can swap a tenant's inner map atomically.
 * Features: BTF-defined BPF_MAP_TYPE_ARRAY_OF_MAPS with a declared inner map
 * type and static initialisation of the slots, two-level lookup with a NULL
 * check at each level.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NR_TENANTS 2

struct counters {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} tenant0 SEC(".maps"), tenant1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, NR_TENANTS);
	__type(key, __u32);
	__array(values, struct counters);
} tenants SEC(".maps") = {
	.values = { &tenant0, &tenant1 },
};

SEC("xdp")
int xdp_map_in_map(struct xdp_md *ctx)
{
	__u32 tenant = ctx->ingress_ifindex % NR_TENANTS;
	__u32 slot = ctx->rx_queue_index & 3;
	__u64 *cnt;
	void *inner;

	inner = bpf_map_lookup_elem(&tenants, &tenant);
	if (!inner)
		return XDP_PASS;
	cnt = bpf_map_lookup_elem(inner, &slot);
	if (!cnt)
		return XDP_PASS;
	__sync_fetch_and_add(cnt, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
