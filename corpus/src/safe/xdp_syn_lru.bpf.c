// SPDX-License-Identifier: GPL-2.0
/* SYN-flood observer: count TCP SYNs per IPv4 source in an LRU hash (old
 * sources are evicted automatically) and drop sources above a threshold.
 * Features: LRU hash, bpf_map_update_elem with BPF_NOEXIST, TCP header behind
 * a variable-length IPv4 header.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define SYN_LIMIT 1000

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} syn_count SEC(".maps");

SEC("xdp")
int xdp_syn_lru(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp;
	__u64 one = 1, *cnt;
	__u32 saddr;

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	if (ip->ihl < 5)
		return XDP_DROP;
	tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return XDP_PASS;
	if (!tcp->syn || tcp->ack)
		return XDP_PASS;

	saddr = ip->saddr;
	cnt = bpf_map_lookup_elem(&syn_count, &saddr);
	if (!cnt) {
		bpf_map_update_elem(&syn_count, &saddr, &one, BPF_NOEXIST);
		return XDP_PASS;
	}
	if (__sync_fetch_and_add(cnt, 1) >= SYN_LIMIT)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
