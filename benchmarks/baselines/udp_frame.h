/* Ethernet + IPv4 + UDP framing for the hand-written C baselines (plain C, no DPDK headers).
 *
 * The same rules as nicc's framing (nicc.compiler.framing): a frame is the pipeline's if it has
 * at least 42 bytes, EtherType IPv4, IPv4 without options, protocol UDP, is no fragment, goes to
 * the port, and its UDP length fits the bytes present. A rewritten frame gets IPv4 total length
 * and UDP length set, the IPv4 header checksum recomputed, UDP checksum 0, no Ethernet padding. */
#ifndef BASELINE_UDP_FRAME_H
#define BASELINE_UDP_FRAME_H

#include <stdint.h>
#include <string.h>

#define HDR_LEN 42      /* Ethernet 14 + IPv4 20 + UDP 8 */

static inline uint16_t ld16be(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ld32be(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

static inline void st16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void st16le(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);       /* x86 and arm64 hosts are little-endian */
}

static inline void st32le(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* The UDP payload length if the frame is an IPv4 UDP datagram to port, else -1. */
static inline int32_t udp_payload_len(const uint8_t *pkt, uint32_t len, uint16_t port)
{
    uint32_t ulen;

    if (len < HDR_LEN || pkt[12] != 0x08 || pkt[13] != 0x00 || pkt[14] != 0x45 || pkt[23] != 17)
        return -1;
    if ((ld16be(pkt + 20) & 0x3fff) != 0 || ld16be(pkt + 36) != port)
        return -1;
    ulen = ld16be(pkt + 38);
    if (ulen < 8 || ulen - 8 > len - HDR_LEN)
        return -1;
    return (int32_t)(ulen - 8);
}

/* Lengths and checksums for a new payload of plen bytes (already in place after the headers). */
static inline void udp_rewrite(uint8_t *pkt, uint32_t plen)
{
    uint32_t sum = 0;

    st16be(pkt + 16, (uint16_t)(20 + 8 + plen));
    pkt[24] = pkt[25] = 0;
    for (int i = 14; i < 34; i += 2)
        sum += ld16be(pkt + i);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    st16be(pkt + 24, (uint16_t)~sum);
    st16be(pkt + 38, (uint16_t)(8 + plen));
    pkt[40] = pkt[41] = 0;
}

#endif
