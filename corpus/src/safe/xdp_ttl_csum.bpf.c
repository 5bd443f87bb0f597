// SPDX-License-Identifier: GPL-2.0
/* Router fast path fragment: drop IPv4 packets whose TTL would expire,
 * otherwise decrement TTL and patch the header checksum incrementally
 * (RFC 1624), as the kernel's ip_decrease_ttl() does.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline void ip_decrease_ttl(struct iphdr *ip)
{
	__u32 check = ip->check;

	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;
}

SEC("xdp")
int xdp_ttl_csum(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->ttl <= 1)
		return XDP_DROP; /* the slow path would send ICMP time exceeded */
	ip_decrease_ttl(ip);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
