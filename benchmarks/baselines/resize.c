/* E4 (examples/resize.py) written by hand: the baseline nicc's DPDK code is measured against.
 *
 * Same contract as the generated resize_process (resize_process.h): the frame pkt[0, len) is
 * rewritten in place (pkt[0, room) may be written), *out_len is its new length, the return value
 * a NICC_* verdict. Payload: image_id u32, row u16, x0 u16, n u16 (big-endian), then n RGB pixels
 * of source row `row`, columns x0 .. x0 + n - 1, as tiles [0, 321) and [320, 640) in order. A tile
 * whose source row completes an output row leaves as image_id u32, out_row u16, out_x0 u16, n u16,
 * then its 112 output pixels (cv2.resize 640x480 -> 224x224, INTER_LINEAR_EXACT); others are
 * dropped; a malformed or out-of-sequence tile passes unchanged and leaves the record as it was.
 *
 * Written as one would for AVX-512 VBMI by hand: the row after the horizontal pass stays
 * interleaved like the pixels (r, g, b per output column), so a step is 32 lanes of (column,
 * channel) whatever the channel, the two source bytes of a lane are one byte-pair permute of a
 * 128-byte window of the tile, and the output bytes come out in wire order. The weights per lane
 * come from tables (resize_tables.h). The image's record is resize_process.h's: its three
 * 224-entry arrays h_r, h_g, h_b (1,344 contiguous bytes) hold that interleaved row here (each
 * variant of the bench has its own records). Without AVX-512 VBMI the same lanes run one by one. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resize_process.h"
#include "resize_tables.h"
#include "udp_frame.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define RESIZE_PORT 9004
#define RESIZE_HDR 10
#define RESIZE_LANES (3 * RESIZE_T0_N_OUT)             /* the (column, channel) lanes of a tile: 336 */
#define RESIZE_OUT_LEN (RESIZE_HDR + RESIZE_LANES)

_Static_assert(RESIZE_T0_N_OUT == RESIZE_T1_N_OUT, "both tiles determine as many output columns");
_Static_assert(offsetof(struct resize_stream_img, h_g) == offsetof(struct resize_stream_img, h_r) + 2 * RESIZE_DST_W &&
               offsetof(struct resize_stream_img, h_b) == offsetof(struct resize_stream_img, h_g) + 2 * RESIZE_DST_W,
               "the record's three planes are one 3 * 224 u16 row");

/* One lane: c0 * left + c1 * right, saturated to u16 (8 fractional bits). */
static inline uint16_t horizontal(const uint8_t *px, uint32_t byte, uint32_t lane)
{
    uint32_t v = resize_lane_c0[lane] * px[byte] + resize_lane_c1[lane] * px[byte + 3];

    return (uint16_t)(v > 0xffff ? 0xffff : v);
}

/* prev * w0 + cur * w1 with 16 fractional bits, rounded half up, saturated to u8. */
static inline uint8_t vertical(uint16_t prev, uint16_t cur, uint32_t w0, uint32_t w1)
{
    uint32_t v = (prev * w0 + cur * w1 + 32768U) >> 16;

    return (uint8_t)(v > 255 ? 255 : v);
}

/* Lanes [lane0, lane0 + count) of the row: the horizontal pass of the tile's pixel bytes px (source
 * column x0 first); if out, the vertical pass with the record's row (prev * w0 + this * w1) into
 * out; if keep, this row into the record. Each lane reads its record entry before writing it. */
static void tile_lanes(const uint8_t *px, uint32_t x0, uint32_t lane0, uint32_t count, uint16_t *row, int keep,
                       uint32_t w0, uint32_t w1, uint8_t *out)
{
    for (uint32_t l = 0; l < count; l++) {
        uint16_t h = horizontal(px, resize_lane_byte[lane0 + l] - 3 * x0, lane0 + l);

        if (out)
            out[l] = vertical(row[lane0 + l], h, w0, w1);
        if (keep)
            row[lane0 + l] = h;
    }
}

#if defined(__x86_64__)
/* as nicc's code: the CPU has AVX-512 F, BW, VL and VBMI and NICC_SIMD is not "scalar" (asked once) */
static int have_vbmi(void)
{
    static int level = -1;

    if (level < 0) {
        const char *env = getenv("NICC_SIMD");

        level = !(env != NULL && strcmp(env, "scalar") == 0) && __builtin_cpu_supports("avx512f") &&
                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                __builtin_cpu_supports("avx512vbmi");
    }
    return level;
}

/* tile_lanes, 32 lanes a step. nb: the tile's pixel bytes (3 * n). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))
static void tile_lanes_vbmi(const uint8_t *px, uint32_t nb, uint32_t x0, uint32_t lane0, uint16_t *row, int keep,
                            uint32_t w0, uint32_t w1, uint8_t *out)
{
    const __m512i x0b = _mm512_set1_epi16((short)(3 * x0));
    const __m512i vw0 = _mm512_set1_epi32((int)w0), vw1 = _mm512_set1_epi32((int)w1);
    const __m512i half = _mm512_set1_epi32(32768), u8max = _mm512_set1_epi32(255);

    for (uint32_t i = 0; i < RESIZE_LANES; i += 32) {
        const __mmask32 m = RESIZE_LANES - i >= 32 ? ~0U : (1U << (RESIZE_LANES - i)) - 1;
        const uint32_t l = lane0 + i;
        /* each lane's left byte in the tile, and the 128-byte window from lane 0's */
        const __m512i byte = _mm512_sub_epi16(_mm512_maskz_loadu_epi16(m, resize_lane_byte + l), x0b);
        const uint32_t b = (uint16_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(byte));
        const __m512i rel = _mm512_sub_epi16(byte, _mm512_set1_epi16((short)b));
        __m512i lo, hi, pair, h;

        if (_mm512_mask_cmpgt_epu16_mask(m, rel, _mm512_set1_epi16(124)) != 0 || b > nb) {
            tile_lanes(px, x0, l, RESIZE_LANES - i < 32 ? RESIZE_LANES - i : 32, row, keep, w0, w1,
                       out ? out + i : NULL);          /* the step's bytes are not in one window */
            continue;
        }
        if (nb - b >= 128) {
            lo = _mm512_loadu_si512(px + b);
            hi = _mm512_loadu_si512(px + b + 64);
        } else {                                        /* the tile's last bytes: none read past them */
            lo = _mm512_maskz_loadu_epi8(nb - b >= 64 ? ~0ULL : (1ULL << (nb - b)) - 1, px + b);
            hi = nb - b > 64 ? _mm512_maskz_loadu_epi8((1ULL << (nb - b - 64)) - 1, px + b + 64) : _mm512_setzero_si512();
        }
        /* u16 lane = left byte | right byte (3 further) << 8 */
        pair = _mm512_permutex2var_epi8(lo, _mm512_add_epi16(_mm512_mullo_epi16(rel, _mm512_set1_epi16(0x0101)),
                                                             _mm512_set1_epi16(0x0300)), hi);
        h = _mm512_adds_epu16(
            _mm512_mullo_epi16(_mm512_maskz_loadu_epi16(m, resize_lane_c0 + l), _mm512_and_si512(pair, _mm512_set1_epi16(0xff))),
            _mm512_mullo_epi16(_mm512_maskz_loadu_epi16(m, resize_lane_c1 + l), _mm512_srli_epi16(pair, 8)));
        if (out) {
            for (int k = 0; k < 2; k++) {
                const __mmask16 mk = (__mmask16)(m >> (16 * k));
                const __m512i up = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mk, row + l + 16 * k));
                const __m512i cur = _mm512_cvtepu16_epi32(k ? _mm512_extracti64x4_epi64(h, 1) : _mm512_castsi512_si256(h));
                __m512i v = _mm512_add_epi32(_mm512_mullo_epi32(up, vw0), _mm512_mullo_epi32(cur, vw1));

                v = _mm512_min_epu32(_mm512_srli_epi32(_mm512_add_epi32(v, half), 16), u8max);
                _mm_mask_storeu_epi8(out + i + 16 * k, mk, _mm512_cvtepi32_epi8(v));
            }
        }
        if (keep)
            _mm512_mask_storeu_epi16(row + l, m, h);
    }
}
#endif

static int tile(uint8_t *pkt, uint32_t room, uint32_t *out_len, struct resize_stream_img *rec, uint32_t image_id,
                uint16_t row, uint16_t x0, uint32_t n)
{
    uint8_t *pl = pkt + HDR_LEN;
    const int second = x0 == RESIZE_T1_X0;
    const uint32_t ox0 = second ? RESIZE_T1_OUT_X0 : RESIZE_T0_OUT_X0;
    const uint16_t out_row = resize_row_out[row];
    const int keep = resize_row_keep[row] == 1;
    uint16_t *hrow = (uint16_t *)((uint8_t *)rec + offsetof(struct resize_stream_img, h_r));

    if (!(row == 0 && x0 == 0) && !(rec->image_id == image_id && rec->next_row == row && rec->next_x0 == x0))
        return NICC_MALFORMED;                          /* not the next tile of this image */
    if (out_row != RESIZE_NONE && HDR_LEN + RESIZE_OUT_LEN > room)
        return NICC_UNHANDLED;                          /* (never: the tile itself is longer) */
    if (out_row != RESIZE_NONE || keep) {
        /* the output bytes go over the pixels: lane l writes byte l, and no later lane reads below its own
         * byte l (tables.py checks), so every pixel byte is read before it is written */
        uint8_t *o = out_row != RESIZE_NONE ? pl + RESIZE_HDR : NULL;
#if defined(__x86_64__)
        if (have_vbmi())
            tile_lanes_vbmi(pl + RESIZE_HDR, 3 * n, x0, 3 * ox0, hrow, keep, resize_row_w0[row], resize_row_w1[row], o);
        else
#endif
            tile_lanes(pl + RESIZE_HDR, x0, 3 * ox0, RESIZE_LANES, hrow, keep, resize_row_w0[row], resize_row_w1[row], o);
    }
    rec->image_id = image_id;
    rec->next_row = second ? (uint16_t)(row + 1) : row;
    rec->next_x0 = second ? RESIZE_T0_X0 : RESIZE_T1_X0;
    if (out_row == RESIZE_NONE)
        return NICC_DROP;
    st16be(pl + 4, out_row);
    st16be(pl + 6, (uint16_t)ox0);
    st16be(pl + 8, RESIZE_T0_N_OUT);
    /* image_id stays as it came; the pixels are in place */
    udp_rewrite(pkt, RESIZE_OUT_LEN);
    *out_len = HDR_LEN + RESIZE_OUT_LEN;
    return NICC_PASS;
}

int resize_hand_process(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len, struct resize_state *st)
{
    uint8_t *pl = pkt + HDR_LEN;
    int32_t plen = udp_payload_len(pkt, len, RESIZE_PORT);
    struct resize_stream_img *rec;
    uint32_t n, image_id;
    uint16_t x0, row;
    int code;

    *out_len = len;
    if (plen < 0)
        return NICC_UNSELECTED;
    if (plen < RESIZE_HDR)
        return NICC_MALFORMED;
    n = ld16be(pl + 8);
    x0 = ld16be(pl + 6);
    row = ld16be(pl + 4);
    if ((uint32_t)plen != RESIZE_HDR + 3 * n || row >= RESIZE_SRC_H ||
        !(x0 == RESIZE_T0_X0 ? n == RESIZE_T0_N : x0 == RESIZE_T1_X0 && n == RESIZE_T1_N))
        return NICC_MALFORMED;
    image_id = ld32be(pl);
    rec = &st->img[image_id & 63];
    if (st->lcores != 1 && __atomic_exchange_n(&rec->busy, 1, __ATOMIC_ACQUIRE))
        return NICC_UNHANDLED;                          /* another core works on this image now */
    code = tile(pkt, room, out_len, rec, image_id, row, x0, n);
    if (st->lcores != 1)
        __atomic_store_n(&rec->busy, 0, __ATOMIC_RELEASE);
    return code;
}
