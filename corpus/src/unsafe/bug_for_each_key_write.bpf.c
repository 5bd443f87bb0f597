// SPDX-License-Identifier: GPL-2.0
/* BUG: the bpf_for_each_map_elem callback writes through its key pointer. In a
 * hash map the key is the element's own key inside the table: changing it
 * corrupts the table (the element is now filed under the wrong hash). Linux
 * refuses writes to PTR_TO_MAP_KEY.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} flows SEC(".maps");

static long renumber(void *map, __u32 *key, __u64 *val, void *ctx)
{
	*key = 0; /* the bug */
	return 0;
}

SEC("tc")
int bug_for_each_key_write(struct __sk_buff *skb)
{
	bpf_for_each_map_elem(&flows, renumber, 0, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
