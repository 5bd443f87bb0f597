// SPDX-License-Identifier: GPL-2.0
/* The pre-BTF way to declare maps, still found in many older projects
 * (iproute2, samples/bpf before 5.x): a struct bpf_map_def placed in
 * SEC("maps"). libbpf 1.x headers dropped the struct, so it is defined
 * here with the same layout. Counts packets per L3 protocol.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") l3_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 3, /* 0: IPv4, 1: IPv6, 2: other */
};

SEC("xdp")
int legacy_map_count(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	__u32 key = 2;
	__u64 *cnt;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		key = 0;
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		key = 1;

	cnt = bpf_map_lookup_elem(&l3_counts, &key);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
