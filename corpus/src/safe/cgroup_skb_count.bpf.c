// SPDX-License-Identifier: GPL-2.0
/* Ingress accounting for a cgroup: count packets and bytes received by
 * processes in the cgroup, always allow (return 1).
 * Features: SEC("cgroup_skb/ingress"), .bss global counters with atomics.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 rx_packets = 0;
__u64 rx_bytes = 0;

SEC("cgroup_skb/ingress")
int cgroup_skb_count(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&rx_packets, 1);
	__sync_fetch_and_add(&rx_bytes, skb->len);
	return 1; /* allow */
}

char LICENSE[] SEC("license") = "GPL";
