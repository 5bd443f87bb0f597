// SPDX-License-Identifier: GPL-2.0
/* Three alternative XDP policies in the same SEC("xdp") section (the
 * operator attaches one per interface), sharing a static subprogram that
 * classifies the EtherType.
 * Features: several programs in one ELF section (libbpf 1.x splits them by
 * symbol), one .text subprogram called from all of them.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum l3 { L3_NONE, L3_IPV4, L3_IPV6, L3_ARP, L3_OTHER };

static __noinline int l3_of(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;

	if ((void *)(eth + 1) > data_end)
		return L3_NONE;
	switch (eth->h_proto) {
	case bpf_htons(ETH_P_IP):   return L3_IPV4;
	case bpf_htons(ETH_P_IPV6): return L3_IPV6;
	case bpf_htons(ETH_P_ARP):  return L3_ARP;
	default:                    return L3_OTHER;
	}
}

SEC("xdp")
int xdp_ipv4_only(struct xdp_md *ctx)
{
	int l3 = l3_of(ctx);

	return (l3 == L3_IPV4 || l3 == L3_ARP) ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int xdp_no_ipv6(struct xdp_md *ctx)
{
	return l3_of(ctx) == L3_IPV6 ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_drop_runts(struct xdp_md *ctx)
{
	return l3_of(ctx) == L3_NONE ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
