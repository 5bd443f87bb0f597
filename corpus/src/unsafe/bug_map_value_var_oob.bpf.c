// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (map-value-oob): a per-queue histogram indexed by
 * skb->queue_mapping without checking it against the 8 slots of the value.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct queue_hist {
	__u64 slot[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct queue_hist);
} hist SEC(".maps");

SEC("tc")
int bug_map_value_var_oob(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct queue_hist *h = bpf_map_lookup_elem(&hist, &key);

	if (!h)
		return TC_ACT_OK;
	/* BUG: queue_mapping can be up to 65535; no `< 8` check. */
	h->slot[skb->queue_mapping]++;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
