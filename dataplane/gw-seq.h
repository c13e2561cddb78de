/*
 * cats-gw: a sequence counter, so that one writer (a forwarding lcore)
 * publishes a snapshot of its counters that other threads (the telemetry
 * callbacks, the push to the controller) copy without a lock and without
 * ever making the writer wait.
 *
 * The writer makes the count odd, writes, makes it even again.  A reader
 * copies between two reads of the count and keeps the copy only if both
 * were the same even value; otherwise it tries again.  The writer
 * publishes about once a millisecond and a copy takes well under a
 * microsecond, so retries are rare and bounded in practice; readers give
 * up after GW_SEQ_READ_TRIES and report the last copy anyway (counters a
 * few packets off, never a crash).
 *
 * Usage:
 *
 *     writer:  gw_seq_write_begin(&s); ...copy...; gw_seq_write_end(&s);
 *     reader:  do { v = gw_seq_read_begin(&s); ...copy...; }
 *              while (gw_seq_read_retry(&s, v) && --tries);
 */

#ifndef GW_SEQ_H
#define GW_SEQ_H 1

#include <stdbool.h>
#include <stdint.h>

#define GW_SEQ_READ_TRIES 1000

struct gw_seq {
    uint32_t count;             /* Odd while the writer writes. */
};

static inline void
gw_seq_write_begin(struct gw_seq *s)
{
    uint32_t c = __atomic_load_n(&s->count, __ATOMIC_RELAXED);

    __atomic_store_n(&s->count, c + 1, __ATOMIC_RELAXED);
    /* The data stores below must not be seen before the odd count. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void
gw_seq_write_end(struct gw_seq *s)
{
    uint32_t c = __atomic_load_n(&s->count, __ATOMIC_RELAXED);

    __atomic_store_n(&s->count, c + 1, __ATOMIC_RELEASE);
}

/* The count to compare with after copying; waits out a write in progress
 * (a few hundred nanoseconds at most). */
static inline uint32_t
gw_seq_read_begin(const struct gw_seq *s)
{
    uint32_t c;

    while ((c = __atomic_load_n(&s->count, __ATOMIC_ACQUIRE)) & 1) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    return c;
}

/* True if the copy made since gw_seq_read_begin() returned 'c' may be
 * torn. */
static inline bool
gw_seq_read_retry(const struct gw_seq *s, uint32_t c)
{
    /* The data loads above must be done before the count is read again. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&s->count, __ATOMIC_RELAXED) != c;
}

#endif /* gw-seq.h */
