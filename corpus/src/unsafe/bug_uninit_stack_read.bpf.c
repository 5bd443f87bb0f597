// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (uninit-stack): copies only 8 bytes of the packet into a 16-byte
 * buffer, then hashes all 16 bytes; bytes 8..15 are uninitialised stack.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bug_uninit_stack_read(struct __sk_buff *skb)
{
	__u64 buf[2];

	if (bpf_skb_load_bytes(skb, 0, buf, 8) < 0) /* fills buf[0] only */
		return TC_ACT_OK;
	/* BUG: buf[1] was never written. */
	skb->mark = (__u32)(buf[0] ^ buf[1]);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
