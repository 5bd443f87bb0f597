// SPDX-License-Identifier: GPL-2.0
/* tc program that needs the Ethernet + IPv4 + UDP headers in the linear
 * part of the skb: if they are not there yet it calls bpf_skb_pull_data and
 * then reloads data/data_end (the helper invalidates packet pointers).
 * Drops UDP to port 53 that does not come from the configured resolver.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define HDR_LEN (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

const volatile __u32 resolver_ip = 0x0100007f; /* 127.0.0.1, network order on little endian */

SEC("tc")
int tc_pull_data(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip;
	struct udphdr *udp;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (data + HDR_LEN > data_end) {
		if (bpf_skb_pull_data(skb, HDR_LEN))
			return TC_ACT_OK;
		data = (void *)(long)skb->data;       /* reload after the pull */
		data_end = (void *)(long)skb->data_end;
		if (data + HDR_LEN > data_end)
			return TC_ACT_OK;
	}

	ip = data + sizeof(struct ethhdr);
	if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	udp = (void *)(ip + 1);
	if (udp->dest == bpf_htons(53) && ip->daddr != resolver_ip)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
