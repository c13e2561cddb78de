/*
 * ovs-cats: a hashed timing wheel, for many timers due at millisecond times
 * a bounded distance ahead.
 *
 * The wheel has 'n_slots' slots (a power of 2), one per millisecond: a timer
 * due at time 't' sits on the list of slot 't & (n_slots - 1)'.  The wheel
 * covers the times [next, next + n_slots), where 'next' is the first
 * millisecond not yet expired.  A bitmap with one bit per non-empty slot lets
 * cats_timer_wheel_next() and cats_timer_wheel_expire() skip empty slots 64
 * at a time.
 *
 * Placement, by cats_timer_wheel_insert():
 *
 *   - A time already past ('when' < next) goes to the slot of 'next': it
 *     expires on the next call to cats_timer_wheel_expire().
 *
 *   - A time within the horizon goes to its own slot.
 *
 *   - A time beyond the horizon ('when' >= next + n_slots) is parked in the
 *     slot of 'next + n_slots - 1', the last one the wheel covers.  When that
 *     slot is expired and the timer is still not due, it is put back, placed
 *     anew relative to the wheel's new 'next': it resurfaces at most once per
 *     revolution until it is due.
 *
 * A node's 'when' always holds the caller's real due time, whatever slot it
 * sits in.
 *
 * Cost, for a wheel of N slots:
 *
 *   - cats_timer_wheel_insert(), cats_timer_wheel_remove(): O(1).
 *
 *   - cats_timer_wheel_next(): O(N / 64) in the worst case (an empty or
 *     nearly empty wheel), one word of the bitmap at a time.
 *
 *   - cats_timer_wheel_expire(now): O(min(now - next + 1, N) / 64) words of
 *     the bitmap, plus O(1) per node in each visited slot (the nodes expired
 *     and the nodes put back).  A long stall (now - next >= N) visits every
 *     slot once, never more.
 *
 * Expired nodes come out in slot order, that is in time order across slots,
 * and in insertion order within a slot.  Since past times share the slot of
 * 'next' with the times equal to 'next', and since a put-back node enters
 * its new slot after the nodes already there, nodes of one slot are not
 * necessarily sorted by 'when'.
 *
 * Not thread-safe: the caller serializes all calls on one wheel.
 */

#ifndef CATS_TIMER_WHEEL_H
#define CATS_TIMER_WHEEL_H 1

#include <stddef.h>
#include <stdint.h>

#include "openvswitch/list.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A timer.  The caller embeds it in its own structure and owns it: the wheel
 * only links it into its lists. */
struct cats_timer_node {
    struct ovs_list list_node;      /* In a slot's list, or in 'expired'. */
    long long int when;             /* Due time (ms), as given to insert. */
    unsigned int slot;              /* Slot it sits in, for removal. */
};

struct cats_timer_wheel {
    struct ovs_list *slots;         /* 'n_slots' lists, one per ms. */
    uint64_t *bits;                 /* One bit per non-empty slot. */
    unsigned int n_slots;           /* Power of 2, at least 64. */
    long long int next;             /* First ms not yet expired. */
    size_t n;                       /* Nodes in the wheel. */
};

/* Initializes 'w' as an empty wheel of 'n_slots' slots (rounded up to a
 * power of 2, and to at least 64), whose first millisecond not yet expired
 * is 'now'. */
void cats_timer_wheel_init(struct cats_timer_wheel *w, unsigned int n_slots,
                           long long int now);

/* Frees the memory 'w' holds.  The nodes still in 'w' belong to the caller
 * and are not touched: their list pointers are left dangling.  'w' may be
 * NULL. */
void cats_timer_wheel_destroy(struct cats_timer_wheel *w);

/* Inserts 'node', which must not be in any wheel, into 'w', due at time
 * 'when' (ms).  See the comment at the top of this file for where it goes.
 * O(1). */
void cats_timer_wheel_insert(struct cats_timer_wheel *w,
                             struct cats_timer_node *node,
                             long long int when);

/* Removes 'node', which must be in 'w', from 'w'.  O(1). */
void cats_timer_wheel_remove(struct cats_timer_wheel *w,
                             struct cats_timer_node *node);

/* Moves every node of 'w' due at or before 'now' (whose 'when' <= 'now') to
 * the tail of 'expired', which the caller initialized, and returns how many
 * it moved.  Afterward the wheel's 'next' is 'now + 1'.  If 'now' is before
 * the wheel's 'next', does nothing and returns 0.  'now' must be less than
 * LLONG_MAX. */
size_t cats_timer_wheel_expire(struct cats_timer_wheel *w, long long int now,
                               struct ovs_list *expired);

/* Returns the time (ms) of the earliest non-empty slot of 'w', counting
 * from its 'next', or LLONG_MAX if 'w' is empty.  This is when the caller
 * should next call cats_timer_wheel_expire().
 *
 * It is exact for the nodes within the horizon (it is their 'when', or the
 * wheel's 'next' for a time already past).  For a node parked beyond the
 * horizon it is the time of the slot it is parked in, earlier than its
 * 'when': the caller wakes up early, expires nothing of it, and the node is
 * put back.  It is never later than the earliest 'when' in the wheel, or
 * than the wheel's 'next' if that 'when' is already past. */
long long int cats_timer_wheel_next(const struct cats_timer_wheel *w);

/* Returns the number of nodes in 'w'. */
static inline size_t
cats_timer_wheel_count(const struct cats_timer_wheel *w)
{
    return w->n;
}

#ifdef __cplusplus
}
#endif

#endif /* cats/timer-wheel.h */
