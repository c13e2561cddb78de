/*
 * cats-gw: the two packet FIFOs of a direction.
 *
 * struct gw_queue is a traffic class's queue: bounded in packets here and
 * in bytes by its caller (gw-ecn.h's queue limit decides admission on the
 * byte count kept here).  struct gw_delay_line is the emulated fibre: each
 * packet carries the time it may leave, and since every packet of a
 * direction gets the same delay, leaving in FIFO order is leaving on time.
 *
 * Both are rings of a power-of-two size owned by one lcore: no atomics, no
 * locks.  Packets are opaque pointers (rte_mbuf in the gateway) with their
 * length stored beside them, so that accounting never touches the packet.
 *
 * Transmission is "peek, then commit": the caller looks at up to n packets
 * at the head, offers them to the NIC, and removes only those the NIC took
 * (gw_*_pop()).  What the transmit ring refused stays at the head, in
 * order, for the next try.
 */

#ifndef GW_QUEUE_H
#define GW_QUEUE_H 1

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest packet limit of a queue or delay line. */
#define GW_QUEUE_LIMIT_MAX (UINT32_C(1) << 24)

struct gw_queue {
    void **pkts;
    uint32_t *lens;
    uint32_t mask;              /* Ring size - 1. */
    uint32_t limit;             /* Packets. */
    uint32_t head;              /* Next to leave (free-running). */
    uint32_t tail;              /* Next free slot (free-running). */
    uint32_t bytes;             /* Sum of the queued lengths. */
};

/* Allocates a queue for up to 'limit' packets (1..GW_QUEUE_LIMIT_MAX).
 * Returns 0, EINVAL or ENOMEM. */
int gw_queue_init(struct gw_queue *, uint32_t limit);
void gw_queue_destroy(struct gw_queue *);

static inline uint32_t
gw_queue_count(const struct gw_queue *q)
{
    return q->tail - q->head;
}

/* Appends 'pkt' of 'len' bytes.  Returns false, changing nothing, if the
 * queue holds 'limit' packets already. */
static inline bool
gw_queue_push(struct gw_queue *q, void *pkt, uint32_t len)
{
    uint32_t i = q->tail & q->mask;

    if (q->tail - q->head >= q->limit) {
        return false;
    }
    q->pkts[i] = pkt;
    q->lens[i] = len;
    q->tail++;
    q->bytes += len;
    return true;
}

/* Copies to 'pkts' and 'lens' up to 'max' packets from the head, stopping
 * before the first whose length, with 'overhead' added, would take the
 * running total past '*budget' bytes; subtracts what it took from
 * '*budget'.  Returns how many.  Removes nothing. */
static inline uint32_t
gw_queue_peek(const struct gw_queue *q, void **pkts, uint32_t *lens,
              uint32_t max, uint64_t *budget, uint32_t overhead)
{
    uint32_t n = gw_queue_count(q);
    uint64_t left = *budget;
    uint32_t i;

    if (n > max) {
        n = max;
    }
    for (i = 0; i < n; i++) {
        uint32_t slot = (q->head + i) & q->mask;
        uint64_t cost = (uint64_t) q->lens[slot] + overhead;

        if (cost > left) {
            break;
        }
        left -= cost;
        pkts[i] = q->pkts[slot];
        lens[i] = q->lens[slot];
    }
    *budget = left;
    return i;
}

/* Removes 'n' packets (at most the count) from the head.  Returns their
 * total length.
 *
 * An emptied queue starts again at slot 0: a queue that stays short (the
 * common case) then keeps reusing the same few slots, which stay in the
 * cache, instead of sweeping its whole ring through it. */
static inline uint32_t
gw_queue_pop(struct gw_queue *q, uint32_t n)
{
    uint32_t bytes = 0;

    for (uint32_t i = 0; i < n; i++) {
        bytes += q->lens[(q->head + i) & q->mask];
    }
    q->head += n;
    q->bytes -= bytes;
    if (q->head == q->tail) {
        q->head = q->tail = 0;
    }
    return bytes;
}

struct gw_delay_line {
    void **pkts;
    uint64_t *due;              /* Leave at or after (caller's clock). */
    uint32_t *lens;
    uint32_t mask;
    uint32_t limit;
    uint32_t head;
    uint32_t tail;
    uint64_t bytes;
};

/* As gw_queue_init(). */
int gw_delay_line_init(struct gw_delay_line *, uint32_t limit);
void gw_delay_line_destroy(struct gw_delay_line *);

static inline uint32_t
gw_delay_line_count(const struct gw_delay_line *d)
{
    return d->tail - d->head;
}

static inline uint32_t
gw_delay_line_room(const struct gw_delay_line *d)
{
    return d->limit - gw_delay_line_count(d);
}

/* Appends 'pkt', which may leave at 'due' or later.  'due' must not be
 * before the previous packet's (a fixed delay added to a clock that does
 * not go back).  Returns false, changing nothing, if the line is full. */
static inline bool
gw_delay_line_push(struct gw_delay_line *d, void *pkt, uint32_t len,
                   uint64_t due)
{
    uint32_t i = d->tail & d->mask;

    if (d->tail - d->head >= d->limit) {
        return false;
    }
    d->pkts[i] = pkt;
    d->lens[i] = len;
    d->due[i] = due;
    d->tail++;
    d->bytes += len;
    return true;
}

/* Copies to 'pkts' up to 'max' packets from the head that are due at
 * 'now', and adds their lengths to '*bytes'.  Returns how many.  Removes
 * nothing. */
static inline uint32_t
gw_delay_line_peek_due(const struct gw_delay_line *d, uint64_t now,
                       void **pkts, uint32_t max)
{
    uint32_t n = gw_delay_line_count(d);
    uint32_t i;

    if (n > max) {
        n = max;
    }
    for (i = 0; i < n; i++) {
        uint32_t slot = (d->head + i) & d->mask;

        if (d->due[slot] > now) {
            break;
        }
        pkts[i] = d->pkts[slot];
    }
    return i;
}

/* Removes 'n' packets from the head.  Returns their total length.  As
 * gw_queue_pop(), an emptied line starts again at slot 0. */
static inline uint64_t
gw_delay_line_pop(struct gw_delay_line *d, uint32_t n)
{
    uint64_t bytes = 0;

    for (uint32_t i = 0; i < n; i++) {
        bytes += d->lens[(d->head + i) & d->mask];
    }
    d->head += n;
    d->bytes -= bytes;
    if (d->head == d->tail) {
        d->head = d->tail = 0;
    }
    return bytes;
}

#ifdef __cplusplus
}
#endif

#endif /* gw-queue.h */
