// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (lock-not-released): the early return for oversized packets
 * leaves the bpf_spin_lock held; every later user of the value would
 * deadlock.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct budget {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct budget);
} budgets SEC(".maps");

SEC("tc")
int bug_spin_lock_held(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct budget *b = bpf_map_lookup_elem(&budgets, &key);

	if (!b)
		return TC_ACT_OK;
	bpf_spin_lock(&b->lock);
	if (b->tokens < skb->len)
		return TC_ACT_SHOT; /* BUG: returns with b->lock held */
	b->tokens -= skb->len;
	bpf_spin_unlock(&b->lock);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
