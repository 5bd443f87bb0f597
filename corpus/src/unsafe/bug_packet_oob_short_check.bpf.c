// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (packet-oob): the bounds check covers only the 14-byte Ethernet
 * header, but the program then reads the IPv4 protocol byte at offset 23.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("xdp")
int bug_packet_oob_short_check(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if (data + sizeof(*eth) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	/* BUG: missing `if ((void *)(ip + 1) > data_end)`: only 14 bytes are known. */
	if (ip->protocol == IPPROTO_ICMP)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
