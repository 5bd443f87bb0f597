// SPDX-License-Identifier: GPL-2.0
/* Egress policy for a cgroup: forbid outgoing TCP connections to a denied
 * port (default 25, SMTP) and allow everything else.
 * cgroup_skb packets start at the IP header (no Ethernet header).
 * Features: SEC("cgroup_skb/egress"), verdict 0/1, bpf_skb_load_bytes.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u16 denied_port = 25;

SEC("cgroup_skb/egress")
int cgroup_skb_egress_policy(struct __sk_buff *skb)
{
	struct iphdr ip;
	__be16 dport;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 1;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
		return 1;
	if (ip.protocol != IPPROTO_TCP)
		return 1;
	if (bpf_skb_load_bytes(skb, ip.ihl * 4 + offsetof(struct tcphdr, dest),
			       &dport, sizeof(dport)) < 0)
		return 1;
	return dport == bpf_htons(denied_port) ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
