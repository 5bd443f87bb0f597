// SPDX-License-Identifier: GPL-2.0
/* Record (pid, parent tgid, task state) of every exec'ing task, reading
 * task_struct with CO-RE so the object runs on any kernel layout.
 * Features: a minimal local task_struct marked preserve_access_index,
 * bpf_get_current_task, BPF_CORE_READ through a pointer chain, and
 * bpf_core_field_exists choosing between task->__state (5.14+) and the
 * older task->state: the branch for the missing field is dead after
 * relocation (libbpf poisons it, the kernel verifier never walks it).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	unsigned int __state;
	long state; /* pre-5.14 name */
	int pid;
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

struct task_info {
	__s32 pid;
	__s32 ppid;
	__u64 state;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct task_info);
} tasks SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int core_task(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_info info = {};
	__u32 key;

	info.pid = BPF_CORE_READ(task, pid);
	info.ppid = BPF_CORE_READ(task, real_parent, tgid);
	if (bpf_core_field_exists(task->__state))
		info.state = BPF_CORE_READ(task, __state);
	else
		info.state = BPF_CORE_READ(task, state);
	key = info.pid;
	bpf_map_update_elem(&tasks, &key, &info, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
