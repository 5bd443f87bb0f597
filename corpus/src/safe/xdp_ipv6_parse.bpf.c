// SPDX-License-Identifier: GPL-2.0
/* Drop IPv6 packets with hop limit 0 or with a Hop-by-Hop options header
 * (a common DoS vector), pass everything else.
 * Feature: IPv6 fixed header parse; 128-bit address compare via u32 words.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline int is_unspecified(const struct in6_addr *a)
{
	return (a->in6_u.u6_addr32[0] | a->in6_u.u6_addr32[1] |
		a->in6_u.u6_addr32[2] | a->in6_u.u6_addr32[3]) == 0;
}

SEC("xdp")
int xdp_ipv6_parse(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);

	if ((void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	if (ip6->version != 6)
		return XDP_DROP;
	if (ip6->hop_limit == 0 || ip6->nexthdr == IPPROTO_HOPOPTS)
		return XDP_DROP;
	if (is_unspecified(&ip6->daddr))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
