// SPDX-License-Identifier: GPL-2.0
/* Packet sampler (like samples/bpf/xdp_sample_pkts): send a small header
 * plus the first bytes of every packet to user space through a perf event
 * array. bpf_perf_event_output copies `sample_len` packet bytes itself when
 * the length is put in the upper 32 bits of flags.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SAMPLE_SIZE 64ul

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

struct sample_hdr {
	__u16 cookie;
	__u16 pkt_len;
} __attribute__((packed));

SEC("xdp")
int xdp_sample_perf(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct sample_hdr hdr;
	__u64 flags = BPF_F_CURRENT_CPU;
	__u64 len = data_end - data;

	if (data < data_end) {
		hdr.cookie = 0xdead;
		hdr.pkt_len = (__u16)len;
		if (len > SAMPLE_SIZE)
			len = SAMPLE_SIZE;
		flags |= len << 32;
		bpf_perf_event_output(ctx, &samples, flags, &hdr, sizeof(hdr));
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
