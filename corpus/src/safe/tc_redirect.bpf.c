// SPDX-License-Identifier: GPL-2.0
/* Mirror-free steering: packets carrying a configured mark are redirected
 * to the egress of another interface, everything else continues.
 * Features: bpf_redirect with a .rodata ifindex, .bss counter, TC_ACT_*.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 steer_mark = 0x42;
const volatile __u32 target_ifindex = 1;

__u64 redirected = 0; /* .bss, read by user space through the skeleton */

SEC("tc")
int tc_redirect(struct __sk_buff *skb)
{
	if (skb->mark != steer_mark)
		return TC_ACT_OK;
	__sync_fetch_and_add(&redirected, 1);
	return bpf_redirect(target_ifindex, 0);
}

char LICENSE[] SEC("license") = "GPL";
