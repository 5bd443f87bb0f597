// SPDX-License-Identifier: GPL-2.0
/* tc classifier: set skb->mark and skb->priority from the L3 protocol and
 * size so later qdiscs and routing rules can act on them.
 * Features: reading __sk_buff fields (protocol, len, ifindex), writing the
 * writable ones (mark, priority), SEC("tc").
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MARK_IPV4  0x100
#define MARK_IPV6  0x200
#define MARK_OTHER 0x300

const volatile __u32 lan_ifindex = 1; /* "lo" unless configured */

SEC("tc")
int tc_mark(struct __sk_buff *skb)
{
	__u32 mark;

	switch (skb->protocol) {
	case bpf_htons(ETH_P_IP):
		mark = MARK_IPV4;
		break;
	case bpf_htons(ETH_P_IPV6):
		mark = MARK_IPV6;
		break;
	default:
		mark = MARK_OTHER;
	}
	if (skb->ifindex == lan_ifindex)
		mark |= 1;
	skb->mark = mark;
	/* small packets (ACKs, DNS) go to the interactive band */
	skb->priority = skb->len < 128 ? 6 : 0;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
