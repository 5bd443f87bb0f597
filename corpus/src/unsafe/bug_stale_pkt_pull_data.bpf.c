// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (stale-packet-pointer): after bpf_skb_pull_data (which can
 * reallocate the skb head) the IPv4 header pointer from before the call is
 * used again.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bug_stale_pkt_pull_data(struct __sk_buff *skb)
{
	void *data_end = (void *)(long)skb->data_end;
	void *data = (void *)(long)skb->data;
	struct iphdr *ip = data + ETH_HLEN;

	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	if (bpf_skb_pull_data(skb, skb->len))
		return TC_ACT_OK;
	/* BUG: ip points into the old head; reload skb->data first. */
	skb->mark = ip->ttl;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
