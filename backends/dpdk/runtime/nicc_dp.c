/* nicc's DPDK data plane: one static runtime, built once, linked with a pipeline's NAME_process.o.
 *
 * One lcore polls the wire port in bursts, runs the pipeline on each packet in order (state
 * persists across packets) and sends it where its outcome says (nicc.compiler.contract):
 *
 *   outcome                               port
 *   ------------------------------------  -----------------------------------------
 *   pass                                  host port (--host, default 1) TX
 *   malformed, unselected, unhandled      host port, frame unchanged
 *   transmit                              wire port (--wire, default 0) TX
 *   drop                                  none: the mbuf is freed
 *
 * Frames up to NICC_MAX_FRAME bytes sit in one mbuf; a longer frame arrives as an mbuf chain and
 * passes to the host unchanged as "unhandled", as does a frame whose new length does not fit its
 * mbuf. With a single port, host = wire. Options after the EAL's "--":
 *   --count N      stop after N packets        --idle-ms MS  stop after MS ms without packets
 *   --log FILE     one outcome byte per packet --ts FILE     timestamps (u64 ns, little-endian) per packet
 *   --wire P       wire port id                --host P      host port id
 *   --bench FILE   measure the per-packet function on the frames in FILE (u32 length + bytes each)
 *   --rounds R     benchmark rounds
 * At exit one JSON line with the counters is printed to stdout.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/if_packet.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "nicc_dp.h"

#define NICC_NB_MBUFS 4095
#define NICC_MBUF_CACHE 250
#define NICC_MBUF_SIZE (NICC_MAX_FRAME + RTE_PKTMBUF_HEADROOM)
#define NICC_BURST 32
#define NICC_RX_DESC 1024
#define NICC_TX_DESC 1024
#define NICC_TX_RETRIES 64

static const char *const nicc_outcome_names[NICC_NB_OUTCOMES] = {
    "pass", "transmit", "drop", "multicast", "malformed", "unselected", "unhandled", "host",
};

struct nicc_port_stats {
    uint64_t rx;
    uint64_t tx;
    uint64_t tx_dropped;
};

static volatile bool nicc_force_quit;
static void *nicc_st;                        /* the pipeline's state (begins with uint64_t now_ns) */
static struct nicc_port_stats nicc_ports[RTE_MAX_ETHPORTS];
static uint64_t nicc_outcomes[NICC_NB_OUTCOMES];
static uint64_t nicc_rx_total;

static uint64_t nicc_count;                  /* stop after this many packets (0: no limit) */
static uint64_t nicc_idle_ms;                /* stop after this long without packets (0: never) */
static FILE *nicc_log;                       /* outcome log */
static uint64_t *nicc_ts;                    /* timestamps per packet */
static uint64_t nicc_nb_ts;
static uint16_t nicc_wire_port;
static uint16_t nicc_host_port = 1;
static const char *nicc_bench_file;
static unsigned nicc_rounds = 200;

static void
nicc_signal_handler(int signum)
{
    if (signum == SIGINT || signum == SIGTERM)
        nicc_force_quit = true;
}

static inline void
nicc_set_now(uint64_t ns)
{
    *(uint64_t *)nicc_st = ns;
}

static uint64_t
nicc_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
nicc_usage(const char *prog)
{
    printf("%s [EAL options] -- [--count N] [--idle-ms MS] [--log FILE] [--ts FILE]\n"
           "    [--wire PORT] [--host PORT] [--bench FILE [--rounds R]]\n", prog);
}

static void *
nicc_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        rte_exit(EXIT_FAILURE, "cannot read %s: %s\n", path, strerror(errno));
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        rte_exit(EXIT_FAILURE, "cannot read %s\n", path);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void
nicc_parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, 'c'},
        {"idle-ms", required_argument, NULL, 'i'},
        {"log", required_argument, NULL, 'l'},
        {"ts", required_argument, NULL, 't'},
        {"wire", required_argument, NULL, 'w'},
        {"host", required_argument, NULL, 'h'},
        {"bench", required_argument, NULL, 'b'},
        {"rounds", required_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    size_t size;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != EOF) {
        switch (opt) {
        case 'c':
            nicc_count = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            nicc_idle_ms = strtoull(optarg, NULL, 10);
            break;
        case 'l':
            nicc_log = fopen(optarg, "wb");
            if (nicc_log == NULL)
                rte_exit(EXIT_FAILURE, "cannot open %s: %s\n", optarg, strerror(errno));
            break;
        case 't':
            nicc_ts = nicc_read_file(optarg, &size);
            nicc_nb_ts = size / sizeof(uint64_t);
            break;
        case 'w':
            nicc_wire_port = (uint16_t)atoi(optarg);
            break;
        case 'h':
            nicc_host_port = (uint16_t)atoi(optarg);
            break;
        case 'b':
            nicc_bench_file = optarg;
            break;
        case 'r':
            nicc_rounds = (unsigned)atoi(optarg);
            break;
        default:
            nicc_usage(argv[0]);
            rte_exit(EXIT_FAILURE, "invalid arguments\n");
        }
    }
}

/* One queue pair per port, as in DPDK's skeleton example; jumbo frames up to NICC_MAX_FRAME. */
static int
nicc_port_init(uint16_t port, struct rte_mempool *pool)
{
    struct rte_eth_conf port_conf;
    struct rte_eth_dev_info dev_info;
    uint16_t nb_rxd = NICC_RX_DESC;
    uint16_t nb_txd = NICC_TX_DESC;
    int ret;

    if (!rte_eth_dev_is_valid_port(port))
        return -1;
    memset(&port_conf, 0, sizeof(port_conf));
    ret = rte_eth_dev_info_get(port, &dev_info);
    if (ret != 0)
        return ret;
    if (dev_info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
        port_conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;     /* longer frames arrive as chains */
    if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
        port_conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    ret = rte_eth_dev_configure(port, 1, 1, &port_conf);
    if (ret != 0)
        return ret;
    ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    if (ret != 0)
        return ret;
    ret = rte_eth_rx_queue_setup(port, 0, nb_rxd, rte_eth_dev_socket_id(port), NULL, pool);
    if (ret < 0)
        return ret;
    ret = rte_eth_tx_queue_setup(port, 0, nb_txd, rte_eth_dev_socket_id(port), NULL);
    if (ret < 0)
        return ret;
    ret = rte_eth_dev_start(port);
    if (ret < 0)
        return ret;
    rte_eth_promiscuous_enable(port);   /* not every PMD has it: ignore the result */
    return 0;
}

/* Run the pipeline on one packet; the mbuf is trimmed or grown to the frame's new length. */
static inline int
nicc_handle(struct rte_mbuf **mp)
{
    struct rte_mbuf *m;
    uint32_t out_len;
    int code;

    /* a VLAN tag the NIC (or the kernel, for net_af_packet) stripped goes back in: the pipeline sees
     * the frame as it was on the wire, and a frame that leaves unchanged is the frame that came */
    if (((*mp)->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && rte_vlan_insert(mp) != 0)
        return NICC_UNHANDLED;
    m = *mp;
    if (!rte_pktmbuf_is_contiguous(m))
        return NICC_UNHANDLED;          /* longer than NICC_MAX_FRAME: to the host, unchanged */
    code = nicc_pipeline.process(rte_pktmbuf_mtod(m, uint8_t *), rte_pktmbuf_data_len(m),
                                 (uint32_t)(m->buf_len - m->data_off), &out_len, nicc_st);
    if ((unsigned)code >= NICC_NB_OUTCOMES)
        rte_exit(EXIT_FAILURE, "%s: the pipeline returned outcome %d\n", nicc_pipeline.name, code);
    if (out_len != rte_pktmbuf_data_len(m)) {
        m->data_len = (uint16_t)out_len;
        m->pkt_len = out_len;
    }
    return code;
}

static void
nicc_send(uint16_t port, struct rte_mbuf **pkts, uint16_t n)
{
    uint16_t sent = 0;
    unsigned tries = 0;

    while (sent < n && tries++ < NICC_TX_RETRIES)
        sent += rte_eth_tx_burst(port, 0, pkts + sent, n - sent);
    nicc_ports[port].tx += sent;
    if (unlikely(sent < n)) {
        nicc_ports[port].tx_dropped += n - sent;
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
}

static void
nicc_main_loop(void)
{
    struct rte_mbuf *rx[NICC_BURST], *to_wire[NICC_BURST], *to_host[NICC_BURST];
    uint8_t log[NICC_BURST];
    const uint16_t wire = nicc_wire_port, host = nicc_host_port;
    const uint64_t idle = nicc_idle_ms * rte_get_tsc_hz() / 1000;
    uint64_t last = rte_rdtsc();

    while (!nicc_force_quit) {
        uint16_t want = NICC_BURST, nb_rx, nw = 0, nh = 0;

        if (nicc_count) {
            if (nicc_rx_total >= nicc_count)
                break;
            if (nicc_count - nicc_rx_total < want)
                want = (uint16_t)(nicc_count - nicc_rx_total);
        }
        nb_rx = rte_eth_rx_burst(wire, 0, rx, want);
        if (nb_rx == 0) {
            if (idle && rte_rdtsc() - last > idle)
                break;
            continue;
        }
        last = rte_rdtsc();
        nicc_ports[wire].rx += nb_rx;
        if (nicc_ts == NULL)
            nicc_set_now(nicc_now_ns());
        for (uint16_t i = 0; i < nb_rx; i++) {
            uint64_t seq = nicc_rx_total + i;
            int code;

            if (nicc_ts != NULL)
                nicc_set_now(seq < nicc_nb_ts ? nicc_ts[seq] : 0);
            code = nicc_handle(&rx[i]);
            log[i] = (uint8_t)code;
            nicc_outcomes[code]++;
            switch (code) {
            case NICC_TRANSMIT:
                to_wire[nw++] = rx[i];
                break;
            case NICC_DROP:
                rte_pktmbuf_free(rx[i]);
                break;
            default:        /* pass, and the outcomes that pass the frame unchanged */
                to_host[nh++] = rx[i];
                break;
            }
        }
        if (nw)
            nicc_send(wire, to_wire, nw);
        if (nh)
            nicc_send(host, to_host, nh);
        if (nicc_log != NULL && fwrite(log, 1, nb_rx, nicc_log) != nb_rx)
            rte_exit(EXIT_FAILURE, "cannot write the outcome log\n");
        nicc_rx_total += nb_rx;
    }
}

/* Frames the kernel dropped before the data plane could read them: an af_packet port's ring was full.
 * The kernel counts them per socket (PACKET_STATISTICS; reading resets them, so this is read once, at
 * exit). The af_packet PMD does not report them, so its sockets are found among this process's fds. */
static uint64_t
nicc_kernel_dropped(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    uint64_t drops = 0;

    if (dir == NULL)
        return 0;
    while ((e = readdir(dir)) != NULL) {
        int fd = atoi(e->d_name), domain;
        socklen_t len = sizeof(domain);
        struct tpacket_stats st;

        if (e->d_name[0] == '.' || fd == dirfd(dir))
            continue;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_PACKET)
            continue;
        len = sizeof(st);
        if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
            drops += st.tp_drops;
    }
    closedir(dir);
    return drops;
}

static void
nicc_print_counters(void)
{
    const uint64_t *v = nicc_outcomes;
    uint64_t tx_frames = 0;
    uint16_t port;
    bool first = true;

    RTE_ETH_FOREACH_DEV(port)
        tx_frames += nicc_ports[port].tx;
    printf("{\"pipeline\": \"%s\", \"rx\": %" PRIu64, nicc_pipeline.name, nicc_rx_total);
    for (int k = 0; k < NICC_NB_OUTCOMES; k++)
        printf(", \"%s\": %" PRIu64, nicc_outcome_names[k],
               k == NICC_PASS ? v[NICC_PASS] + v[NICC_MALFORMED] + v[NICC_UNSELECTED] + v[NICC_UNHANDLED] + v[NICC_HOST]
               : v[k]);
    printf(", \"tx_frames\": %" PRIu64 ", \"rx_kernel_dropped\": %" PRIu64 ", \"ports\": [", tx_frames,
           nicc_kernel_dropped());
    RTE_ETH_FOREACH_DEV(port) {
        char dev[RTE_ETH_NAME_MAX_LEN] = "";

        rte_eth_dev_get_name_by_port(port, dev);
        printf("%s{\"port\": %u, \"name\": \"%s\", \"role\": \"%s\", \"rx\": %" PRIu64 ", \"tx\": %" PRIu64
               ", \"tx_dropped\": %" PRIu64 "}", first ? "" : ", ", port, dev,
               port == nicc_wire_port ? (port == nicc_host_port ? "wire+host" : "wire")
               : (port == nicc_host_port ? "host" : "unused"),
               nicc_ports[port].rx, nicc_ports[port].tx, nicc_ports[port].tx_dropped);
        first = false;
    }
    printf("]}\n");
    fflush(stdout);
}

/* The benchmark: frames preloaded into mbufs, refilled from the originals before every
 * packet, run through the pipeline (and through a no-op function, the floor). */
__attribute__((noinline)) static int
nicc_noop(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len, void *st)
{
    (void)room;
    (void)st;
    *out_len = len;
    __asm__ volatile("" : : "r"(pkt) : "memory");
    return NICC_PASS;
}

static uint64_t
nicc_bench_round(nicc_process_fn fn, struct rte_mbuf **mbufs, uint8_t **frames, uint32_t *lens, uint32_t n,
                 uint64_t *outcomes)
{
    uint64_t t0 = rte_rdtsc_precise();

    for (uint32_t i = 0; i < n; i++) {
        struct rte_mbuf *m = mbufs[i];
        uint32_t out_len;
        int code;

        m->data_off = RTE_PKTMBUF_HEADROOM;
        rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *), frames[i], lens[i]);
        m->data_len = (uint16_t)lens[i];
        m->pkt_len = lens[i];
        code = fn(rte_pktmbuf_mtod(m, uint8_t *), lens[i], (uint32_t)(m->buf_len - m->data_off), &out_len,
                  nicc_st);
        m->data_len = (uint16_t)out_len;
        m->pkt_len = out_len;
        outcomes[code]++;
    }
    return rte_rdtsc_precise() - t0;
}

static void
nicc_bench(void)
{
    size_t size, off = 0;
    uint8_t *buf = nicc_read_file(nicc_bench_file, &size);
    uint32_t n = 0, cap = 1024;
    uint8_t **frames = malloc(cap * sizeof(*frames));
    uint32_t *lens = malloc(cap * sizeof(*lens));
    struct rte_mbuf **mbufs;
    struct rte_mempool *pool;
    uint64_t best = UINT64_MAX, best_floor = UINT64_MAX, outcomes[NICC_NB_OUTCOMES] = {0};
    uint64_t floor_outcomes[NICC_NB_OUTCOMES] = {0};
    double hz = (double)rte_get_tsc_hz();

    while (off + 4 <= size) {
        uint32_t len;

        memcpy(&len, buf + off, 4);
        if (off + 4 + len > size)
            rte_exit(EXIT_FAILURE, "truncated frame in %s\n", nicc_bench_file);
        if (n == cap) {
            cap *= 2;
            frames = realloc(frames, cap * sizeof(*frames));
            lens = realloc(lens, cap * sizeof(*lens));
        }
        frames[n] = buf + off + 4;
        lens[n++] = len;
        off += 4 + len;
    }
    if (n == 0)
        rte_exit(EXIT_FAILURE, "no frames in %s\n", nicc_bench_file);
    pool = rte_pktmbuf_pool_create("nicc_bench_pool", n + 64, 0, 0, NICC_MBUF_SIZE, rte_socket_id());
    mbufs = malloc(n * sizeof(*mbufs));
    if (pool == NULL || mbufs == NULL || rte_pktmbuf_alloc_bulk(pool, mbufs, n) != 0)
        rte_exit(EXIT_FAILURE, "cannot allocate %u mbufs\n", n);
    for (uint32_t i = 0; i < n; i++)
        if (lens[i] > (uint32_t)(mbufs[i]->buf_len - RTE_PKTMBUF_HEADROOM))
            rte_exit(EXIT_FAILURE, "frame %u does not fit an mbuf\n", i);
    /* warm up, then alternate pipeline and floor rounds; keep the best of each */
    nicc_bench_round(nicc_pipeline.process, mbufs, frames, lens, n, outcomes);
    nicc_bench_round(nicc_noop, mbufs, frames, lens, n, floor_outcomes);
    for (unsigned r = 0; r < nicc_rounds && !nicc_force_quit; r++) {
        uint64_t t = nicc_bench_round(nicc_pipeline.process, mbufs, frames, lens, n, outcomes);
        uint64_t f = nicc_bench_round(nicc_noop, mbufs, frames, lens, n, floor_outcomes);

        best = RTE_MIN(best, t);
        best_floor = RTE_MIN(best_floor, f);
    }
    printf("{\"pipeline\": \"%s\", \"bench\": true, \"packets\": %u, \"rounds\": %u, \"lcore\": %u"
           ", \"ns_per_packet\": %.2f, \"pps\": %.0f, \"floor_ns_per_packet\": %.2f, \"floor_pps\": %.0f",
           nicc_pipeline.name, n, nicc_rounds, rte_lcore_id(), best / hz * 1e9 / n, n / (best / hz),
           best_floor / hz * 1e9 / n, n / (best_floor / hz));
    for (int v = 0; v < NICC_NB_OUTCOMES; v++)
        printf(", \"%s\": %" PRIu64, nicc_outcome_names[v], outcomes[v]);
    printf("}\n");
    fflush(stdout);
    rte_pktmbuf_free_bulk(mbufs, n);
    rte_mempool_free(pool);
    free(mbufs);
    free(frames);
    free(lens);
    free(buf);
}

int
main(int argc, char **argv)
{
    struct rte_mempool *pool;
    uint16_t port;
    int ret;

    ret = rte_eal_init(argc, argv);
    if (ret < 0)
        rte_exit(EXIT_FAILURE, "Error with EAL initialization\n");
    argc -= ret;
    argv += ret;
    nicc_parse_args(argc, argv);

    nicc_force_quit = false;
    signal(SIGINT, nicc_signal_handler);
    signal(SIGTERM, nicc_signal_handler);
    nicc_st = rte_zmalloc("nicc_state", nicc_pipeline.state_size, RTE_CACHE_LINE_SIZE);
    if (nicc_st == NULL)
        rte_exit(EXIT_FAILURE, "Cannot allocate %zu bytes of pipeline state\n", nicc_pipeline.state_size);
    nicc_pipeline.state_init(nicc_st);

    if (nicc_bench_file != NULL) {
        nicc_bench();
        rte_eal_cleanup();
        return 0;
    }

    if (rte_eth_dev_count_avail() == 0)
        rte_exit(EXIT_FAILURE, "No Ethernet ports (give one with --vdev)\n");
    if (!rte_eth_dev_is_valid_port(nicc_wire_port))
        rte_exit(EXIT_FAILURE, "Invalid wire port %u\n", nicc_wire_port);
    if (!rte_eth_dev_is_valid_port(nicc_host_port))
        nicc_host_port = nicc_wire_port;
    if (rte_lcore_count() > 1)
        printf("%s: WARNING, too many lcores enabled: only 1 used\n", nicc_pipeline.name);

    pool = rte_pktmbuf_pool_create("nicc_mbuf_pool", NICC_NB_MBUFS * rte_eth_dev_count_avail(),
                                   NICC_MBUF_CACHE, 0, NICC_MBUF_SIZE, rte_socket_id());
    if (pool == NULL)
        rte_exit(EXIT_FAILURE, "Cannot create mbuf pool\n");
    RTE_ETH_FOREACH_DEV(port) {
        if (port != nicc_wire_port && port != nicc_host_port)
            continue;
        if (nicc_port_init(port, pool) != 0)
            rte_exit(EXIT_FAILURE, "Cannot init port %" PRIu16 "\n", port);
    }
    printf("%s: ready, wire port %u, host port %u\n", nicc_pipeline.name, nicc_wire_port, nicc_host_port);
    fflush(stdout);

    nicc_main_loop();

    if (nicc_log != NULL)
        fclose(nicc_log);
    nicc_print_counters();
    RTE_ETH_FOREACH_DEV(port) {
        if (port != nicc_wire_port && port != nicc_host_port)
            continue;
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
    }
    rte_eal_cleanup();
    return 0;
}
