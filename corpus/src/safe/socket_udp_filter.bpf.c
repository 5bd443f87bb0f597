// SPDX-License-Identifier: GPL-2.0
/* Socket filter for a raw AF_PACKET socket: keep only IPv4/UDP frames and
 * truncate them to 128 bytes (the return value is the number of bytes kept).
 * Socket filters have no direct packet access, so headers are read with
 * bpf_skb_load_bytes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define SNAPLEN 128

SEC("socket")
int socket_udp_filter(struct __sk_buff *skb)
{
	__u8 proto;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol),
			       &proto, sizeof(proto)) < 0)
		return 0;
	if (proto != IPPROTO_UDP)
		return 0;
	return skb->len < SNAPLEN ? skb->len : SNAPLEN;
}

char LICENSE[] SEC("license") = "GPL";
