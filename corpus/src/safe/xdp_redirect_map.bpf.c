// SPDX-License-Identifier: GPL-2.0
/* Port forwarder: packets arriving on ifindex N leave through the device
 * stored at slot N of a devmap (like samples/bpf/xdp_redirect_map); slots
 * left empty fall back to XDP_PASS via the lower bits of flags.
 * Features: BPF_MAP_TYPE_DEVMAP, bpf_redirect_map, ctx->ingress_ifindex.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

SEC("xdp")
int xdp_redirect_map(struct xdp_md *ctx)
{
	__u32 in = ctx->ingress_ifindex;

	if (in >= 64)
		return XDP_PASS;
	return bpf_redirect_map(&tx_port, in, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
