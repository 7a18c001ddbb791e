/* nicc's DPDK data plane: one static runtime, built once, linked with a pipeline's NAME_process.o.
 *
 * Every lcore polls its own receive queue of the wire port in bursts, runs the pipeline on each
 * packet and sends it where its outcome says (nicc.compiler.contract), on its own transmit queues
 * (DPDK l3fwd's layout). With one lcore, packets are processed in order; with several, the NIC
 * spreads flows over the queues (RSS, or the kernel's fanout for net_af_packet) and each queue keeps
 * its order. State persists across packets and is shared by the lcores: the generated code updates
 * it with atomic operations (compare-and-exchange for update_if), as the XDP target does. Counters
 * are kept per lcore and summed at exit.
 *
 *   outcome                               port
 *   ------------------------------------  -----------------------------------------
 *   pass                                  host port (--host, default 1) TX
 *   malformed, unselected, unhandled      host port, frame unchanged
 *   transmit                              wire port (--wire, default 0) TX
 *   drop                                  none: the mbuf is freed
 *   multicast                             one copy per member of its group, each on the member's port
 *                                         (nicc_mcast.h: members from --groups FILE)
 *
 * Frames up to NICC_MAX_FRAME bytes sit in one mbuf; a longer frame arrives as an mbuf chain and
 * passes to the host unchanged as "unhandled", as does a frame whose new length does not fit its
 * mbuf. With a single port, host = wire. Options after the EAL's "--":
 *   --count N      stop after N packets        --idle-ms MS  stop after MS ms without packets
 *   --log FILE     one outcome byte per packet --ts FILE     timestamps (u64 ns, little-endian) per packet
 *   --wire P       wire port id                --host P      host port id
 *   --groups FILE  multicast members           --mlog FILE   copies per multicast packet (u16 each)
 *   --clone-min B  clone frames of B bytes or more, copy shorter ones (default 1200: benchmarks/replicate.py)
 *   --delay-us US  hold every frame sent for US microseconds (a slowed relay)
 *   --idle-sleep-us US  sleep US microseconds when there is nothing to receive or send
 *   --seconds S    stop after S seconds of receiving (and print the loop's own time)
 *   --state NAME=V start every slot of state array NAME at V (a node's own values; repeatable)
 * (--log, --mlog and --ts need one lcore: they follow the packets' order.)
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
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_spinlock.h>

#include "nicc_dp.h"
#include "nicc_mcast.h"

#define NICC_NB_MBUFS 4095
#define NICC_MBUF_CACHE 250
#define NICC_MBUF_SIZE (NICC_MAX_FRAME + RTE_PKTMBUF_HEADROOM)
#define NICC_BURST 32
#define NICC_RX_DESC 1024
#define NICC_TX_DESC 1024
#define NICC_TX_RETRIES 64
#define NICC_MAX_QUEUES 16
#define NICC_MAX_PORTS 8                   /* ports the data plane sends on */
#define NICC_TXBUF 256                     /* frames staged per port before a transmit burst */
#define NICC_DELAY_SLOTS 65536             /* frames the delay line holds */

static const char *const nicc_outcome_names[NICC_NB_OUTCOMES] = {
    "pass", "transmit", "drop", "multicast", "malformed", "unselected", "unhandled", "host",
};

/* What one lcore counts (summed over lcores when printed); a cache line each. */
struct nicc_lcore_stats {
    uint64_t rx;
    uint64_t outcomes[NICC_NB_OUTCOMES];
    uint64_t tx[RTE_MAX_ETHPORTS];
    uint64_t tx_dropped[RTE_MAX_ETHPORTS];
} __rte_cache_aligned;

/* A frame held by the delay line until its time. */
struct nicc_delayed {
    struct rte_mbuf *m;
    uint64_t due;                           /* TSC */
    uint16_t port;
};

/* One lcore's queues: it receives on rxq of the wire port and sends on txq of each port. */
struct nicc_lcore {
    unsigned lcore;
    uint16_t rxq;
    uint16_t txq;
    struct nicc_lcore_stats stats;
    struct rte_mbuf *txb[NICC_MAX_PORTS][NICC_TXBUF];   /* frames staged per port */
    uint16_t ntx[NICC_MAX_PORTS];
    struct nicc_delayed *delay;             /* the delay line (a ring), when --delay-us */
    uint32_t dhead, dtail;
    uint64_t copy_failed;                   /* multicast copies without an mbuf */
};

static volatile bool nicc_force_quit;
static void *nicc_st;                        /* the pipeline's state (begins with uint64_t now_ns) */
static struct nicc_lcore nicc_lcores[RTE_MAX_LCORE];
static unsigned nicc_nb_lcores;
static uint16_t nicc_nb_txq[RTE_MAX_ETHPORTS];
static rte_spinlock_t nicc_txq_lock[RTE_MAX_ETHPORTS][NICC_MAX_QUEUES];   /* when lcores share a queue */
static uint64_t nicc_rx_total;               /* packets taken, all lcores (atomic) */

static uint64_t nicc_count;                  /* stop after this many packets (0: no limit) */
static uint64_t nicc_idle_ms;                /* stop after this long without packets (0: never) */
static FILE *nicc_log;                       /* outcome log */
static uint64_t *nicc_ts;                    /* timestamps per packet */
static uint64_t nicc_nb_ts;
static uint16_t nicc_wire_port;
static uint16_t nicc_host_port = 1;
static const char *nicc_groups_path;         /* multicast members */
static FILE *nicc_mlog;                      /* copies per multicast packet */
static uint64_t nicc_delay_tsc;              /* the delay line's hold, in TSC cycles (0: none) */
static uint64_t nicc_idle_sleep_us;
static double nicc_seconds;                  /* stop after this long (0: no limit) */
static struct rte_mempool *nicc_pool;
static uint64_t nicc_loop_start, nicc_loop_end;   /* TSC: first packet in, last loop round */
#define NICC_MAX_STATE_ARGS 16
static const char *nicc_state_args[NICC_MAX_STATE_ARGS];   /* --state NAME=VALUE */
static unsigned nicc_nb_state_args;

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
           "    [--wire PORT] [--host PORT] [--groups FILE] [--mlog FILE] [--clone-min BYTES]\n"
           "    [--delay-us US] [--idle-sleep-us US] [--seconds S]\n", prog);
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
        {"groups", required_argument, NULL, 'g'},
        {"mlog", required_argument, NULL, 'm'},
        {"clone-min", required_argument, NULL, 'k'},
        {"delay-us", required_argument, NULL, 'd'},
        {"idle-sleep-us", required_argument, NULL, 's'},
        {"seconds", required_argument, NULL, 'S'},
        {"state", required_argument, NULL, 'V'},
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
        case 'g':
            nicc_groups_path = optarg;
            break;
        case 'm':
            nicc_mlog = fopen(optarg, "wb");
            if (nicc_mlog == NULL)
                rte_exit(EXIT_FAILURE, "cannot open %s: %s\n", optarg, strerror(errno));
            break;
        case 'k':
            nicc_clone_min = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'd':
            nicc_delay_tsc = strtoull(optarg, NULL, 10) * rte_get_tsc_hz() / 1000000;
            break;
        case 's':
            nicc_idle_sleep_us = strtoull(optarg, NULL, 10);
            break;
        case 'S':
            nicc_seconds = strtod(optarg, NULL);
            break;
        case 'V':
            if (nicc_nb_state_args < NICC_MAX_STATE_ARGS)
                nicc_state_args[nicc_nb_state_args++] = optarg;
            break;
        default:
            nicc_usage(argv[0]);
            rte_exit(EXIT_FAILURE, "invalid arguments\n");
        }
    }
}

/* As many queue pairs as lcores (as the device allows: lcores beyond its receive queues stay idle,
 * lcores beyond its transmit queues share them under a lock); RSS over IP and UDP where the device
 * has it; jumbo frames up to NICC_MAX_FRAME. */
static int
nicc_port_init(uint16_t port, struct rte_mempool *pool, uint16_t nb_lcores)
{
    struct rte_eth_conf port_conf;
    struct rte_eth_dev_info dev_info;
    uint16_t nb_rxd = NICC_RX_DESC;
    uint16_t nb_txd = NICC_TX_DESC;
    uint16_t nb_rxq, nb_txq;
    int ret;

    if (!rte_eth_dev_is_valid_port(port))
        return -1;
    memset(&port_conf, 0, sizeof(port_conf));
    ret = rte_eth_dev_info_get(port, &dev_info);
    if (ret != 0)
        return ret;
    nb_rxq = RTE_MIN(nb_lcores, RTE_MIN(dev_info.max_rx_queues, NICC_MAX_QUEUES));
    nb_txq = RTE_MIN(nb_lcores, RTE_MIN(dev_info.max_tx_queues, NICC_MAX_QUEUES));
    if (nb_rxq > 1 && (dev_info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP))) {
        port_conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        port_conf.rx_adv_conf.rss_conf.rss_hf = dev_info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
    }
    if (dev_info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER)
        port_conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;     /* longer frames arrive as chains */
    if (dev_info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS)
        port_conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    ret = rte_eth_dev_configure(port, nb_rxq, nb_txq, &port_conf);
    if (ret != 0)
        return ret;
    ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    if (ret != 0)
        return ret;
    for (uint16_t q = 0; q < nb_rxq; q++) {
        ret = rte_eth_rx_queue_setup(port, q, nb_rxd, rte_eth_dev_socket_id(port), NULL, pool);
        if (ret < 0)
            return ret;
    }
    for (uint16_t q = 0; q < nb_txq; q++) {
        ret = rte_eth_tx_queue_setup(port, q, nb_txd, rte_eth_dev_socket_id(port), NULL);
        if (ret < 0)
            return ret;
        rte_spinlock_init(&nicc_txq_lock[port][q]);
    }
    nicc_nb_txq[port] = nb_txq;
    ret = rte_eth_dev_start(port);
    if (ret < 0)
        return ret;
    rte_eth_promiscuous_enable(port);   /* not every PMD has it: ignore the result */
    return nb_rxq;
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
    if ((unsigned)NICC_OUTCOME(code) >= NICC_NB_OUTCOMES
        || (NICC_OUTCOME(code) == NICC_MULTICAST && NICC_GROUP(code) >= nicc_pipeline.nb_groups))
        rte_exit(EXIT_FAILURE, "%s: the pipeline returned outcome %d\n", nicc_pipeline.name, code);
    if (out_len != rte_pktmbuf_data_len(m)) {
        m->data_len = (uint16_t)out_len;
        m->pkt_len = out_len;
    }
    return code;
}

static void
nicc_send(struct nicc_lcore *lc, uint16_t port, struct rte_mbuf **pkts, uint16_t n)
{
    uint16_t q = lc->txq % nicc_nb_txq[port], sent = 0;
    bool shared = nicc_nb_txq[port] < nicc_nb_lcores;
    unsigned tries = 0;

    if (shared)
        rte_spinlock_lock(&nicc_txq_lock[port][q]);
    while (sent < n && tries++ < NICC_TX_RETRIES)
        sent += rte_eth_tx_burst(port, q, pkts + sent, n - sent);
    if (shared)
        rte_spinlock_unlock(&nicc_txq_lock[port][q]);
    lc->stats.tx[port] += sent;
    if (unlikely(sent < n)) {
        lc->stats.tx_dropped[port] += n - sent;
        rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    }
}

/* Transmit what is staged for port p. */
static inline void
nicc_flush(struct nicc_lcore *lc, uint16_t p)
{
    if (lc->ntx[p]) {
        nicc_send(lc, p, lc->txb[p], lc->ntx[p]);
        lc->ntx[p] = 0;
    }
}

static inline void
nicc_stage(struct nicc_lcore *lc, uint16_t p, struct rte_mbuf *m)
{
    lc->txb[p][lc->ntx[p]++] = m;
    if (lc->ntx[p] == NICC_TXBUF)
        nicc_flush(lc, p);
}

/* A frame on its way out of port p: staged now, or held by the delay line. */
static inline void
nicc_out(struct nicc_lcore *lc, uint16_t p, struct rte_mbuf *m)
{
    if (unlikely(p >= NICC_MAX_PORTS)) {
        rte_pktmbuf_free(m);
        lc->stats.tx_dropped[p]++;
        return;
    }
    if (nicc_delay_tsc == 0) {
        nicc_stage(lc, p, m);
        return;
    }
    if (lc->dtail - lc->dhead == NICC_DELAY_SLOTS) {        /* full: the oldest goes now */
        struct nicc_delayed *d = &lc->delay[lc->dhead++ % NICC_DELAY_SLOTS];

        nicc_stage(lc, d->port, d->m);
    }
    lc->delay[lc->dtail % NICC_DELAY_SLOTS] = (struct nicc_delayed){m, rte_rdtsc() + nicc_delay_tsc, p};
    lc->dtail++;
}

/* Stage the delayed frames whose time has come; transmit everything staged. Returns the TSC of the next
 * frame due (0: none held). */
static inline uint64_t
nicc_drain(struct nicc_lcore *lc)
{
    uint64_t now = rte_rdtsc(), next = 0;

    while (lc->dhead != lc->dtail) {
        struct nicc_delayed *d = &lc->delay[lc->dhead % NICC_DELAY_SLOTS];

        if (d->due > now) {
            next = d->due;
            break;
        }
        nicc_stage(lc, d->port, d->m);
        lc->dhead++;
    }
    for (uint16_t p = 0; p < NICC_MAX_PORTS; p++)
        nicc_flush(lc, p);
    return next;
}

/* A multicast of m to group g: a copy per member in member order, the last one m itself. Returns the
 * copies made. */
static inline uint32_t
nicc_multicast(struct nicc_lcore *lc, struct rte_mbuf *m, uint32_t g)
{
    const struct nicc_group *grp = &nicc_groups[g];
    uint32_t made = 0;

    if (grp->n == 0) {
        rte_pktmbuf_free(m);
        return 0;
    }
    for (uint32_t k = 0; k + 1 < grp->n; k++) {
        struct rte_mbuf *c = nicc_one_copy(m, nicc_pool, grp, &grp->members[k]);

        if (unlikely(c == NULL)) {
            lc->copy_failed++;
            continue;
        }
        nicc_out(lc, grp->members[k].port, c);
        made++;
    }
    nicc_copy_headers(rte_pktmbuf_mtod(m, uint8_t *), grp, &grp->members[grp->n - 1]);
    nicc_out(lc, grp->members[grp->n - 1].port, m);
    return made + 1;
}

/* One lcore's loop: burst in, run the pipeline on each packet, send each where its outcome says. */
static int
nicc_lcore_loop(void *arg)
{
    struct nicc_lcore *lc = arg;
    struct rte_mbuf *rx[NICC_BURST];
    uint8_t log[NICC_BURST];
    uint16_t mlog[NICC_BURST];
    const uint16_t wire = nicc_wire_port, host = nicc_host_port;
    const uint64_t idle = nicc_idle_ms * rte_get_tsc_hz() / 1000;
    const uint64_t stop = nicc_seconds > 0 ? (uint64_t)(nicc_seconds * rte_get_tsc_hz()) : 0;
    uint64_t last = rte_rdtsc(), first = 0;

    if (nicc_delay_tsc) {
        lc->delay = rte_zmalloc("nicc_delay", sizeof(struct nicc_delayed) * NICC_DELAY_SLOTS, 0);
        if (lc->delay == NULL)
            rte_exit(EXIT_FAILURE, "Cannot allocate the delay line\n");
    }
    while (!nicc_force_quit) {
        uint16_t want = NICC_BURST, nb_rx, nm = 0;
        uint64_t seq, next;

        if (nicc_count) {
            uint64_t done = __atomic_load_n(&nicc_rx_total, __ATOMIC_RELAXED);

            if (done >= nicc_count)
                break;
            if (nicc_nb_lcores == 1 && nicc_count - done < want)
                want = (uint16_t)(nicc_count - done);
        }
        nb_rx = rte_eth_rx_burst(wire, lc->rxq, rx, want);
        if (nb_rx == 0) {
            next = nicc_drain(lc);
            if (stop && first && rte_rdtsc() - first > stop)
                break;
            if (idle && rte_rdtsc() - last > idle && lc->dhead == lc->dtail)
                break;
            if (nicc_idle_sleep_us) {
                uint64_t us = nicc_idle_sleep_us, now = rte_rdtsc();

                if (next && next > now && (next - now) * 1000000 / rte_get_tsc_hz() < us)
                    us = (next - now) * 1000000 / rte_get_tsc_hz();
                if (!next || next > now)
                    rte_delay_us_sleep((unsigned)us);
            }
            continue;
        }
        last = rte_rdtsc();
        if (first == 0)
            first = nicc_loop_start = last;
        seq = __atomic_fetch_add(&nicc_rx_total, nb_rx, __ATOMIC_RELAXED);
        lc->stats.rx += nb_rx;
        if (nicc_ts == NULL)
            nicc_set_now(nicc_now_ns());
        for (uint16_t i = 0; i < nb_rx; i++) {
            int code;

            if (nicc_ts != NULL)
                nicc_set_now(seq + i < nicc_nb_ts ? nicc_ts[seq + i] : 0);
            code = nicc_handle(&rx[i]);
            log[i] = (uint8_t)NICC_OUTCOME(code);
            lc->stats.outcomes[NICC_OUTCOME(code)]++;
            switch (NICC_OUTCOME(code)) {
            case NICC_TRANSMIT:
                nicc_out(lc, wire, rx[i]);
                break;
            case NICC_DROP:
                rte_pktmbuf_free(rx[i]);
                break;
            case NICC_MULTICAST:
                mlog[nm++] = (uint16_t)nicc_multicast(lc, rx[i], NICC_GROUP(code));
                break;
            default:        /* pass, and the outcomes that pass the frame unchanged */
                nicc_out(lc, host, rx[i]);
                break;
            }
        }
        nicc_drain(lc);
        nicc_loop_end = rte_rdtsc();
        if (nicc_log != NULL && fwrite(log, 1, nb_rx, nicc_log) != nb_rx)
            rte_exit(EXIT_FAILURE, "cannot write the outcome log\n");
        if (nicc_mlog != NULL && nm && fwrite(mlog, sizeof(mlog[0]), nm, nicc_mlog) != nm)
            rte_exit(EXIT_FAILURE, "cannot write the multicast log\n");
        if (stop && rte_rdtsc() - first > stop)
            break;
    }
    while (lc->dhead != lc->dtail) {                        /* what the delay line still holds goes out */
        rte_delay_us_sleep(100);
        nicc_drain(lc);
    }
    nicc_drain(lc);
    return 0;
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
    uint64_t v[NICC_NB_OUTCOMES] = {0}, rx = 0, tx[RTE_MAX_ETHPORTS] = {0}, dropped[RTE_MAX_ETHPORTS] = {0};
    uint64_t tx_frames = 0;
    uint16_t port;
    bool first = true;

    for (unsigned k = 0; k < nicc_nb_lcores; k++) {
        const struct nicc_lcore_stats *s = &nicc_lcores[k].stats;

        rx += s->rx;
        for (int o = 0; o < NICC_NB_OUTCOMES; o++)
            v[o] += s->outcomes[o];
        for (int p = 0; p < RTE_MAX_ETHPORTS; p++) {
            tx[p] += s->tx[p];
            dropped[p] += s->tx_dropped[p];
        }
    }
    RTE_ETH_FOREACH_DEV(port)
        tx_frames += tx[port];
    uint64_t copy_failed = 0;

    for (unsigned k = 0; k < nicc_nb_lcores; k++)
        copy_failed += nicc_lcores[k].copy_failed;
    printf("{\"pipeline\": \"%s\", \"lcores\": %u, \"rx\": %" PRIu64, nicc_pipeline.name, nicc_nb_lcores, rx);
    for (int k = 0; k < NICC_NB_OUTCOMES; k++)
        printf(", \"%s\": %" PRIu64, nicc_outcome_names[k],
               k == NICC_PASS ? v[NICC_PASS] + v[NICC_MALFORMED] + v[NICC_UNSELECTED] + v[NICC_UNHANDLED] + v[NICC_HOST]
               : v[k]);
    printf(", \"tx_frames\": %" PRIu64 ", \"rx_kernel_dropped\": %" PRIu64 ", \"copy_failed\": %" PRIu64
           ", \"loop_ns\": %" PRIu64 ", \"ports\": [", tx_frames, nicc_kernel_dropped(), copy_failed,
           nicc_loop_end > nicc_loop_start ? (nicc_loop_end - nicc_loop_start) * 1000000000ULL / rte_get_tsc_hz() : 0);
    RTE_ETH_FOREACH_DEV(port) {
        char dev[RTE_ETH_NAME_MAX_LEN] = "";
        struct rte_eth_stats es;
        uint64_t port_rx = rte_eth_stats_get(port, &es) == 0 ? es.ipackets : 0;

        rte_eth_dev_get_name_by_port(port, dev);
        printf("%s{\"port\": %u, \"name\": \"%s\", \"role\": \"%s\", \"rx\": %" PRIu64 ", \"tx\": %" PRIu64
               ", \"tx_dropped\": %" PRIu64 "}", first ? "" : ", ", port, dev,
               port == nicc_wire_port ? (port == nicc_host_port ? "wire+host" : "wire")
               : (port == nicc_host_port ? "host" : "unused"),
               port == nicc_wire_port ? rx : port_rx, tx[port], dropped[port]);
        first = false;
    }
    printf("]}\n");
    fflush(stdout);
}

/* --state NAME=VALUE: every slot of state array NAME starts at VALUE (after the pipeline's own init). */
static void
nicc_load_states(void)
{
    for (unsigned a = 0; a < nicc_nb_state_args; a++) {
        const char *arg = nicc_state_args[a], *eq = strchr(arg, '=');
        uint32_t k;

        for (k = 0; eq != NULL && k < nicc_pipeline.nb_states; k++)
            if (strlen(nicc_pipeline.states[k].name) == (size_t)(eq - arg)
                && strncmp(nicc_pipeline.states[k].name, arg, (size_t)(eq - arg)) == 0)
                break;
        if (eq == NULL || k == nicc_pipeline.nb_states)
            rte_exit(EXIT_FAILURE, "--state %s: no such state array in pipeline %s\n", arg, nicc_pipeline.name);
        {
            const struct nicc_state_desc *d = &nicc_pipeline.states[k];
            uint64_t v = strtoull(eq + 1, NULL, 0);
            uint8_t *base = (uint8_t *)nicc_st + d->offset;

            for (uint32_t i = 0; i < d->size; i++)
                memcpy(base + (size_t)i * d->elem_size, &v, d->elem_size);      /* little-endian host */
        }
    }
}

/* Whether some multicast member sends on port p (so the port must be started). */
static bool
nicc_port_is_member(uint16_t p)
{
    for (uint32_t g = 0; g < nicc_pipeline.nb_groups; g++)
        for (uint32_t k = 0; k < nicc_groups[g].n; k++)
            if (nicc_groups[g].members[k].port == p)
                return true;
    return false;
}

int
main(int argc, char **argv)
{
    struct rte_mempool *pool;
    uint16_t port;
    unsigned lcore;
    int ret, nb_rxq = 1;

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
    nicc_load_states();

    if (rte_eth_dev_count_avail() == 0)
        rte_exit(EXIT_FAILURE, "No Ethernet ports (give one with --vdev)\n");
    if (!rte_eth_dev_is_valid_port(nicc_wire_port))
        rte_exit(EXIT_FAILURE, "Invalid wire port %u\n", nicc_wire_port);
    if (!rte_eth_dev_is_valid_port(nicc_host_port))
        nicc_host_port = nicc_wire_port;
    nicc_nb_lcores = rte_lcore_count();
    ((struct nicc_state_head *)nicc_st)->lcores = nicc_nb_lcores;
    if (nicc_nb_lcores > 1 && (nicc_log != NULL || nicc_ts != NULL || nicc_mlog != NULL))
        rte_exit(EXIT_FAILURE, "--log, --mlog and --ts follow the packets' order: they need one lcore\n");

    pool = rte_pktmbuf_pool_create("nicc_mbuf_pool", NICC_NB_MBUFS * rte_eth_dev_count_avail() * nicc_nb_lcores,
                                   NICC_MBUF_CACHE, 0, NICC_MBUF_SIZE, rte_socket_id());
    if (pool == NULL)
        rte_exit(EXIT_FAILURE, "Cannot create mbuf pool\n");
    nicc_pool = pool;
    if (nicc_pipeline.nb_groups) {
        nicc_mcast_init();
        if (nicc_groups_path != NULL)
            nicc_load_groups(nicc_groups_path);
    }
    RTE_ETH_FOREACH_DEV(port) {
        if (port != nicc_wire_port && port != nicc_host_port && !nicc_port_is_member(port))
            continue;
        ret = nicc_port_init(port, pool, (uint16_t)nicc_nb_lcores);
        if (ret < 0)
            rte_exit(EXIT_FAILURE, "Cannot init port %" PRIu16 "\n", port);
        if (port == nicc_wire_port)
            nb_rxq = ret;
    }
    printf("%s: ready, wire port %u, host port %u, %u lcores (%d receive queues)\n", nicc_pipeline.name,
           nicc_wire_port, nicc_host_port, nicc_nb_lcores, nb_rxq);
    fflush(stdout);

    /* lcore k takes receive queue k; lcores beyond the device's queues have nothing to do */
    {
        unsigned k = 0;

        RTE_LCORE_FOREACH(lcore) {
            nicc_lcores[k].lcore = lcore;
            nicc_lcores[k].rxq = (uint16_t)k;
            nicc_lcores[k].txq = (uint16_t)k;
            k++;
        }
        for (k = 1; k < nicc_nb_lcores; k++)
            if ((int)k < nb_rxq)
                rte_eal_remote_launch(nicc_lcore_loop, &nicc_lcores[k], nicc_lcores[k].lcore);
        nicc_lcore_loop(&nicc_lcores[0]);
        if (nicc_count == 0 || nicc_nb_lcores > 1)
            nicc_force_quit = true;
        rte_eal_mp_wait_lcore();
    }

    if (nicc_log != NULL)
        fclose(nicc_log);
    if (nicc_mlog != NULL)
        fclose(nicc_mlog);
    nicc_print_counters();
    RTE_ETH_FOREACH_DEV(port) {
        if (port != nicc_wire_port && port != nicc_host_port && !nicc_port_is_member(port))
            continue;
        rte_eth_dev_stop(port);
        rte_eth_dev_close(port);
    }
    rte_eal_cleanup();
    return 0;
}
