// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (null-deref): bpf_map_lookup_elem returns NULL when the key is
 * missing (always possible for a hash map); the result is dereferenced
 * without a NULL check.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} per_ifindex SEC(".maps");

SEC("xdp")
int bug_null_deref(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u64 *cnt = bpf_map_lookup_elem(&per_ifindex, &ifindex);

	/* BUG: missing `if (!cnt) return XDP_PASS;` */
	__sync_fetch_and_add(cnt, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
