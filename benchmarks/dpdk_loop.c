/* The DPDK measurement loop of `make bench` and `nicc bench --target dpdk`.
 *
 * Built per pipeline by nicc.benchmarks.dpdk with the generated per-packet function
 * (NAME_process.c, compiled by nicc) and, where there is one, the hand-written baseline
 * (benchmarks/baselines/NAME.c, defining NAME_hand_process with the same signature):
 *
 *   gcc -O2 $(pkg-config --cflags libdpdk) -DPIPE=NAME [-DPIPE_HAND] -I GENDIR -I baselines \
 *       dpdk_loop.c GENDIR/NAME_process.c [baselines/NAME.c] $(pkg-config --libs libdpdk)
 *
 * Every variant runs in the same loop: frames preloaded into mbufs, each mbuf refilled from its
 * original frame right before the call, lengths set from *out_len after it. The floor is the same
 * loop around a function that does nothing. Rounds alternate the variants (the order rotates each
 * round), so load from other processes falls on all of them alike; each round's time per packet is
 * reported, not only the best.
 *
 * With more than one lcore (EAL --lcores), the rounds are then run again on every lcore at once,
 * each lcore on its own mbufs over all the frames, state shared (the generated code updates it
 * atomically): a round's packets/s is the sum over lcores of the frames each ran by its own time.
 *
 * Options after the EAL's "--":
 *   --frames FILE   the frames (u32 little-endian length, then the bytes; repeated)
 *   --rounds R      timed rounds per variant (default 200)
 *   --verify PREFIX before timing, run each variant once over the frames from a fresh state and
 *                   write PREFIX.VARIANT: per frame a verdict byte, u32 length, the frame after
 * Prints one JSON line: {"bench": ..., "variants": {"floor": {"ns": [...], ...}, ...},
 * "lcores": N, "multicore": {"nicc": {"ns": [...]}, ...}} (ns: 1e9 / packets per second).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

#include STR(CAT(PIPE, _process.h))

#define PIPE_STATE struct CAT(PIPE, _state)
#define MAX_VERDICTS 16
#define MAX_VARIANTS 3

typedef int (*process_fn)(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len, PIPE_STATE *st);

#ifdef PIPE_HAND
int CAT(PIPE, _hand_process)(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len, PIPE_STATE *st);
#endif

/* The floor: the loop's own cost (refill, call, length update) around a function that does nothing. */
__attribute__((noinline)) static int
copy_only(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len, PIPE_STATE *st)
{
    (void)room;
    (void)st;
    *out_len = len;
    __asm__ volatile("" : : "r"(pkt) : "memory");
    return 0;
}

struct variant {
    const char *name;
    process_fn fn;
    PIPE_STATE *st;
    uint64_t verdicts[MAX_VERDICTS];
    double *ns;                     /* ns per packet, one per round */
};

struct frames {
    uint8_t **data;
    uint32_t *len;
    uint32_t n;
};

static void *
read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf;
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

static struct frames
load_frames(const char *path)
{
    size_t size, off = 0;
    uint8_t *buf = read_file(path, &size);
    struct frames fr = {0};
    uint32_t cap = 1024;

    fr.data = malloc(cap * sizeof(*fr.data));
    fr.len = malloc(cap * sizeof(*fr.len));
    while (off + 4 <= size) {
        uint32_t len;

        memcpy(&len, buf + off, 4);
        if (off + 4 + len > size)
            rte_exit(EXIT_FAILURE, "truncated frame in %s\n", path);
        if (fr.n == cap) {
            cap *= 2;
            fr.data = realloc(fr.data, cap * sizeof(*fr.data));
            fr.len = realloc(fr.len, cap * sizeof(*fr.len));
        }
        fr.data[fr.n] = buf + off + 4;
        fr.len[fr.n++] = len;
        off += 4 + len;
    }
    if (fr.n == 0)
        rte_exit(EXIT_FAILURE, "no frames in %s\n", path);
    return fr;
}

/* One pass over the frames. */
static uint64_t
run_round(struct variant *v, struct rte_mbuf **mbufs, const struct frames *fr, FILE *out)
{
    uint64_t t0 = rte_rdtsc_precise();

    for (uint32_t i = 0; i < fr->n; i++) {
        struct rte_mbuf *m = mbufs[i];
        uint32_t out_len;
        int code;

        m->data_off = RTE_PKTMBUF_HEADROOM;
        rte_memcpy(rte_pktmbuf_mtod(m, uint8_t *), fr->data[i], fr->len[i]);
        m->data_len = (uint16_t)fr->len[i];
        m->pkt_len = fr->len[i];
        code = v->fn(rte_pktmbuf_mtod(m, uint8_t *), fr->len[i], (uint32_t)(m->buf_len - m->data_off), &out_len,
                     v->st);
        m->data_len = (uint16_t)out_len;
        m->pkt_len = out_len;
        v->verdicts[code & (MAX_VERDICTS - 1)]++;
        if (unlikely(out != NULL)) {
            uint8_t c = (uint8_t)code;

            if (fwrite(&c, 1, 1, out) != 1 || fwrite(&out_len, 4, 1, out) != 1 ||
                fwrite(rte_pktmbuf_mtod(m, uint8_t *), 1, out_len, out) != out_len)
                rte_exit(EXIT_FAILURE, "cannot write the verify output\n");
        }
    }
    return rte_rdtsc_precise() - t0;
}

/* The multi-lcore phase: every lcore runs PASSES passes of one variant over its own mbufs. */
#define MC_PASSES 4

struct mc_worker {
    struct variant v;               /* a copy: its own verdict counters, the shared fn and state */
    struct rte_mbuf **mbufs;
    const struct frames *fr;
    uint64_t cycles;
};

static int
mc_run(void *arg)
{
    struct mc_worker *w = arg;
    uint64_t t = 0;

    for (int p = 0; p < MC_PASSES; p++)
        t += run_round(&w->v, w->mbufs, w->fr, NULL);
    w->cycles = t;
    return 0;
}

static void
print_json(struct variant *vs, int nv, const struct frames *fr, unsigned rounds)
{
    printf("{\"bench\": \"%s\", \"packets\": %u, \"rounds\": %u, \"lcore\": %u, \"tsc_hz\": %" PRIu64
           ", \"variants\": {", STR(PIPE), fr->n, rounds, rte_lcore_id(), rte_get_tsc_hz());
    for (int k = 0; k < nv; k++) {
        printf("%s\"%s\": {\"verdicts\": [", k ? ", " : "", vs[k].name);
        for (int c = 0; c < MAX_VERDICTS; c++)
            printf("%s%" PRIu64, c ? ", " : "", vs[k].verdicts[c]);
        printf("], \"ns\": [");
        for (unsigned r = 0; r < rounds; r++)
            printf("%s%.3f", r ? ", " : "", vs[k].ns[r]);
        printf("]}");
    }
    printf("}");
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"frames", required_argument, NULL, 'f'},
        {"rounds", required_argument, NULL, 'r'},
        {"verify", required_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    static PIPE_STATE states[MAX_VARIANTS];
    struct variant vs[MAX_VARIANTS] = {
        {.name = "floor", .fn = copy_only},
        {.name = "nicc", .fn = CAT(PIPE, _process)},
#ifdef PIPE_HAND
        {.name = "hand", .fn = CAT(PIPE, _hand_process)},
#endif
    };
    int nv = 0, opt, ret;
    const char *frames_path = NULL, *verify = NULL;
    unsigned rounds = 200;
    struct rte_mempool *pool, *mc_pool = NULL;
    struct rte_mbuf **mbufs;
    struct frames fr;
    unsigned nl;
    double hz;

    ret = rte_eal_init(argc, argv);
    if (ret < 0)
        rte_exit(EXIT_FAILURE, "Error with EAL initialization\n");
    argc -= ret;
    argv += ret;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != EOF) {
        switch (opt) {
        case 'f':
            frames_path = optarg;
            break;
        case 'r':
            rounds = (unsigned)atoi(optarg);
            break;
        case 'v':
            verify = optarg;
            break;
        default:
            rte_exit(EXIT_FAILURE, "usage: %s [EAL options] -- --frames FILE [--rounds R] [--verify PREFIX]\n",
                     argv[0]);
        }
    }
    if (frames_path == NULL || rounds == 0)
        rte_exit(EXIT_FAILURE, "--frames FILE and --rounds R > 0 are needed\n");
    while (nv < MAX_VARIANTS && vs[nv].name != NULL)
        nv++;
    fr = load_frames(frames_path);
    pool = rte_pktmbuf_pool_create("bench_pool", fr.n + 64, 0, 0, NICC_MAX_FRAME + RTE_PKTMBUF_HEADROOM,
                                   rte_socket_id());   /* mbufs as large as the data plane's */
    mbufs = malloc(fr.n * sizeof(*mbufs));
    if (pool == NULL || mbufs == NULL || rte_pktmbuf_alloc_bulk(pool, mbufs, fr.n) != 0)
        rte_exit(EXIT_FAILURE, "cannot allocate %u mbufs\n", fr.n);
    for (uint32_t i = 0; i < fr.n; i++)
        if (fr.len[i] > (uint32_t)(mbufs[i]->buf_len - RTE_PKTMBUF_HEADROOM))
            rte_exit(EXIT_FAILURE, "frame %u does not fit an mbuf\n", i);
    for (int k = 0; k < nv; k++) {
        vs[k].st = &states[k];
        vs[k].ns = calloc(rounds, sizeof(double));
        CAT(PIPE, _state_init)(vs[k].st);
        vs[k].st->lcores = 1;                  /* one lcore until the multi-lcore phase */
    }

    /* what each variant makes of the frames, from its initial state (also the warm-up) */
    for (int k = 0; k < nv; k++) {
        FILE *out = NULL;
        char path[4096];

        if (verify != NULL && k > 0) {
            snprintf(path, sizeof(path), "%s.%s", verify, vs[k].name);
            out = fopen(path, "wb");
            if (out == NULL)
                rte_exit(EXIT_FAILURE, "cannot open %s: %s\n", path, strerror(errno));
        }
        run_round(&vs[k], mbufs, &fr, out);
        if (out != NULL)
            fclose(out);
        memset(vs[k].verdicts, 0, sizeof(vs[k].verdicts));
    }

    hz = (double)rte_get_tsc_hz();
    for (unsigned r = 0; r < rounds; r++)
        for (int j = 0; j < nv; j++) {
            struct variant *v = &vs[(r + (unsigned)j) % (unsigned)nv];

            v->ns[r] = (double)run_round(v, mbufs, &fr, NULL) / hz * 1e9 / fr.n;
        }
    print_json(vs, nv, &fr, rounds);

    /* the same variants on every lcore at once (not the floor: its packets/s is the memcpy's) */
    nl = rte_lcore_count();
    printf(", \"lcores\": %u, \"multicore\": {", nl);
    if (nl > 1) {
        struct mc_worker *ws = calloc(nl, sizeof(*ws));
        unsigned lc, k = 0;

        for (int j = 0; j < nv; j++)
            vs[j].st->lcores = nl;             /* the generated code takes streams atomically now */

        mc_pool = rte_pktmbuf_pool_create("bench_mc_pool", fr.n * (nl - 1) + 64, 0, 0,
                                          NICC_MAX_FRAME + RTE_PKTMBUF_HEADROOM, rte_socket_id());
        if (ws == NULL || mc_pool == NULL)
            rte_exit(EXIT_FAILURE, "cannot allocate the multi-lcore mbufs\n");
        for (k = 0; k < nl; k++) {
            ws[k].fr = &fr;
            ws[k].mbufs = k == 0 ? mbufs : malloc(fr.n * sizeof(struct rte_mbuf *));
            if (ws[k].mbufs == NULL || (k > 0 && rte_pktmbuf_alloc_bulk(mc_pool, ws[k].mbufs, fr.n) != 0))
                rte_exit(EXIT_FAILURE, "cannot allocate the multi-lcore mbufs\n");
        }
        for (int j = 1; j < nv; j++)
            vs[j].ns = calloc(rounds, sizeof(double));
        for (unsigned r = 0; r < rounds; r++)
            for (int j = 1; j < nv; j++) {
                struct variant *v = &vs[1 + (r + (unsigned)j) % (unsigned)(nv - 1)];
                double pps = 0;

                k = 0;
                RTE_LCORE_FOREACH_WORKER(lc) {
                    ws[++k].v = *v;
                    rte_eal_remote_launch(mc_run, &ws[k], lc);
                }
                ws[0].v = *v;
                mc_run(&ws[0]);
                rte_eal_mp_wait_lcore();
                for (k = 0; k < nl; k++)
                    pps += (double)MC_PASSES * fr.n / ((double)ws[k].cycles / hz);
                v->ns[r] = 1e9 / pps;
            }
        for (int j = 1; j < nv; j++) {
            printf("%s\"%s\": {\"ns\": [", j > 1 ? ", " : "", vs[j].name);
            for (unsigned r = 0; r < rounds; r++)
                printf("%s%.3f", r ? ", " : "", vs[j].ns[r]);
            printf("]}");
        }
    }
    printf("}}\n");
    fflush(stdout);

    rte_pktmbuf_free_bulk(mbufs, fr.n);
    rte_mempool_free(pool);
    rte_eal_cleanup();
    return 0;
}
