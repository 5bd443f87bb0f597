// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (uninit-reg): hand-written BPF assembly whose drop path returns
 * r6, a callee-saved register that was never written (only r1 = ctx and
 * r10 = frame pointer are defined at entry). C cannot express this, hence
 * a naked function.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
__attribute__((naked)) int bug_uninit_reg(struct xdp_md *ctx)
{
	asm volatile(
		"r2 = *(u32 *)(r1 + 0);"   /* data */
		"r3 = *(u32 *)(r1 + 4);"   /* data_end */
		"r4 = r2;"
		"r4 += 14;"
		"if r4 > r3 goto 1f;"
		"r0 = 2;"                  /* XDP_PASS */
		"exit;"
	"1:"
		"r0 = r6;"                 /* BUG: r6 is uninitialised */
		"exit;"
		::: "memory");
}

char LICENSE[] SEC("license") = "GPL";
