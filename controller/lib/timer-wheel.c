/*
 * ovs-cats: a hashed timing wheel.  See include/cats/timer-wheel.h.
 */

#include <config.h>

#include "cats/timer-wheel.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util.h"

/* Largest number of slots: far more than any use needs, and small enough
 * that slot arithmetic in 'unsigned int' cannot overflow. */
#define MAX_SLOTS (1u << 30)

/* Returns the slot of time 't' in 'w'.  Negative times wrap like the others
 * (the cast is modulo 2**64). */
static unsigned int
slot_of(const struct cats_timer_wheel *w, long long int t)
{
    return (unsigned long long int) t & (w->n_slots - 1);
}

static void
bit_set(struct cats_timer_wheel *w, unsigned int slot)
{
    w->bits[slot / 64] |= UINT64_C(1) << (slot % 64);
}

static void
bit_clear(struct cats_timer_wheel *w, unsigned int slot)
{
    w->bits[slot / 64] &= ~(UINT64_C(1) << (slot % 64));
}

static bool
bit_is_set(const struct cats_timer_wheel *w, unsigned int slot)
{
    return (w->bits[slot / 64] >> (slot % 64)) & 1;
}

void
cats_timer_wheel_init(struct cats_timer_wheel *w, unsigned int n_slots,
                      long long int now)
{
    unsigned int n = 64;

    ovs_assert(n_slots <= MAX_SLOTS);
    while (n < n_slots) {
        n *= 2;
    }

    w->n_slots = n;
    w->slots = xmalloc(n * sizeof *w->slots);
    for (unsigned int i = 0; i < n; i++) {
        ovs_list_init(&w->slots[i]);
    }
    w->bits = xcalloc(n / 64, sizeof *w->bits);
    w->next = now;
    w->n = 0;
}

void
cats_timer_wheel_destroy(struct cats_timer_wheel *w)
{
    if (w) {
        free(w->slots);
        free(w->bits);
        w->slots = NULL;
        w->bits = NULL;
        w->n = 0;
    }
}

/* Links 'node', whose 'when' is set, into the slot it belongs in relative to
 * 'w''s current 'next'.  Does not count it. */
static void
place(struct cats_timer_wheel *w, struct cats_timer_node *node)
{
    long long int t;

    if (node->when < w->next) {
        t = w->next;                    /* Past: expires next time. */
    } else if ((unsigned long long int) node->when - w->next < w->n_slots) {
        t = node->when;                 /* Within the horizon. */
    } else {
        t = w->next - 1;                /* Beyond: the last slot covered,
                                         * that of next + n_slots - 1. */
    }

    node->slot = slot_of(w, t);
    ovs_list_push_back(&w->slots[node->slot], &node->list_node);
    bit_set(w, node->slot);
}

void
cats_timer_wheel_insert(struct cats_timer_wheel *w,
                        struct cats_timer_node *node, long long int when)
{
    node->when = when;
    place(w, node);
    w->n++;
}

void
cats_timer_wheel_remove(struct cats_timer_wheel *w,
                        struct cats_timer_node *node)
{
    ovs_assert(w->n > 0);
    ovs_assert(node->slot < w->n_slots);
    ovs_assert(bit_is_set(w, node->slot));

    ovs_list_remove(&node->list_node);
    if (ovs_list_is_empty(&w->slots[node->slot])) {
        bit_clear(w, node->slot);
    }
    w->n--;
}

size_t
cats_timer_wheel_expire(struct cats_timer_wheel *w, long long int now,
                        struct ovs_list *expired)
{
    struct ovs_list later = OVS_LIST_INITIALIZER(&later);
    struct cats_timer_node *node;
    unsigned long long int span;
    unsigned int n_visit;
    size_t n_expired = 0;

    if (now < w->next) {
        return 0;
    }
    ovs_assert(now < LLONG_MAX);

    /* Visit the slots of the times next...now, but each slot at most once:
     * after a long stall, one revolution sees every node. */
    span = (unsigned long long int) now - w->next;
    n_visit = span >= w->n_slots - 1 ? w->n_slots : span + 1;

    for (unsigned int i = 0; i < n_visit; i++) {
        unsigned int slot = slot_of(w, w->next + i);
        uint64_t word = w->bits[slot / 64] >> (slot % 64);
        struct ovs_list *list;

        if (!word) {
            /* Nothing more in this word: on to the next one.  Words are
             * aligned on slot numbers, and 'n_slots' is a multiple of 64. */
            i += 63 - slot % 64;
            continue;
        }
        i += raw_ctz(word);
        if (i >= n_visit) {
            break;
        }
        slot = slot_of(w, w->next + i);

        /* Empty the slot.  Nodes not yet due (parked beyond the horizon) go
         * to 'later', to be placed anew once 'next' has moved: none goes
         * back into a slot during this pass. */
        list = &w->slots[slot];
        LIST_FOR_EACH_POP (node, list_node, list) {
            if (node->when <= now) {
                ovs_list_push_back(expired, &node->list_node);
                n_expired++;
            } else {
                ovs_list_push_back(&later, &node->list_node);
            }
        }
        bit_clear(w, slot);
    }

    ovs_assert(n_expired <= w->n);
    w->n -= n_expired;
    w->next = now + 1;

    LIST_FOR_EACH_POP (node, list_node, &later) {
        place(w, node);
    }
    return n_expired;
}

long long int
cats_timer_wheel_next(const struct cats_timer_wheel *w)
{
    unsigned int start, n_words, wi;
    uint64_t word;

    if (!w->n) {
        return LLONG_MAX;
    }

    /* The word of 'next''s slot, from that slot on; then the other words in
     * turn; then that first word again, whole, for the slots before
     * 'next''s, which are the end of the horizon. */
    start = slot_of(w, w->next);
    n_words = w->n_slots / 64;
    wi = start / 64;
    word = w->bits[wi] & (UINT64_MAX << (start % 64));
    for (unsigned int i = 0; ; i++) {
        if (word) {
            unsigned int slot = wi * 64 + raw_ctz(word);

            return w->next + ((slot - start) & (w->n_slots - 1));
        }
        if (i == n_words) {
            break;
        }
        wi = wi + 1 == n_words ? 0 : wi + 1;
        word = w->bits[wi];
    }

    /* 'w->n' > 0 but no slot is marked non-empty. */
    OVS_NOT_REACHED();
}
