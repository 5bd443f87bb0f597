// SPDX-License-Identifier: GPL-2.0
/* UNSAFE (packet-oob): looks "one byte back" in front of the packet start
 * (e.g. hoping to find a VLAN byte the driver stripped). Offsets below
 * ctx->data are outside the packet; only data_meta..data may be read, and
 * only after a data_meta check.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bug_packet_oob_before_data(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = (void *)(long)ctx->data;

	if ((void *)(p + 1) > data_end)
		return XDP_PASS;
	/* BUG: p[-1] is one byte before the packet start. */
	return p[-1] == 0x81 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
