// SPDX-License-Identifier: GPL-2.0
/* Count failed opens per process: a kretprobe on do_sys_openat2 looks at
 * the return value and bumps a per-tgid counter in a hash map.
 * Features: BPF_KRETPROBE, hash map insert-or-update, negative errno test.
 */
#define __TARGET_ARCH_x86 /* pt_regs layout: this corpus targets x86-64 kernels */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);   /* tgid */
	__type(value, __u64); /* failed opens */
} open_failures SEC(".maps");

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(kretprobe_openat2, long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *cnt;

	if (ret >= 0)
		return 0;
	cnt = bpf_map_lookup_elem(&open_failures, &tgid);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else
		bpf_map_update_elem(&open_failures, &tgid, &one, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
