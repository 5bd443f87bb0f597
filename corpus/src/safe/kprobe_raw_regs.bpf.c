// SPDX-License-Identifier: GPL-2.0
/* Count opens that request O_CREAT, reading the third argument of
 * do_sys_openat2(int dfd, const char *name, struct open_how *how) straight
 * from struct pt_regs and copying how->flags with bpf_probe_read_kernel.
 * Features: raw pt_regs kprobe (no BPF_KPROBE macro), PT_REGS_PARM3,
 * bpf_probe_read_kernel into a stack variable of exactly the right size.
 */
#define __TARGET_ARCH_x86 /* pt_regs layout: this corpus targets x86-64 kernels */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <linux/openat2.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define O_CREAT_FLAG 0100 /* octal, as in <fcntl.h> */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);   /* 0: all opens, 1: opens with O_CREAT */
	__type(value, __u64);
} creat_stats SEC(".maps");

static __always_inline void bump(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&creat_stats, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("kprobe/do_sys_openat2")
int kprobe_raw_regs(struct pt_regs *ctx)
{
	struct open_how *how = (struct open_how *)PT_REGS_PARM3(ctx);
	__u64 flags = 0;

	bump(0);
	if (bpf_probe_read_kernel(&flags, sizeof(flags), &how->flags))
		return 0;
	if (flags & O_CREAT_FLAG)
		bump(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
