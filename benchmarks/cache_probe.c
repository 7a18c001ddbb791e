/* The cache probe of `make bench-probe` (nicc.benchmarks.probe): how a pipeline's time a packet on
 * DPDK follows the machine's ALU speed and its L1, L2 and L3 latency over time.
 *
 * Built per pipeline with its generated per-packet function (NAME_process.c, from the current nicc):
 *
 *   gcc -O2 $(pkg-config --cflags libdpdk) -DPIPE=NAME -I GENDIR -I RUNTIME cache_probe.c GENDIR/NAME_process.c
 *
 * No EAL: the frames go into plain buffers spaced as the data plane's mbufs, each refilled from its
 * frame (memcpy) right before the call, as in the bench loop (dpdk_loop.c, which uses rte_memcpy). Until SECONDS have passed, a
 * sample is: PASSES passes of the pipeline over the frames (ns a packet), then an ALU loop (ns an
 * add) and pointer chases through 16 KB, 512 KB and 16 MB (ns a load: L1, L2 and L3 or memory).
 * Prints a header line, then one line per sample: pipeline_ns alu_ns l1_ns l2_ns l3_ns.
 *
 *   cache_probe FRAMES SECONDS
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define STR_(a) #a
#define STR(a) STR_(a)

#include STR(CAT(PIPE, _process.h))

#define PIPE_STATE struct CAT(PIPE, _state)
#define PASSES 5
#define BUF_SPACING (9216 + 256)        /* NICC_MAX_FRAME + the headroom: as the data plane's mbufs */
#define HEADROOM 128

static double
now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

/* A random cyclic chain of 64-byte lines through BYTES (each line holds the index of the next). */
static size_t *
chain(size_t bytes)
{
    size_t n = bytes / 64, *a = aligned_alloc(64, n * 64), *perm = malloc(n * sizeof(size_t));

    if (a == NULL || perm == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1), t = perm[i];

        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        a[perm[i] * 8] = perm[(i + 1) % n] * 8;
    free(perm);
    return a;
}

static double
chase(const size_t *a, long steps)
{
    size_t p = 0;
    double t0 = now_ns();

    for (long i = 0; i < steps; i++)
        p = a[p];
    __asm__ volatile("" : : "r"(p));
    return (now_ns() - t0) / steps;
}

static double
alu(long n)
{
    unsigned long x = 1;
    double t0 = now_ns();

    for (long i = 0; i < n; i++)
        __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    return (now_ns() - t0) / (4.0 * n);
}

int
main(int argc, char **argv)
{
    FILE *f;
    long size, off = 0;
    uint8_t *blob, *bufs, **data;
    uint32_t *len, n = 0, cap = 1024;
    PIPE_STATE *st;
    size_t *l1, *l2, *l3;
    double end;

    if (argc != 3 || (f = fopen(argv[1], "rb")) == NULL) {
        fprintf(stderr, "usage: %s FRAMES SECONDS\n", argv[0]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    blob = malloc(size > 0 ? (size_t)size : 1);
    data = malloc(cap * sizeof(*data));
    len = malloc(cap * sizeof(*len));
    if (blob == NULL || data == NULL || len == NULL || fread(blob, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    while (off + 4 <= size) {           /* u32 little-endian length, then the frame; repeated */
        uint32_t l;

        memcpy(&l, blob + off, 4);
        if (off + 4 + l > size || l > BUF_SPACING - HEADROOM) {
            fprintf(stderr, "bad frame %u in %s\n", n, argv[1]);
            return 1;
        }
        if (n == cap) {
            cap *= 2;
            data = realloc(data, cap * sizeof(*data));
            len = realloc(len, cap * sizeof(*len));
        }
        data[n] = blob + off + 4;
        len[n++] = l;
        off += 4 + l;
    }
    bufs = aligned_alloc(4096, (size_t)n * BUF_SPACING);
    st = aligned_alloc(64, (sizeof(*st) + 63) / 64 * 64);
    if (n == 0 || bufs == NULL || st == NULL) {
        fprintf(stderr, "no frames, or out of memory\n");
        return 1;
    }
    memset(bufs, 0, (size_t)n * BUF_SPACING);
    CAT(PIPE, _state_init)(st);
    st->lcores = 1;
    l1 = chain(16 << 10);
    l2 = chain(512 << 10);
    l3 = chain(16 << 20);
    end = now_ns() + atof(argv[2]) * 1e9;
    printf("pipeline_ns alu_ns l1_ns l2_ns l3_ns\n");
    while (now_ns() < end) {
        double t0 = now_ns(), tp;

        for (int p = 0; p < PASSES; p++)
            for (uint32_t i = 0; i < n; i++) {
                uint8_t *b = bufs + (size_t)i * BUF_SPACING + HEADROOM;
                uint32_t out_len;

                memcpy(b, data[i], len[i]);
                CAT(PIPE, _process)(b, len[i], BUF_SPACING - HEADROOM, &out_len, st);
            }
        tp = (now_ns() - t0) / (PASSES * (double)n);
        printf("%.1f %.3f %.2f %.2f %.2f\n", tp, alu(200000), chase(l1, 200000), chase(l2, 200000),
               chase(l3, 100000));
    }
    return 0;
}
