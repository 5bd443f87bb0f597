// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (stack-oob): a 16-entry lookup table on the stack indexed by
 * skb->mark, which user space or another program controls. No
 * `idx < 16` check, so the read can land anywhere around the stack frame.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bug_stack_oob_index(struct __sk_buff *skb)
{
	__u8 prio[16];
	__u32 idx;

	if (bpf_skb_load_bytes(skb, 0, prio, sizeof(prio)) < 0)
		return TC_ACT_OK;
	idx = skb->mark;
	/* BUG: idx is not bounded by sizeof(prio). */
	skb->priority = prio[idx];
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
