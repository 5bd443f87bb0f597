// SPDX-License-Identifier: GPL-2.0
/* Drop UDP datagrams to a configured port (default: 9, "discard").
 * Features: variable-length IPv4 header (ihl * 4) bounds-checked before the
 * UDP header is touched; `const volatile` config in .rodata.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u16 blocked_port = 9; /* set by the loader before load */

SEC("xdp")
int xdp_parse_udp(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	__u32 ihl_len;

	if (data + sizeof(*eth) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	ip = data + sizeof(*eth);
	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP)
		return XDP_PASS;

	ihl_len = ip->ihl * 4; /* 0..60 */
	if (ihl_len < sizeof(*ip))
		return XDP_DROP; /* malformed */

	udp = (void *)ip + ihl_len;
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;

	if (udp->dest == bpf_htons(blocked_port))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
