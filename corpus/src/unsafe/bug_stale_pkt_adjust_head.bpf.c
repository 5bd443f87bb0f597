// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (stale-packet-pointer): makes room for an 4-byte encapsulation
 * header with bpf_xdp_adjust_head, then keeps using the Ethernet header
 * pointer computed before the call. The helper may move the packet data,
 * so every packet pointer taken before it is invalid afterwards.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bug_stale_pkt_adjust_head(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (bpf_xdp_adjust_head(ctx, -4))
		return XDP_DROP;
	/* BUG: eth was not reloaded from ctx->data after adjust_head. */
	proto = eth->h_proto;
	return proto ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
