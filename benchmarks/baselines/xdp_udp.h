/* Ethernet + IPv4 + UDP framing and per-outcome counters for the hand-written XDP baselines.
 *
 * The same framing rules as nicc's (nicc.compiler.framing) and the same outcome counters as a
 * nicc XDP program keeps (one per-CPU slot per outcome), so the baselines do the same work. */
#ifndef BASELINE_XDP_UDP_H
#define BASELINE_XDP_UDP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define HDR_LEN 42      /* Ethernet 14 + IPv4 20 + UDP 8 */

/* the run contract's outcome codes (nicc.compiler.contract.CODES): the counter index of each */
enum outcome { OUT_PASS, OUT_TRANSMIT, OUT_DROP, OUT_MULTICAST, OUT_MALFORMED, OUT_UNSELECTED, OUT_UNHANDLED, OUT_COUNT };

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64[8]);
} counters SEC(".maps");

/* Count the packet and give its action: drop drops, everything else goes to the host. */
static __always_inline int done(__u64 *cnt, enum outcome o)
{
    cnt[o] += 1;
    return o == OUT_DROP ? XDP_DROP : o == OUT_TRANSMIT ? XDP_TX : XDP_PASS;
}

static __always_inline __u16 ld16be(const __u8 *p)
{
    return (__u16)(p[0] << 8 | p[1]);
}

static __always_inline __u32 ld32be(const __u8 *p)
{
    return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

static __always_inline void st16le(__u8 *p, __u16 v)
{
    p[0] = (__u8)v;
    p[1] = (__u8)(v >> 8);
}

static __always_inline void st32le(__u8 *p, __u32 v)
{
    st16le(p, (__u16)v);
    st16le(p + 2, (__u16)(v >> 16));
}

/* The UDP payload length if the frame (frame_len bytes, of which data..data_end is the linear part)
 * is an IPv4 UDP datagram (no options, no fragment) to port, else -1. */
static __always_inline int udp_payload_len(void *data, void *data_end, __u32 frame_len, __u16 port)
{
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __u32 ulen;

    if ((void *)(udp + 1) > data_end)
        return -1;
    if (eth->h_proto != bpf_htons(ETH_P_IP) || *(__u8 *)ip != 0x45 || ip->protocol != IPPROTO_UDP)
        return -1;
    if ((ip->frag_off & bpf_htons(0x3fff)) || udp->dest != bpf_htons(port))
        return -1;
    ulen = bpf_ntohs(udp->len);
    if (ulen < 8 || ulen - 8 > frame_len - HDR_LEN)
        return -1;
    return (int)(ulen - 8);
}

/* Lengths and checksums for a new payload of plen bytes, after bpf_xdp_adjust_tail. */
static __always_inline int udp_rewrite(struct xdp_md *ctx, __u32 plen)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct iphdr *ip = data + sizeof(struct ethhdr);
    struct udphdr *udp = (void *)(ip + 1);
    __u16 *w = (__u16 *)ip;
    __u32 sum = 0;

    if ((void *)(udp + 1) > data_end)
        return -1;
    ip->tot_len = bpf_htons(20 + 8 + plen);
    ip->check = 0;
    for (int i = 0; i < 10; i++)
        sum += w[i];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    ip->check = (__u16)~sum;
    udp->len = bpf_htons(8 + plen);
    udp->check = 0;
    return 0;
}

#endif
