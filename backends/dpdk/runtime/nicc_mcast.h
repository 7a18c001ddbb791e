/* nicc's DPDK data plane: multicast with per-copy header rewrite, and a delay line.
 *
 * A multicast outcome sends one copy of the frame per member of its group, in member order, each
 * with the member's destination fields and the group's source fields written, the IPv4 checksum
 * recomputed and the UDP checksum set to 0 (nicc.compiler.groups). Members are one node's: they are
 * read at start from a groups file (--groups FILE), written by nicc:
 *
 *     group G N SRC_MAC SRC_IP SRC_UDP          the group's member count and source fields ('-': none)
 *     member G K PORT MAC IP UDP                member K of group G: its port and destination fields
 *
 * A copy is made one of two ways (--clone-min BYTES chooses by frame length; measured in
 * benchmarks/replicate.py):
 *   copy   a new mbuf holding the whole frame (rte_pktmbuf_alloc + memcpy): cheapest for small frames;
 *   clone  a small header mbuf with the 42 rewritten header bytes, chained to a clone of the payload
 *          (rte_pktmbuf_clone: an indirect mbuf sharing the original's data, no copy).
 * The last copy is the original mbuf itself, rewritten in place (a clone skips the header bytes, so
 * rewriting them never touches a copy already made).
 *
 * The delay line (--delay-us US) holds every frame the data plane sends for US microseconds before
 * it is transmitted: a relay slowed in its own data path (nicc emulate --slow-relay).
 */
#ifndef NICC_MCAST_H
#define NICC_MCAST_H

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "nicc_dp.h"

#define NICC_MAX_GROUPS 16
#define NICC_MAX_MEMBERS 4096
#define NICC_HDR 42U                        /* Ethernet + IPv4 (no options) + UDP */

struct nicc_member {
    uint16_t port;                          /* the ethdev port the copy leaves on */
    uint8_t mac[6];
    uint32_t ip;                            /* network byte order */
    uint16_t udp;                           /* network byte order */
};

struct nicc_group {
    uint32_t n;
    uint8_t rewrite, source;                /* NICC_FIELD_* masks, from the pipeline */
    uint8_t smac[6];
    uint32_t sip;
    uint16_t sudp;
    struct nicc_member *members;
};

static struct nicc_group nicc_groups[NICC_MAX_GROUPS];
static struct rte_mempool *nicc_hdr_pool;   /* header mbufs of clones */
static struct rte_mempool *nicc_clone_pool; /* indirect mbufs (no data room) */
static uint32_t nicc_clone_min = 1200;   /* frames at least this long are cloned, shorter ones copied (benchmarks/replicate.py) */

static int
nicc_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];

    if (strcmp(s, "-") == 0) {
        memset(mac, 0, 6);
        return 0;
    }
    if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

static int
nicc_parse_ip(const char *s, uint32_t *ip)
{
    struct in_addr a;

    if (strcmp(s, "-") == 0) {
        *ip = 0;
        return 0;
    }
    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *ip = a.s_addr;
    return 0;
}

/* Read a groups file; exits on a malformed line or a group the pipeline does not have. */
static void
nicc_load_groups(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256], mac[32], ip[32], udp[16];
    unsigned g, n, k, port;

    if (f == NULL)
        rte_exit(EXIT_FAILURE, "cannot read the groups file %s\n", path);
    for (uint32_t i = 0; i < nicc_pipeline.nb_groups; i++) {
        nicc_groups[i].rewrite = nicc_pipeline.groups[i].rewrite;
        nicc_groups[i].source = nicc_pipeline.groups[i].source;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "group %u %u %31s %31s %15s", &g, &n, mac, ip, udp) == 5) {
            if (g >= nicc_pipeline.nb_groups || n > nicc_pipeline.groups[g].capacity)
                rte_exit(EXIT_FAILURE, "groups file: group %u with %u members does not fit the pipeline\n", g, n);
            nicc_groups[g].n = n;
            nicc_groups[g].members = rte_zmalloc("nicc_members", sizeof(struct nicc_member) * (n ? n : 1), 0);
            if (nicc_groups[g].members == NULL || nicc_parse_mac(mac, nicc_groups[g].smac)
                || nicc_parse_ip(ip, &nicc_groups[g].sip))
                rte_exit(EXIT_FAILURE, "groups file: bad line: %s", line);
            nicc_groups[g].sudp = strcmp(udp, "-") ? htons((uint16_t)atoi(udp)) : 0;
        } else if (sscanf(line, "member %u %u %u %31s %31s %15s", &g, &k, &port, mac, ip, udp) == 6) {
            struct nicc_member *m;

            if (g >= nicc_pipeline.nb_groups || nicc_groups[g].members == NULL || k >= nicc_groups[g].n)
                rte_exit(EXIT_FAILURE, "groups file: member %u of group %u comes before its group line\n", k, g);
            m = &nicc_groups[g].members[k];
            m->port = (uint16_t)port;
            if (!rte_eth_dev_is_valid_port(m->port) || nicc_parse_mac(mac, m->mac) || nicc_parse_ip(ip, &m->ip))
                rte_exit(EXIT_FAILURE, "groups file: bad member line: %s", line);
            m->udp = strcmp(udp, "-") ? htons((uint16_t)atoi(udp)) : 0;
        } else {
            rte_exit(EXIT_FAILURE, "groups file: bad line: %s", line);
        }
    }
    fclose(f);
}

static void
nicc_mcast_init(void)
{
    nicc_hdr_pool = rte_pktmbuf_pool_create("nicc_hdr_pool", 8191, 256, 0, RTE_PKTMBUF_HEADROOM + 64,
                                            rte_socket_id());
    nicc_clone_pool = rte_pktmbuf_pool_create("nicc_clone_pool", 8191, 256, 0, 0, rte_socket_id());
    if (nicc_hdr_pool == NULL || nicc_clone_pool == NULL)
        rte_exit(EXIT_FAILURE, "Cannot create the multicast mbuf pools\n");
}

/* The IPv4 header checksum of h (20 bytes), computed afresh (the field itself is zeroed first). */
static inline void
nicc_ipv4_checksum(uint8_t *h)
{
    uint32_t sum = 0;

    h[10] = h[11] = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)h[i] << 8 | h[i + 1];
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = ~sum & 0xffff;
    h[10] = (uint8_t)(sum >> 8);
    h[11] = (uint8_t)sum;
}

/* Write member m's destination and the group's source fields into the 42 header bytes h. */
static inline void
nicc_copy_headers(uint8_t *h, const struct nicc_group *g, const struct nicc_member *m)
{
    if (!(g->rewrite | g->source))
        return;
    if (g->rewrite & NICC_FIELD_MAC)
        memcpy(h, m->mac, 6);
    if (g->rewrite & NICC_FIELD_IP)
        memcpy(h + 30, &m->ip, 4);
    if (g->rewrite & NICC_FIELD_UDP)
        memcpy(h + 36, &m->udp, 2);
    if (g->source & NICC_FIELD_MAC)
        memcpy(h + 6, g->smac, 6);
    if (g->source & NICC_FIELD_IP)
        memcpy(h + 26, &g->sip, 4);
    if (g->source & NICC_FIELD_UDP)
        memcpy(h + 34, &g->sudp, 2);
    h[40] = h[41] = 0;
    nicc_ipv4_checksum(h + 14);
}

/* One copy of m (not the last): a whole new frame, or a header mbuf chained to a clone. NULL: no mbuf. */
static inline struct rte_mbuf *
nicc_one_copy(struct rte_mbuf *m, struct rte_mempool *pool, const struct nicc_group *g,
              const struct nicc_member *mb)
{
    uint32_t len = rte_pktmbuf_data_len(m);
    struct rte_mbuf *c, *h;

    if (len < nicc_clone_min || len <= NICC_HDR) {
        c = rte_pktmbuf_alloc(pool);
        if (c == NULL)
            return NULL;
        rte_memcpy(rte_pktmbuf_mtod(c, uint8_t *), rte_pktmbuf_mtod(m, uint8_t *), len);
        c->data_len = (uint16_t)len;
        c->pkt_len = len;
        nicc_copy_headers(rte_pktmbuf_mtod(c, uint8_t *), g, mb);
        return c;
    }
    h = rte_pktmbuf_alloc(nicc_hdr_pool);
    c = rte_pktmbuf_clone(m, nicc_clone_pool);
    if (h == NULL || c == NULL) {
        rte_pktmbuf_free(h);
        rte_pktmbuf_free(c);
        return NULL;
    }
    rte_memcpy(rte_pktmbuf_mtod(h, uint8_t *), rte_pktmbuf_mtod(m, uint8_t *), NICC_HDR);
    h->data_len = NICC_HDR;
    h->pkt_len = NICC_HDR;
    nicc_copy_headers(rte_pktmbuf_mtod(h, uint8_t *), g, mb);
    rte_pktmbuf_adj(c, NICC_HDR);
    if (rte_pktmbuf_chain(h, c) != 0) {
        rte_pktmbuf_free(h);
        rte_pktmbuf_free(c);
        return NULL;
    }
    return h;
}

#endif /* NICC_MCAST_H */
