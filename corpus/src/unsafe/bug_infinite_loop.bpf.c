// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (unbounded-loop): busy-waits until user space sets a flag in .bss.
 * Nothing bounds the wait: if the flag is never set the program never
 * returns. (BPF programs cannot block; this has to be an early return.)
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

volatile __u32 config_ready = 0; /* set by user space */

SEC("tc")
int bug_infinite_loop(struct __sk_buff *skb)
{
	/* BUG: spin-wait with no bound. */
	while (!config_ready)
		;
	skb->mark = 1;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
