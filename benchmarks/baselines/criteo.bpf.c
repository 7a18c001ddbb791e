// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* E2 (examples/criteo.py) written by hand as an XDP program: the baseline nicc's XDP code is
 * measured against. Reads and rewrites the packet in place, then trims it with
 * bpf_xdp_adjust_tail. Payload (157 bytes): label u8, 13 dense u32, 26 categorical u32
 * (big-endian); label > 1 drops. Output (118 bytes): label, 13 buckets (the bit length of x: how
 * many of 1, 2, 4, ..., 2^31 are <= x), 26 little-endian crc32(4 bytes) & (2^20 - 1). */
#include "xdp_udp.h"
#include "crc32_table.h"

#define CRITEO_PORT 9002
#define CRITEO_IN_LEN 157
#define CRITEO_OUT_LEN 118

/* The kernel's generic fls(): position of the highest set bit, 0 for 0. */
static __always_inline __u32 fls32(__u32 x)
{
    __u32 r = 32;

    if (!x)
        return 0;
    if (!(x & 0xffff0000U)) { x <<= 16; r -= 16; }
    if (!(x & 0xff000000U)) { x <<= 8; r -= 8; }
    if (!(x & 0xf0000000U)) { x <<= 4; r -= 4; }
    if (!(x & 0xc0000000U)) { x <<= 2; r -= 2; }
    if (!(x & 0x80000000U)) { r -= 1; }
    return r;
}

/* zlib's crc32 of 4 bytes, one table lookup per byte */
static __always_inline __u32 crc32_4(const __u8 *p)
{
    __u32 c = 0xffffffffU;

    for (int i = 0; i < 4; i++)
        c = crc32_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return ~c;
}

SEC("xdp.frags")
int criteo_hand(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u8 *pl = data + HDR_LEN;
    __u32 zero = 0;
    __u64 *cnt = bpf_map_lookup_elem(&counters, &zero);
    int plen;

    if (!cnt)
        return XDP_PASS;
    plen = udp_payload_len(data, data_end, bpf_xdp_get_buff_len(ctx), CRITEO_PORT);
    if (plen < 0)
        return done(cnt, OUT_UNSELECTED);
    if (plen != CRITEO_IN_LEN || (void *)(pl + CRITEO_IN_LEN) > data_end)
        return done(cnt, OUT_MALFORMED);
    if (pl[0] > 1)
        return done(cnt, OUT_DROP);
    /* in place, front to back: each output lies before the inputs still to be read */
    for (int i = 0; i < 13; i++)
        pl[1 + i] = (__u8)fls32(ld32be(pl + 1 + 4 * i));
    for (int i = 0; i < 26; i++)
        st32le(pl + 14 + 4 * i, crc32_4(pl + 53 + 4 * i) & 0xfffff);
    if (bpf_xdp_adjust_tail(ctx, (int)(HDR_LEN + CRITEO_OUT_LEN) - (int)bpf_xdp_get_buff_len(ctx)))
        return done(cnt, OUT_UNHANDLED);
    if (udp_rewrite(ctx, CRITEO_OUT_LEN))
        return done(cnt, OUT_UNHANDLED);
    return done(cnt, OUT_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
