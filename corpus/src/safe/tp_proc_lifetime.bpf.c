// SPDX-License-Identifier: GPL-2.0
/* Process lifetime tracker (the libbpf-bootstrap pattern): exec stores the
 * start time per pid, exit looks it up, emits (pid, duration) through a
 * ring buffer and deletes the entry.
 * Features: two tracepoint programs sharing maps in one object, hash map
 * insert/lookup/delete, bpf_ringbuf_output (copying variant).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct exit_event {
	__u32 pid;
	__u32 pad;
	__u64 duration_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} exec_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} exits SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int tp_proc_exec(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&exec_start, &pid, &ts, BPF_ANY);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int tp_proc_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct exit_event e = {};
	__u64 *start;

	if (pid != (__u32)id)
		return 0; /* a thread, not the whole process */
	start = bpf_map_lookup_elem(&exec_start, &pid);
	if (!start)
		return 0;
	e.pid = pid;
	e.duration_ns = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&exec_start, &pid);
	bpf_ringbuf_output(&exits, &e, sizeof(e), 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
