// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (bad-exit-value): code copied from a tc program returns
 * TC_ACT_SHOT (2) to drop, but cgroup_skb ingress programs must return 0
 * (drop) or 1 (allow).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup_skb/ingress")
int bug_exit_value(struct __sk_buff *skb)
{
	if (skb->len > 1500)
		return TC_ACT_SHOT; /* BUG: 2 is outside [0, 1] */
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
