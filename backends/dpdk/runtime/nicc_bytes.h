/* Unaligned loads and stores of big- and little-endian integers, for the generated per-packet
 * functions (one memcpy and at most one byte swap each, which compilers turn into a single
 * mov/movbe). Plain C, no DPDK headers. */
#ifndef NICC_BYTES_H
#define NICC_BYTES_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NICC_BE(bits, v) (v)
#define NICC_LE(bits, v) __builtin_bswap##bits(v)
#else
#define NICC_BE(bits, v) __builtin_bswap##bits(v)
#define NICC_LE(bits, v) (v)
#endif

#define NICC_LOAD_STORE(bits)                                                                     \
    static inline uint##bits##_t nicc_ld##bits##be(const uint8_t *p)                              \
    {                                                                                             \
        uint##bits##_t v;                                                                         \
        memcpy(&v, p, sizeof(v));                                                                 \
        return NICC_BE(bits, v);                                                                  \
    }                                                                                             \
    static inline uint##bits##_t nicc_ld##bits##le(const uint8_t *p)                              \
    {                                                                                             \
        uint##bits##_t v;                                                                         \
        memcpy(&v, p, sizeof(v));                                                                 \
        return NICC_LE(bits, v);                                                                  \
    }                                                                                             \
    static inline void nicc_st##bits##be(uint8_t *p, uint##bits##_t v)                            \
    {                                                                                             \
        v = NICC_BE(bits, v);                                                                     \
        memcpy(p, &v, sizeof(v));                                                                 \
    }                                                                                             \
    static inline void nicc_st##bits##le(uint8_t *p, uint##bits##_t v)                            \
    {                                                                                             \
        v = NICC_LE(bits, v);                                                                     \
        memcpy(p, &v, sizeof(v));                                                                 \
    }

NICC_LOAD_STORE(16)
NICC_LOAD_STORE(32)
NICC_LOAD_STORE(64)

/* A big-endian load of n bytes at pos of a payload of plen bytes that reads 0 past its end. */
static inline uint64_t nicc_ldb(const uint8_t *pl, uint32_t plen, uint64_t pos, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++)
        v = v << 8 | (pos + i < plen ? pl[pos + i] : 0);
    return v;
}

/* framing.rewrite for a new payload of olen bytes already after the 42 header bytes: IPv4 total
 * length and UDP length set, the IPv4 header checksum recomputed (the one's-complement sum does
 * not depend on byte order: summed as native 16-bit words, folded, stored as it was summed), the
 * UDP checksum 0. */
static inline void nicc_rewrite_headers(uint8_t *pkt, uint32_t olen)
{
    uint16_t w[10], len, c;
    uint32_t sum = 0;

    /* the header's 16-bit words are read before anything is stored into it (a load that overlaps a
     * narrower store still in flight waits for it), the new length and a zero checksum put in place */
    memcpy(w, pkt + 14, 20);
    nicc_st16be((uint8_t *)&len, (uint16_t)(28U + olen));
    w[1] = len;
    w[5] = 0;
    for (int i = 0; i < 10; i++)
        sum += w[i];
    sum = (sum & 0xffffU) + (sum >> 16);
    sum = (sum & 0xffffU) + (sum >> 16);
    c = (uint16_t)~sum;
    memcpy(pkt + 16, &len, 2);
    memcpy(pkt + 24, &c, 2);
    nicc_st16be(pkt + 38, (uint16_t)(8U + olen));
    pkt[40] = 0;
    pkt[41] = 0;
}

#endif /* NICC_BYTES_H */
