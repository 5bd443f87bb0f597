// SPDX-License-Identifier: GPL-2.0
/* opensnoop in miniature: for every do_sys_openat2() call, send the pid,
 * command name and file name to user space through a BPF ring buffer.
 * Features: BPF_KPROBE argument unpacking, bpf_ringbuf_reserve/submit (the
 * reservation is submitted on every path), bpf_probe_read_user_str.
 */
#define __TARGET_ARCH_x86 /* pt_regs layout: this corpus targets x86-64 kernels */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define TASK_COMM_LEN 16
#define NAME_LEN 128

struct open_event {
	__u32 pid;
	__s32 dfd;
	char comm[TASK_COMM_LEN];
	char filename[NAME_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} open_events SEC(".maps");

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(kprobe_openat2, int dfd, const char *filename)
{
	struct open_event *e;

	e = bpf_ringbuf_reserve(&open_events, sizeof(*e), 0);
	if (!e)
		return 0; /* buffer full: drop the event */
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->dfd = dfd;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
