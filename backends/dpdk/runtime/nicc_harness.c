/* A plain C harness for a pipeline's per-packet function, built with AddressSanitizer and
 * UndefinedBehaviorSanitizer (`make sanitize`). It feeds each frame of a corpus (u32 length +
 * bytes each) twice, in order, each time in a heap block of exactly the bytes the call may touch:
 *   1. room == len: a frame that would grow must come back unhandled, never written past its end;
 *   2. room == max(len, max_frame_out): results are written to OUT (outcome u8, length u32, frame
 *      bytes) for comparison with the reference interpreter.
 * Each pass keeps its own state, from the initial state, across the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nicc_dp.h"

static uint8_t *
nicc_copy(const uint8_t *frame, uint32_t len, uint32_t room)
{
    uint8_t *p = malloc(room ? room : 1);

    if (p == NULL) {
        perror("malloc");
        exit(2);
    }
    memcpy(p, frame, len);
    return p;
}

int
main(int argc, char **argv)
{
    void *exact = calloc(1, nicc_pipeline.state_size), *roomy = calloc(1, nicc_pipeline.state_size);
    FILE *in, *out;
    uint8_t *buf;
    long size;
    uint32_t n = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: %s CORPUS OUT\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL || exact == NULL || roomy == NULL || fseek(in, 0, SEEK_END) != 0
        || (size = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0) {
        perror("harness");
        return 2;
    }
    buf = malloc(size ? (size_t)size : 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, in) != (size_t)size) {
        perror("read");
        return 2;
    }
    nicc_pipeline.state_init(exact);
    nicc_pipeline.state_init(roomy);
    for (long off = 0; off + 4 <= size; n++) {
        uint32_t len, out_len, room;
        uint8_t *p, code;

        memcpy(&len, buf + off, 4);
        if (off + 4 + (long)len > size) {
            fprintf(stderr, "truncated corpus\n");
            return 2;
        }
        /* 1: exact size */
        p = nicc_copy(buf + off + 4, len, len);
        *(uint64_t *)exact = n;
        nicc_pipeline.process(p, len, len, &out_len, exact);
        if (out_len > len) {
            fprintf(stderr, "frame %u: out_len %u > room %u\n", n, out_len, len);
            return 1;
        }
        free(p);
        /* 2: room to grow */
        room = len > nicc_pipeline.max_frame_out ? len : nicc_pipeline.max_frame_out;
        p = nicc_copy(buf + off + 4, len, room);
        *(uint64_t *)roomy = n;
        code = (uint8_t)nicc_pipeline.process(p, len, room, &out_len, roomy);
        if (out_len > room) {
            fprintf(stderr, "frame %u: out_len %u > room %u\n", n, out_len, room);
            return 1;
        }
        if (fwrite(&code, 1, 1, out) != 1 || fwrite(&out_len, 4, 1, out) != 1
            || fwrite(p, 1, out_len, out) != out_len) {
            perror("write");
            return 2;
        }
        free(p);
        off += 4 + len;
    }
    fclose(out);
    fclose(in);
    free(buf);
    free(exact);
    free(roomy);
    printf("%u frames\n", n);
    return 0;
}
