// SPDX-License-Identifier: GPL-2.0
/* Pop one 802.1Q VLAN tag: move the MAC addresses 4 bytes forward, then
 * shrink the packet head with bpf_xdp_adjust_head().
 * Feature: adjust_head invalidates every packet pointer, so data/data_end
 * are reloaded from ctx and re-checked before the packet is touched again.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

SEC("xdp")
int xdp_strip_vlan(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	struct vlan_hdr *vh = (void *)(eth + 1);
	struct ethhdr *new_eth;
	__be16 inner;

	if ((void *)(vh + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_8021Q))
		return XDP_PASS;
	inner = vh->h_vlan_encapsulated_proto;

	/* The new Ethernet header starts 4 bytes later; write it back to front
	 * so the overlapping copy does not clobber unread bytes. */
	new_eth = (void *)eth + sizeof(*vh);
	new_eth->h_proto = inner;
	__builtin_memmove(new_eth->h_source, eth->h_source, ETH_ALEN);
	__builtin_memmove(new_eth->h_dest, eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, (int)sizeof(*vh)))
		return XDP_DROP;

	/* Old pointers are stale now: reload and re-check. */
	data_end = (void *)(long)ctx->data_end;
	data = (void *)(long)ctx->data;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	return eth->h_proto == inner ? XDP_PASS : XDP_ABORTED;
}

char LICENSE[] SEC("license") = "GPL";
