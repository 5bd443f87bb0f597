// SPDX-License-Identifier: GPL-2.0
/* Sum a 16-slot per-port histogram kept in an array map value and store the
 * total in slot 0 of another map. The loop is kept as a real loop (a back
 * edge in the bytecode) with `#pragma clang loop unroll(disable)`: the
 * verifier must prove it terminates (Linux >= 5.3 bounded loops).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#define SLOTS 16

struct histogram {
	__u64 slot[SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct histogram);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} total SEC(".maps");

SEC("tc")
int tc_hist_sum(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct histogram *h;
	__u64 sum = 0, *out;

	h = bpf_map_lookup_elem(&hist, &zero);
	if (!h)
		return TC_ACT_OK;
	h->slot[skb->len & (SLOTS - 1)]++;

#pragma clang loop unroll(disable)
	for (int i = 0; i < SLOTS; i++)
		sum += h->slot[i];

	out = bpf_map_lookup_elem(&total, &zero);
	if (out)
		*out = sum;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
