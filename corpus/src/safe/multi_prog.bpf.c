// SPDX-License-Identifier: GPL-2.0
/* One object, four hooks: count packets seen at XDP, tc ingress, a socket
 * filter and cgroup ingress in one shared per-CPU array, e.g. to find where
 * packets disappear.
 * Features: programs of four different types in one object sharing a map.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

enum hook { HOOK_XDP, HOOK_TC, HOOK_SOCKET, HOOK_CGROUP, NR_HOOKS };

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_HOOKS);
	__type(key, __u32);
	__type(value, __u64);
} hook_hits SEC(".maps");

static __always_inline void hit(__u32 hook)
{
	__u64 *v = bpf_map_lookup_elem(&hook_hits, &hook);

	if (v)
		(*v)++;
}

SEC("xdp")
int mp_xdp(struct xdp_md *ctx)
{
	hit(HOOK_XDP);
	return XDP_PASS;
}

SEC("tc")
int mp_tc(struct __sk_buff *skb)
{
	hit(HOOK_TC);
	return TC_ACT_OK;
}

SEC("socket")
int mp_socket(struct __sk_buff *skb)
{
	hit(HOOK_SOCKET);
	return skb->len; /* keep the whole packet */
}

SEC("cgroup_skb/ingress")
int mp_cgroup(struct __sk_buff *skb)
{
	hit(HOOK_CGROUP);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
