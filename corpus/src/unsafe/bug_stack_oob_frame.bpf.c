// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (stack-oob): stores 8 bytes at r10 - 520, below the 512-byte BPF
 * stack frame. Clang refuses C code whose frame exceeds 512 bytes, so the
 * access is written in BPF assembly, the way hand-written or JIT-generated
 * code would produce it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bug_stack_oob_frame(struct xdp_md *ctx)
{
	/* BUG: fp-520 is 8 bytes below the bottom of the stack frame. */
	asm volatile("r1 = 0; *(u64 *)(r10 - 520) = r1;" ::: "r1", "memory");
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
