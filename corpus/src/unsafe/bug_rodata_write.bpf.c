// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (readonly-map-write): writes to a `const volatile` configuration
 * variable. libbpf freezes .rodata and creates it with BPF_F_RDONLY_PROG,
 * so the program may only read it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 drop_budget = 100;

SEC("xdp")
int bug_rodata_write(struct xdp_md *ctx)
{
	if (drop_budget == 0)
		return XDP_PASS;
	/* BUG: casting away const does not make .rodata writable. */
	*(volatile __u32 *)&drop_budget = drop_budget - 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
