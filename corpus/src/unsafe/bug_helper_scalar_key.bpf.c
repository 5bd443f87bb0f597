// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (bad-helper-arg): the classic missing `&`: the key argument of
 * bpf_map_lookup_elem must point to the key, but the key's value is passed,
 * so the helper would dereference an arbitrary number.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} ifindex_policy SEC(".maps");

SEC("xdp")
int bug_helper_scalar_key(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 *verdict;

	/* BUG: should be &ifindex. */
	verdict = bpf_map_lookup_elem(&ifindex_policy, (void *)(long)ifindex);
	if (verdict && *verdict == XDP_DROP)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
