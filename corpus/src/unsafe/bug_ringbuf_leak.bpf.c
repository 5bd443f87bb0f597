// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (reference-leak): a ring-buffer record is reserved, but the path
 * that filters out pid 0 returns without bpf_ringbuf_submit or
 * bpf_ringbuf_discard; the reservation is never released.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 pid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int bug_ringbuf_leak(void *ctx)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	if (e->pid == 0)
		return 0; /* BUG: should bpf_ringbuf_discard(e, 0) first */
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
