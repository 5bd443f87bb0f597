// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (bad-helper-arg): meant to copy how->flags (8 bytes), but passes
 * sizeof(*how) (24 bytes) as the size, so bpf_probe_read_kernel would write
 * 16 bytes past the end of `flags` into the rest of the stack frame.
 */
#define __TARGET_ARCH_x86 /* pt_regs layout: this corpus targets x86-64 kernels */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <linux/openat2.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} open_flags SEC(".maps");

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(bug_helper_ptr_size, int dfd, const char *filename, struct open_how *how)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 flags;

	/* BUG: size 24 (sizeof(struct open_how)) > sizeof(flags) == 8. */
	if (bpf_probe_read_kernel(&flags, sizeof(*how), how))
		return 0;
	bpf_map_update_elem(&open_flags, &pid, &flags, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
