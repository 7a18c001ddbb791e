/* E2 (examples/criteo.py) written by hand: the baseline nicc's DPDK code is measured against.
 *
 * Same contract as the generated criteo_process (criteo_process.h): the frame pkt[0, len) is
 * rewritten in place, *out_len is its new length, the return value a NICC_* verdict.
 * Payload (157 bytes): label u8, 13 dense u32, 26 categorical u32, all big-endian. Label > 1:
 * drop. Output (118 bytes): label, 13 buckets (how many of 1, 2, 4, ..., 2^31 are <= x, i.e. the
 * bit length of x), 26 little-endian zlib.crc32(4 big-endian bytes) & (2^20 - 1). */
#include <stdint.h>

#include "criteo_process.h"
#include "crc32_table.h"
#include "udp_frame.h"

#define CRITEO_PORT 9002
#define CRITEO_IN_LEN 157
#define CRITEO_OUT_LEN 118

/* zlib's crc32 over n bytes, one table lookup per byte */
static inline uint32_t crc32_bytes(const uint8_t *p, int n)
{
    uint32_t c = 0xffffffffU;

    while (n--)
        c = crc32_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

int criteo_hand_process(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len, struct criteo_state *st)
{
    uint8_t *pl = pkt + HDR_LEN;
    int32_t plen = udp_payload_len(pkt, len, CRITEO_PORT);

    (void)room;
    (void)st;
    *out_len = len;
    if (plen < 0)
        return NICC_UNSELECTED;
    if (plen != CRITEO_IN_LEN)
        return NICC_MALFORMED;
    if (pl[0] > 1)
        return NICC_DROP;
    /* in place, front to back: each output lies before the inputs still to be read */
    for (int i = 0; i < 13; i++) {
        uint32_t x = ld32be(pl + 1 + 4 * i);

        pl[1 + i] = x ? (uint8_t)(32 - __builtin_clz(x)) : 0;
    }
    for (int i = 0; i < 26; i++)
        st32le(pl + 14 + 4 * i, crc32_bytes(pl + 53 + 4 * i, 4) & 0xfffff);
    udp_rewrite(pkt, CRITEO_OUT_LEN);
    *out_len = HDR_LEN + CRITEO_OUT_LEN;
    return NICC_PASS;
}
