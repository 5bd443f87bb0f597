// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (packet-oob): reads the EtherType without ever comparing the
 * packet pointer against data_end; a runt frame would make the program read
 * past the end of the packet buffer.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("xdp")
int bug_packet_oob_nocheck(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;

	/* BUG: no `if ((void *)(eth + 1) > data_end)` before this read. */
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
