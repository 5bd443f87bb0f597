// SPDX-License-Identifier: GPL-2.0
/* tc classifier that copies the IPv4 header out of the skb with
 * bpf_skb_load_bytes (works for non-linear skbs, unlike direct access) and
 * maps the DSCP field to a tc class id.
 * Features: SEC("classifier") (the legacy tc section name), helper writing
 * into a stack buffer, skb->tc_classid write.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("classifier")
int tc_load_bytes(struct __sk_buff *skb)
{
	struct iphdr ip;
	__u8 dscp;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return TC_ACT_OK;

	dscp = ip.tos >> 2;
	if (dscp == 46) /* EF: voice */
		skb->tc_classid = TC_H_MAKE(1 << 16, 1);
	else if (dscp >= 8)
		skb->tc_classid = TC_H_MAKE(1 << 16, 2);
	else
		skb->tc_classid = TC_H_MAKE(1 << 16, 3);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
