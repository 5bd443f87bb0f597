// SPDX-License-Identifier: GPL-2.0
/* XDP classifies a packet and passes the verdict to tc in the XDP metadata
 * area; the tc program turns it into skb->mark.
 * Features: bpf_xdp_adjust_meta, data_meta bounds checks in both program
 * types, two programs of different types in one object.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct meta {
	__u32 mark;
};

SEC("xdp")
int xdp_meta_set(struct xdp_md *ctx)
{
	void *data, *data_end, *data_meta;
	struct ethhdr *eth;
	struct meta *m;
	__u32 mark;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	mark = eth->h_proto == bpf_htons(ETH_P_IP) ? 4 : 6;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m)))
		return XDP_PASS; /* driver without metadata support */

	data = (void *)(long)ctx->data;
	data_meta = (void *)(long)ctx->data_meta;
	m = data_meta;
	if ((void *)(m + 1) > data)
		return XDP_PASS;
	m->mark = mark;
	return XDP_PASS;
}

SEC("tc")
int tc_meta_get(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	struct meta *m = (void *)(long)skb->data_meta;

	if ((void *)(m + 1) > data)
		return TC_ACT_OK; /* no metadata */
	skb->mark = m->mark;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
