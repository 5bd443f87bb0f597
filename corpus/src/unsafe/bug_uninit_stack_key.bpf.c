// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (uninit-stack): the flow key has 3 bytes of padding after
 * `proto`; the fields are assigned one by one, so the padding is never
 * written and bpf_map_lookup_elem hashes uninitialised stack bytes (the
 * lookup misses at random and leaks kernel stack contents into the hash).
 * Fix: `struct flow_key key = {};` or __builtin_memset.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
	__u32 ifindex;
	__u8 proto;
	/* 3 bytes of padding */
	__u32 mark;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, __u64);
} flow_hits SEC(".maps");

SEC("tc")
int bug_uninit_stack_key(struct __sk_buff *skb)
{
	struct flow_key key; /* BUG: padding never initialised */
	__u64 *hits;

	key.ifindex = skb->ifindex;
	key.proto = skb->protocol >> 8;
	key.mark = skb->mark;
	hits = bpf_map_lookup_elem(&flow_hits, &key);
	if (hits)
		__sync_fetch_and_add(hits, 1);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
