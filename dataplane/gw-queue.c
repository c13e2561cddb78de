/*
 * cats-gw: the two packet FIFOs of a direction (see gw-queue.h).
 */

#include "gw-queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The smallest power of two at least 'n' (n <= 2^31). */
static uint32_t
ring_size(uint32_t n)
{
    uint32_t size = 1;

    while (size < n) {
        size <<= 1;
    }
    return size;
}

int
gw_queue_init(struct gw_queue *q, uint32_t limit)
{
    uint32_t size;

    memset(q, 0, sizeof *q);
    if (!limit || limit > GW_QUEUE_LIMIT_MAX) {
        return EINVAL;
    }
    size = ring_size(limit);
    q->pkts = calloc(size, sizeof *q->pkts);
    q->lens = calloc(size, sizeof *q->lens);
    if (!q->pkts || !q->lens) {
        gw_queue_destroy(q);
        return ENOMEM;
    }
    q->mask = size - 1;
    q->limit = limit;
    return 0;
}

void
gw_queue_destroy(struct gw_queue *q)
{
    free(q->pkts);
    free(q->lens);
    memset(q, 0, sizeof *q);
}

int
gw_delay_line_init(struct gw_delay_line *d, uint32_t limit)
{
    uint32_t size;

    memset(d, 0, sizeof *d);
    if (!limit || limit > GW_QUEUE_LIMIT_MAX) {
        return EINVAL;
    }
    size = ring_size(limit);
    d->pkts = calloc(size, sizeof *d->pkts);
    d->due = calloc(size, sizeof *d->due);
    d->lens = calloc(size, sizeof *d->lens);
    if (!d->pkts || !d->due || !d->lens) {
        gw_delay_line_destroy(d);
        return ENOMEM;
    }
    d->mask = size - 1;
    d->limit = limit;
    return 0;
}

void
gw_delay_line_destroy(struct gw_delay_line *d)
{
    free(d->pkts);
    free(d->due);
    free(d->lens);
    memset(d, 0, sizeof *d);
}
