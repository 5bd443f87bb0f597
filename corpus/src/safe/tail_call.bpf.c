// SPDX-License-Identifier: GPL-2.0
/* Protocol dispatcher: the entry program parses Ethernet and tail-calls a
 * per-protocol program through a program array (statically initialised by
 * libbpf); if the slot is empty the tail call falls through and the
 * dispatcher's own default applies.
 * Features: BPF_MAP_TYPE_PROG_ARRAY, bpf_tail_call, three XDP programs in one
 * object and one section.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum { SLOT_IPV4 = 0, SLOT_IPV6 = 1, NR_SLOTS = 4 };

int xdp_handle_ipv4(struct xdp_md *ctx);
int xdp_handle_ipv6(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NR_SLOTS);
	__uint(key_size, sizeof(__u32));
	__array(values, int (void *));
} jmp_table SEC(".maps") = {
	.values = {
		[SLOT_IPV4] = (void *)&xdp_handle_ipv4,
		[SLOT_IPV6] = (void *)&xdp_handle_ipv6,
	},
};

SEC("xdp")
int xdp_dispatch(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		bpf_tail_call(ctx, &jmp_table, SLOT_IPV4);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		bpf_tail_call(ctx, &jmp_table, SLOT_IPV6);
	return XDP_PASS; /* no handler installed */
}

SEC("xdp")
int xdp_handle_ipv4(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = (void *)(long)ctx->data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	return ip->ttl == 0 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_handle_ipv6(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = (void *)(long)ctx->data + sizeof(struct ethhdr);

	if ((void *)(ip6 + 1) > data_end)
		return XDP_DROP;
	return ip6->hop_limit == 0 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
