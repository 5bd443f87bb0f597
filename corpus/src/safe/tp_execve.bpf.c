// SPDX-License-Identifier: GPL-2.0
/* execsnoop in miniature: on syscalls:sys_enter_execve, emit the pid, comm
 * and program path through a perf event array.
 * Features: tracepoint context described by a local struct that mirrors
 * /sys/kernel/tracing/events/syscalls/sys_enter_execve/format, a stack event
 * fully written before bpf_perf_event_output copies it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct sys_enter_execve_ctx {
	__u16 common_type;
	__u8 common_flags;
	__u8 common_preempt_count;
	__s32 common_pid;
	__s32 syscall_nr;
	__u32 pad;
	const char *filename;
	const char *const *argv;
	const char *const *envp;
};

struct exec_event {
	__u32 pid;
	__u32 uid;
	char comm[16];
	char filename[96];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} exec_events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int tp_execve(struct sys_enter_execve_ctx *ctx)
{
	struct exec_event e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_probe_read_user_str(e.filename, sizeof(e.filename), ctx->filename);
	bpf_perf_event_output(ctx, &exec_events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
