// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (unbounded-loop): the number of rounds comes from a 32-bit field in
 * the packet, so a crafted packet can make the program spin for up to 2^32
 * iterations inside the softirq. Bounded loops must have a bound the
 * verifier can see (e.g. `n &= 63` or a constant trip count).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct hdr {
	struct ethhdr eth;
	__u32 rounds;
};

SEC("xdp")
int bug_unbounded_loop(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	struct hdr *h = (void *)(long)ctx->data;
	__u32 hash = 5381;
	__u32 n;

	if ((void *)(h + 1) > data_end)
		return XDP_PASS;
	n = h->rounds;
	/* BUG: loop bound taken from the packet, up to 4294967295. */
	for (__u32 i = 0; i < n; i++)
		hash = hash * 33 + i;
	return hash & 1 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
