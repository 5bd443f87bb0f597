// SPDX-License-Identifier: GPL-2.0
/* Firewall split into functions the compiler must not inline:
 *  - parse_l4() is a static subprogram taking packet pointers (verified by
 *    Linux in the context of each call site),
 *  - port_policy() is a global function in .text: Linux verifies it once,
 *    on its own, with unknown scalar arguments.
 * Features: bpf-to-bpf calls (BPF_PSEUDO_CALL), static and global callees.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Returns the destination port of a TCP/UDP packet (host order), or 0. */
static __noinline __u32 parse_l4(void *data, void *data_end, __u32 *proto)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *l4 = (void *)(ip + 1); /* tcp and udp share the port layout */

	if ((void *)(l4 + 1) > data_end)
		return 0;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return 0;
	*proto = ip->protocol;
	return bpf_ntohs(l4->dest);
}

/* Pure policy on scalars: safe for any argument values. */
__noinline int port_policy(__u32 proto, __u32 port)
{
	if (proto == IPPROTO_TCP && (port == 23 || port == 2323))
		return XDP_DROP; /* telnet */
	if (proto == IPPROTO_UDP && port >= 6881 && port <= 6889)
		return XDP_DROP; /* bittorrent */
	return XDP_PASS;
}

SEC("xdp")
int xdp_bpf2bpf(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 proto = 0;
	__u32 port;

	port = parse_l4(data, data_end, &proto);
	if (!port)
		return XDP_PASS;
	return port_policy(proto, port);
}

char LICENSE[] SEC("license") = "GPL";
