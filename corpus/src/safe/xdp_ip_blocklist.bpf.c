// SPDX-License-Identifier: GPL-2.0
/* Drop IPv4 packets whose source address is in a blocklist hash map that
 * user space fills, counting hits per entry.
 * Features: BTF hash map keyed by a packet field copied to the stack,
 * atomic add on a shared map value.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);   /* IPv4 source address, network order */
	__type(value, __u64); /* packets dropped */
} blocklist SEC(".maps");

SEC("xdp")
int xdp_ip_blocklist(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u64 *hits;
	__u32 saddr;

	if (data + sizeof(*eth) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;

	saddr = ip->saddr;
	hits = bpf_map_lookup_elem(&blocklist, &saddr);
	if (!hits)
		return XDP_PASS;
	__sync_fetch_and_add(hits, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
