// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* E1 (examples/normalize.py) written by hand as an XDP program: the baseline nicc's XDP code is
 * measured against. Grows the packet with bpf_xdp_adjust_tail, then rewrites the pixels in
 * place, back to front. Payload: image_id u32, row u16, col u16, count u16 (big-endian), then
 * count RGB pixels (count <= 240, payload exactly 10 + 3 * count bytes). Output: the same header,
 * then per pixel three little-endian float16 values from per-channel tables. */
#include "xdp_udp.h"
#include "normalize_lut.h"

#define NORMALIZE_PORT 9001
#define NORMALIZE_HDR 10
#define NORMALIZE_MAX_PIXELS 240

SEC("xdp.frags")
int normalize_hand(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    __u8 *pl = data + HDR_LEN;
    __u32 zero = 0, count;
    __u64 *cnt = bpf_map_lookup_elem(&counters, &zero);
    int plen;

    if (!cnt)
        return XDP_PASS;
    plen = udp_payload_len(data, data_end, bpf_xdp_get_buff_len(ctx), NORMALIZE_PORT);
    if (plen < 0)
        return done(cnt, OUT_UNSELECTED);
    if (plen < NORMALIZE_HDR || (void *)(pl + NORMALIZE_HDR) > data_end)
        return done(cnt, OUT_MALFORMED);
    count = ld16be(pl + 8);
    if (count > NORMALIZE_MAX_PIXELS || (__u32)plen != NORMALIZE_HDR + 3 * count)
        return done(cnt, OUT_MALFORMED);
    /* room for the doubled payload (a packet that cannot grow passes unchanged) */
    if (bpf_xdp_adjust_tail(ctx, (int)(HDR_LEN + NORMALIZE_HDR + 6 * count) - (int)bpf_xdp_get_buff_len(ctx)))
        return done(cnt, OUT_UNHANDLED);
    data = (void *)(long)ctx->data;
    data_end = (void *)(long)ctx->data_end;
    pl = data + HDR_LEN;
    /* back to front: pixel i moves from 10 + 3i to 10 + 6i */
    for (__u32 k = 0; k < NORMALIZE_MAX_PIXELS && k < count; k++) {
        __u32 i = count - 1 - k;
        __u8 *px, *o;
        __u16 r, g, b;

        barrier_var(i);                 /* keep clang from folding the bound the verifier needs */
        if (i >= NORMALIZE_MAX_PIXELS)
            break;
        px = pl + NORMALIZE_HDR + 3 * i;
        o = pl + NORMALIZE_HDR + 6 * i;
        if ((void *)(px + 3) > data_end || (void *)(o + 6) > data_end)
            return done(cnt, OUT_UNHANDLED);
        r = norm_lut[0][px[0]];
        g = norm_lut[1][px[1]];
        b = norm_lut[2][px[2]];
        st16le(o, r);
        st16le(o + 2, g);
        st16le(o + 4, b);
    }
    if (udp_rewrite(ctx, NORMALIZE_HDR + 6 * count))
        return done(cnt, OUT_UNHANDLED);
    return done(cnt, OUT_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
