// SPDX-License-Identifier: GPL-2.0
/* Sum the byte counters of every flow in a hash map with bpf_for_each_map_elem
 * (Linux 5.13+): the kernel calls the callback once per element with the map,
 * a read-only pointer to the element's key, a pointer to its value and the
 * caller's context, so the verifier checks the callback body once.
 * Features: bpf_for_each_map_elem, key and value pointers of the iterated map,
 * a context struct on the caller's stack.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct totals {
	__u64 bytes;
	__u32 busiest;
	__u64 busiest_bytes;
};

static long add_flow(void *map, __u32 *key, struct flow_stats *val, struct totals *t)
{
	t->bytes += val->bytes;
	if (val->bytes > t->busiest_bytes) {
		t->busiest_bytes = val->bytes;
		t->busiest = *key;
	}
	return 0; /* continue */
}

SEC("tc")
int tc_flow_totals(struct __sk_buff *skb)
{
	struct totals t = {};

	bpf_for_each_map_elem(&flows, add_flow, &t, 0);
	skb->mark = t.busiest;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
