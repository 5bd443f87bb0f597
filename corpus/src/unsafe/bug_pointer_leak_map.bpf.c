// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (pointer-leak): stores the kernel address of the packet into a map
 * value "for later"; user space can read it back and defeat KASLR.
 * Privileged Linux (CAP_PERFMON) allows this; unprivileged Linux and a
 * strict verifier must reject it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_packet SEC(".maps");

SEC("xdp")
int bug_pointer_leak_map(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *slot = bpf_map_lookup_elem(&last_packet, &key);

	if (slot)
		/* BUG: a packet pointer written into a map value. */
		*slot = (__u64)(long)ctx->data;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
