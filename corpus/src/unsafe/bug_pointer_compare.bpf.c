// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (pointer-compare): a refactoring left the header cursor compared
 * against the last byte of a stack scratch buffer instead of data_end. Ordering a
 * packet address against a stack address is meaningless and reveals address
 * bits; unprivileged Linux and a strict verifier reject it (privileged Linux
 * allows it). The packet itself is not dereferenced.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bug_pointer_compare(struct xdp_md *ctx)
{
	void *cursor = (void *)(long)ctx->data;
	char scratch[16];
	void *last = &scratch[sizeof(scratch) - 1];

	asm volatile("" : "+r"(last)); /* keep the comparison as written */
	/* BUG: packet pointer compared with a stack pointer. */
	if (cursor + 13 > last)
		return XDP_DROP;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
