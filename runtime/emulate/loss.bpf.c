// SPDX-License-Identifier: GPL-2.0
/* Link loss for nicc emulate: drop each frame with probability NICC_LOSS_THRESHOLD / 2^32.
 *
 * Attached with tc (clsact, direct action) on the egress of every bridge port, so each
 * frame from one node to another crosses exactly one of these programs: the loss of that
 * link. The kernel has no netem here; bpf_get_prandom_u32() is the kernel's per-CPU PRNG
 * (not seedable: runs are repeatable in distribution, not frame by frame).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#ifndef NICC_LOSS_THRESHOLD
#define NICC_LOSS_THRESHOLD 0U
#endif

enum { LOSS_PASSED, LOSS_DROPPED, LOSS_SLOTS };

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, LOSS_SLOTS);
    __type(key, __u32);
    __type(value, __u64);
} loss_counts SEC(".maps");

static __always_inline void count(__u32 slot)
{
    __u64 *c = bpf_map_lookup_elem(&loss_counts, &slot);

    if (c)
        *c += 1;
}

SEC("tc")
int nicc_loss(struct __sk_buff *skb)
{
    if (bpf_get_prandom_u32() < NICC_LOSS_THRESHOLD) {
        count(LOSS_DROPPED);
        return TC_ACT_SHOT;
    }
    count(LOSS_PASSED);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
