// SPDX-License-Identifier: GPL-2.0
/* Per-flow byte/packet accounting where user space reads consistent
 * (packets, bytes) pairs: both counters are updated under a bpf_spin_lock
 * that lives in the map value.
 * Features: struct bpf_spin_lock in a hash map value (needs BTF), lock and
 * unlock on every path, zero-initialised insert.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct flow_key {
	__u32 saddr;
	__u32 daddr;
};

struct flow_stats {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

SEC("tc")
int tc_flow_lock(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct iphdr *ip = data + ETH_HLEN;
	struct flow_key key = {};
	struct flow_stats zero = {}, *st;

	if ((void *)(ip + 1) > data_end || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	key.saddr = ip->saddr;
	key.daddr = ip->daddr;

	st = bpf_map_lookup_elem(&flows, &key);
	if (!st) {
		bpf_map_update_elem(&flows, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&flows, &key);
		if (!st)
			return TC_ACT_OK;
	}
	bpf_spin_lock(&st->lock);
	st->packets++;
	st->bytes += skb->len;
	bpf_spin_unlock(&st->lock);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
