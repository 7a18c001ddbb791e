/* E1 (examples/normalize.py) written by hand: the baseline nicc's DPDK code is measured against.
 *
 * Same contract as the generated normalize_process (normalize_process.h): the frame pkt[0, len)
 * is rewritten in place (pkt[0, room) may be written), *out_len is its new length, the return
 * value a NICC_* verdict. Payload: image_id u32, row u16, col u16, count u16 (big-endian),
 * then count RGB pixels (count <= 240, payload exactly 10 + 3 * count bytes). Output: the same
 * 10-byte header, then per pixel three little-endian float16 values from per-channel tables. */
#include <stdint.h>

#include "normalize_process.h"
#include "normalize_lut.h"
#include "udp_frame.h"

#define NORMALIZE_PORT 9001
#define NORMALIZE_HDR 10
#define NORMALIZE_MAX_PIXELS 240

int normalize_hand_process(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len,
                           struct normalize_state *st)
{
    uint8_t *pl = pkt + HDR_LEN;
    int32_t plen = udp_payload_len(pkt, len, NORMALIZE_PORT);
    uint32_t count, olen;

    (void)st;
    *out_len = len;
    if (plen < 0)
        return NICC_UNSELECTED;
    if (plen < NORMALIZE_HDR)
        return NICC_MALFORMED;
    count = ld16be(pl + 8);
    if (count > NORMALIZE_MAX_PIXELS || (uint32_t)plen != NORMALIZE_HDR + 3 * count)
        return NICC_MALFORMED;
    olen = NORMALIZE_HDR + 6 * count;
    if (HDR_LEN + olen > room)
        return NICC_UNHANDLED;
    /* the payload doubles: in place, back to front, pixel i moves from 10 + 3i to 10 + 6i */
    for (uint32_t i = count; i-- > 0;) {
        const uint8_t *px = pl + NORMALIZE_HDR + 3 * i;
        uint8_t *o = pl + NORMALIZE_HDR + 6 * i;
        uint16_t r = norm_lut[0][px[0]], g = norm_lut[1][px[1]], b = norm_lut[2][px[2]];

        st16le(o, r);
        st16le(o + 2, g);
        st16le(o + 4, b);
    }
    udp_rewrite(pkt, olen);
    *out_len = HDR_LEN + olen;
    return NICC_PASS;
}
