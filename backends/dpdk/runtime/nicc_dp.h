/* nicc's DPDK data plane: the interface between the static runtime (nicc_dp.c, built once)
 * and a pipeline's generated per-packet function (NAME_process.c).
 *
 * A pipeline object defines `nicc_pipeline`, which the runtime drives: it polls the wire port
 * in bursts, runs `process` on each packet in order and sends the packet where the outcome says.
 * Plain C, no DPDK headers: the sanitizer harness (nicc_harness.c) uses the same interface. */
#ifndef NICC_DP_H
#define NICC_DP_H

#include <stddef.h>
#include <stdint.h>

/* What became of a frame: the run contract (nicc.compiler.contract.CODES; a unit test keeps the two equal). */
enum nicc_outcome {
    NICC_PASS = 0,          /* to the host, rewritten if the pipeline emitted a payload */
    NICC_TRANSMIT = 1,      /* back out of the wire port */
    NICC_DROP = 2,          /* freed */
    NICC_MULTICAST = 3,     /* one copy per group member; the group's index is in bits 8.. of the code */
    NICC_MALFORMED = 4,     /* to the host, unchanged: the payload does not fit the record */
    NICC_UNSELECTED = 5,    /* to the host, unchanged: not a frame for this pipeline */
    NICC_UNHANDLED = 6,     /* to the host, unchanged: this target could not carry out the pipeline */
    NICC_HOST = 7,          /* to the host, for the pipeline's host part (nd.host_if) to finish */
    NICC_NB_OUTCOMES
};

/* Run the pipeline on the frame pkt[0, len); pkt[0, room) may be written. Returns an outcome
 * (NICC_OUTCOME(code); for NICC_MULTICAST, NICC_GROUP(code) is the group's index);
 * *out_len is the frame's length afterwards. `state` is the pipeline's state. */
typedef int (*nicc_process_fn)(uint8_t *pkt, uint32_t len, uint32_t room, uint32_t *out_len, void *state);
#define NICC_OUTCOME(code) ((code) & 0xff)
#define NICC_GROUP(code) ((uint32_t)(code) >> 8)

/* Header fields a multicast group writes into each copy (bit masks). */
#define NICC_FIELD_MAC 1
#define NICC_FIELD_IP 2
#define NICC_FIELD_UDP 4

/* A multicast group as compiled; its members are one node's, loaded at start (nicc_mcast.h). */
struct nicc_group_desc {
    const char *name;
    uint32_t capacity;          /* the most members it can have */
    uint8_t rewrite;            /* destination fields each member gives (NICC_FIELD_*) */
    uint8_t source;             /* source fields every copy gets */
};

/* A state array of the pipeline: where it lives in the state, for the runtime to load a node's values. */
struct nicc_state_desc {
    const char *name;
    size_t offset;              /* in the pipeline's state */
    uint32_t elem_size;         /* bytes per slot: 1, 2, 4 or 8 */
    uint32_t size;              /* slots */
};

struct nicc_pipeline {
    const char *name;
    uint16_t udp_port;
    uint32_t max_frame_out;     /* the largest frame an emitted payload makes; 0: frames never grow */
    size_t state_size;          /* the state begins with `uint64_t now_ns`: the current packet's time */
    void (*state_init)(void *state);
    nicc_process_fn process;
    uint32_t nb_groups;         /* multicast groups, in name order (the group index of NICC_GROUP) */
    const struct nicc_group_desc *groups;
    uint32_t nb_states;
    const struct nicc_state_desc *states;
};

extern const struct nicc_pipeline nicc_pipeline;

/* How every pipeline's state begins (NAME_state in NAME_process.h). */
struct nicc_state_head {
    uint64_t now_ns;            /* timestamp() of the packet being processed */
    uint32_t lcores;            /* lcores calling the program at once: 1 lets it skip the atomics of streams */
};

/* The largest frame the data plane carries whole: mbufs have this much data room. Longer frames
 * arrive as mbuf chains and pass to the host unchanged, counted as NICC_UNHANDLED. */
#define NICC_MAX_FRAME 9216U

#endif /* NICC_DP_H */
