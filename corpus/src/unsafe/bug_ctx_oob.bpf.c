// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (ctx-oob): struct xdp_md is 24 bytes (6 x __u32). This program
 * assumes a newer field layout and reads a u32 at offset 32, past the end
 * of the context.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bug_ctx_oob(struct xdp_md *ctx)
{
	/* BUG: offset 32 is outside struct xdp_md. */
	__u32 hint = ((__u32 *)ctx)[8];

	return hint ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
