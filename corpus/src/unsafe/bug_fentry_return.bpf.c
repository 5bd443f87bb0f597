// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (bad-exit-value): an fentry program that "filters" by returning
 * 1 for the calls it does not want, as a kprobe might. The trampoline
 * ignores an fentry program's return value, and Linux requires it to be 0.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unlinks SEC(".maps");

SEC("fentry/do_unlinkat")
int BPF_PROG(bug_fentry_return, int dfd)
{
	__u32 key = 0;
	__u64 *count;

	if (dfd < 0)
		return 1; /* BUG: fentry programs must return 0 */
	count = bpf_map_lookup_elem(&unlinks, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
