// SPDX-License-Identifier: GPL-2.0
/* Rate-limit-free sampler configured entirely through global variables:
 * .rodata (const volatile, frozen before load), .data (initialised,
 * writable from user space at run time) and .bss (zeroed counters).
 * libbpf turns each section into a one-entry array map.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 sample_every = 100; /* .rodata */
const volatile __u32 min_len = 64;       /* .rodata */
__u32 enabled = 1;                       /* .data */
__u64 seen = 0;                          /* .bss */
__u64 sampled = 0;                       /* .bss */
__u64 last_len = 0;                      /* .bss */

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;
	__u64 n;

	if (!enabled)
		return XDP_PASS;
	n = __sync_fetch_and_add(&seen, 1);
	if (len < min_len || sample_every == 0)
		return XDP_PASS;
	if (n % sample_every == 0) {
		__sync_fetch_and_add(&sampled, 1);
		last_len = len;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
