// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (ctx-readonly-write): tries to re-label a packet as IPv6 by
 * writing skb->protocol. tc programs may write mark, priority, tc_index,
 * cb[], tc_classid, queue_mapping and tstamp, but protocol is read-only
 * (the right way is bpf_skb_change_proto).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("tc")
int bug_ctx_readonly_write(struct __sk_buff *skb)
{
	if (skb->mark == 6)
		/* BUG: write to a read-only __sk_buff field. */
		skb->protocol = bpf_htons(ETH_P_IPV6);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
