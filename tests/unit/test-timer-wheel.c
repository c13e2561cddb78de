/*
 * Unit tests for the hashed timing wheel (include/cats/timer-wheel.h).
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cats/timer-wheel.h"
#include "openvswitch/list.h"
#include "util.h"

#define N_NODES 256

/* Expires 'w' at 'now' and stores the indexes (in 'nodes') of the nodes
 * that came out, in order, in 'ids'.  Returns how many came out, after
 * checking that cats_timer_wheel_expire() returned that number, that each
 * came out due and that the count dropped by as many. */
static size_t
expire_ids(struct cats_timer_wheel *w, long long int now,
           struct cats_timer_node nodes[], int ids[], size_t max)
{
    struct ovs_list expired = OVS_LIST_INITIALIZER(&expired);
    size_t before = cats_timer_wheel_count(w);
    struct cats_timer_node *node;
    size_t n_ret, n = 0;

    n_ret = cats_timer_wheel_expire(w, now, &expired);
    LIST_FOR_EACH_POP (node, list_node, &expired) {
        assert_in_range(node - nodes, 0, N_NODES - 1);
        assert_true(node->when <= now);
        assert_true(n < max);
        ids[n++] = node - nodes;
    }
    assert_int_equal(n_ret, n);
    assert_int_equal(cats_timer_wheel_count(w), before - n);
    return n;
}

/* Expires 'w' at 'now' and checks that exactly the nodes 'want[0]',
 * 'want[1]', ... (indexes in 'nodes', ending with -1) came out, in that
 * order. */
static void
expect_expire(struct cats_timer_wheel *w, long long int now,
              struct cats_timer_node nodes[], const int want[])
{
    int ids[N_NODES];
    size_t n_want = 0;
    size_t n;

    while (want[n_want] >= 0) {
        n_want++;
    }
    n = expire_ids(w, now, nodes, ids, N_NODES);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ids[i], want[i]);
    }
}

#define EXPECT_EXPIRE(W, NOW, NODES, ...)                               \
    do {                                                                \
        const int want_[] = { __VA_ARGS__, -1 };                        \
        expect_expire(W, NOW, NODES, want_);                            \
    } while (0)
#define EXPECT_NOTHING(W, NOW, NODES)                                   \
    do {                                                                \
        const int want_[] = { -1 };                                     \
        expect_expire(W, NOW, NODES, want_);                            \
    } while (0)

/* Checks the wheel's structure: each slot's bit is set if and only if the
 * slot is non-empty, each node knows its slot, and the nodes number 'n'. */
static void
check_structure(const struct cats_timer_wheel *w)
{
    size_t n = 0;

    for (unsigned int s = 0; s < w->n_slots; s++) {
        const struct cats_timer_node *node;
        bool bit = (w->bits[s / 64] >> (s % 64)) & 1;

        assert_int_equal(bit, !ovs_list_is_empty(&w->slots[s]));
        LIST_FOR_EACH (node, list_node, &w->slots[s]) {
            assert_int_equal(node->slot, s);
            n++;
        }
    }
    assert_int_equal(n, cats_timer_wheel_count(w));
}

static void
test_init_rounds_slots_up_to_power_of_2(void **state OVS_UNUSED)
{
    static const unsigned int cases[][2] = {
        { 0, 64 }, { 1, 64 }, { 64, 64 }, { 65, 128 }, { 1000, 1024 },
        { 1024, 1024 }, { 1025, 2048 },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cats_timer_wheel w;

        cats_timer_wheel_init(&w, cases[i][0], 12345);
        assert_int_equal(w.n_slots, cases[i][1]);
        assert_int_equal(w.next, 12345);
        assert_int_equal(cats_timer_wheel_count(&w), 0);
        check_structure(&w);
        cats_timer_wheel_destroy(&w);
    }
}

static void
test_empty_wheel(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;

    cats_timer_wheel_init(&w, 64, 1000);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);
    EXPECT_NOTHING(&w, 999, nodes);     /* Before 'next': a no-op. */
    assert_int_equal(w.next, 1000);
    EXPECT_NOTHING(&w, 1000, nodes);
    assert_int_equal(w.next, 1001);
    EXPECT_NOTHING(&w, 100000, nodes);  /* A stall, on an empty wheel. */
    assert_int_equal(w.next, 100001);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);
    assert_int_equal(cats_timer_wheel_count(&w), 0);
    cats_timer_wheel_destroy(&w);
}

static void
test_expire_due_nodes_in_time_order(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;

    cats_timer_wheel_init(&w, 1024, 0);
    cats_timer_wheel_insert(&w, &nodes[0], 30);
    cats_timer_wheel_insert(&w, &nodes[1], 10);
    cats_timer_wheel_insert(&w, &nodes[2], 20);
    cats_timer_wheel_insert(&w, &nodes[3], 10);
    cats_timer_wheel_insert(&w, &nodes[4], 500);
    cats_timer_wheel_insert(&w, &nodes[5], 1023);   /* Last slot covered. */
    assert_int_equal(cats_timer_wheel_count(&w), 6);
    assert_int_equal(cats_timer_wheel_next(&w), 10);
    check_structure(&w);

    EXPECT_NOTHING(&w, 9, nodes);
    assert_int_equal(cats_timer_wheel_next(&w), 10);
    assert_int_equal(cats_timer_wheel_count(&w), 6);

    /* Same slot: insertion order. */
    EXPECT_EXPIRE(&w, 10, nodes, 1, 3);
    assert_int_equal(cats_timer_wheel_count(&w), 4);
    assert_int_equal(cats_timer_wheel_next(&w), 20);

    EXPECT_EXPIRE(&w, 25, nodes, 2);
    assert_int_equal(cats_timer_wheel_next(&w), 30);
    EXPECT_NOTHING(&w, 29, nodes);          /* 26...29: nothing due. */
    EXPECT_NOTHING(&w, 25, nodes);          /* Before 'next' (30). */
    assert_int_equal(w.next, 30);

    EXPECT_EXPIRE(&w, 600, nodes, 0, 4);
    assert_int_equal(cats_timer_wheel_count(&w), 1);
    assert_int_equal(cats_timer_wheel_next(&w), 1023);
    EXPECT_NOTHING(&w, 1022, nodes);
    EXPECT_EXPIRE(&w, 1023, nodes, 5);
    assert_int_equal(cats_timer_wheel_count(&w), 0);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);

    /* The nodes' times are as given. */
    assert_int_equal(nodes[0].when, 30);
    assert_int_equal(nodes[4].when, 500);
    check_structure(&w);
    cats_timer_wheel_destroy(&w);
}

static void
test_wraps_around_the_slots(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;

    /* 'next' at 1000, slot 1000 % 64 = 40: times 1000...1063 fill every
     * slot, those from 1024 on in the slots before 'next''s. */
    cats_timer_wheel_init(&w, 64, 1000);
    for (int i = 63; i >= 0; i--) {
        cats_timer_wheel_insert(&w, &nodes[i], 1000 + i);
    }
    check_structure(&w);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(cats_timer_wheel_next(&w), 1000 + i);
        EXPECT_EXPIRE(&w, 1000 + i, nodes, i);
    }
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);

    /* Only a slot before 'next''s: next() has to wrap. */
    cats_timer_wheel_insert(&w, &nodes[0], 1064 + 60);
    assert_int_equal(cats_timer_wheel_next(&w), 1124);
    cats_timer_wheel_insert(&w, &nodes[1], 1064 + 59);
    assert_int_equal(cats_timer_wheel_next(&w), 1123);
    EXPECT_EXPIRE(&w, 1200, nodes, 1, 0);
    cats_timer_wheel_destroy(&w);
}

static void
test_past_times_expire_on_next_call(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;

    cats_timer_wheel_init(&w, 64, 100);
    EXPECT_NOTHING(&w, 199, nodes);
    assert_int_equal(w.next, 200);

    cats_timer_wheel_insert(&w, &nodes[0], 150);
    cats_timer_wheel_insert(&w, &nodes[1], 200);
    cats_timer_wheel_insert(&w, &nodes[2], 10);
    cats_timer_wheel_insert(&w, &nodes[3], LLONG_MIN);
    cats_timer_wheel_insert(&w, &nodes[4], 201);
    assert_int_equal(cats_timer_wheel_count(&w), 5);
    assert_int_equal(cats_timer_wheel_next(&w), 200);
    check_structure(&w);

    /* All in the slot of 'next', in insertion order, their times kept. */
    EXPECT_EXPIRE(&w, 200, nodes, 0, 1, 2, 3);
    assert_int_equal(nodes[0].when, 150);
    assert_int_equal(nodes[2].when, 10);
    assert_true(nodes[3].when == LLONG_MIN);
    assert_int_equal(cats_timer_wheel_next(&w), 201);

    /* A past time after a pause: at 'next', not at its own slot. */
    EXPECT_EXPIRE(&w, 250, nodes, 4);
    cats_timer_wheel_insert(&w, &nodes[5], 240);
    assert_int_equal(cats_timer_wheel_next(&w), 251);
    EXPECT_EXPIRE(&w, 251, nodes, 5);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);
    cats_timer_wheel_destroy(&w);
}

/* Expires a wheel of 64 slots holding nodes beyond its horizon, advancing
 * by 'step' ms at a time, and checks that each comes out exactly once, as
 * soon as it is due, and that next() is never later than a node's time. */
static void
check_beyond_horizon(long long int step)
{
    static const long long int times[] = {
        63, 64, 65, 127, 128, 1000, 1000, 5000, 751, 1250,
    };
    struct cats_timer_node nodes[N_NODES];
    bool out[ARRAY_SIZE(times)] = { false };
    struct cats_timer_wheel w;

    cats_timer_wheel_init(&w, 64, 0);
    for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
        cats_timer_wheel_insert(&w, &nodes[i], times[i]);
    }
    check_structure(&w);
    assert_int_equal(cats_timer_wheel_next(&w), 63);

    for (long long int now = 0; now <= 6000; now += step) {
        long long int min_when = LLONG_MAX;
        int ids[N_NODES];
        size_t n;

        n = expire_ids(&w, now, nodes, ids, N_NODES);
        for (size_t i = 0; i < n; i++) {
            int id = ids[i];

            assert_false(out[id]);
            out[id] = true;
            /* Not early, and not late by more than a step. */
            assert_true(times[id] <= now);
            assert_true(times[id] > now - step);
            assert_int_equal(nodes[id].when, times[id]);
        }
        for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
            if (!out[i]) {
                assert_true(times[i] > now);
                min_when = MIN(min_when, times[i]);
            }
        }
        assert_true(cats_timer_wheel_next(&w) <= min_when);
        assert_true(cats_timer_wheel_next(&w) >= w.next);
        check_structure(&w);
    }
    for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
        assert_true(out[i]);
    }
    assert_int_equal(cats_timer_wheel_count(&w), 0);
    cats_timer_wheel_destroy(&w);
}

static void
test_beyond_horizon_each_ms(void **state OVS_UNUSED)
{
    check_beyond_horizon(1);
}

static void
test_beyond_horizon_in_steps(void **state OVS_UNUSED)
{
    check_beyond_horizon(37);
    check_beyond_horizon(64);
    check_beyond_horizon(100);
}

static void
test_beyond_horizon_resurfaces_once_per_revolution(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;

    /* Parked in the last slot covered, that of 63. */
    cats_timer_wheel_init(&w, 64, 0);
    cats_timer_wheel_insert(&w, &nodes[0], 1000);
    assert_int_equal(cats_timer_wheel_next(&w), 63);
    assert_int_equal(nodes[0].slot, 63);

    /* Put back at the slot of 63 + 64 = 127 on the way. */
    EXPECT_NOTHING(&w, 63, nodes);
    assert_int_equal(cats_timer_wheel_count(&w), 1);
    assert_int_equal(cats_timer_wheel_next(&w), 127);

    /* Within reach after 1000 - 64 = 936: exact from then on. */
    EXPECT_NOTHING(&w, 940, nodes);
    assert_int_equal(cats_timer_wheel_next(&w), 1000);
    EXPECT_NOTHING(&w, 999, nodes);
    EXPECT_EXPIRE(&w, 1000, nodes, 0);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);
    cats_timer_wheel_destroy(&w);
}

static void
test_remove_before_expiry(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;

    cats_timer_wheel_init(&w, 64, 0);
    cats_timer_wheel_insert(&w, &nodes[0], 10);
    cats_timer_wheel_insert(&w, &nodes[1], 10);
    cats_timer_wheel_insert(&w, &nodes[2], 20);
    cats_timer_wheel_insert(&w, &nodes[3], 5000);   /* Parked. */
    assert_int_equal(cats_timer_wheel_count(&w), 4);

    /* Another node still in the slot: it stays marked. */
    cats_timer_wheel_remove(&w, &nodes[0]);
    assert_int_equal(cats_timer_wheel_count(&w), 3);
    assert_int_equal(cats_timer_wheel_next(&w), 10);
    check_structure(&w);

    /* The slot empty: next() moves on. */
    cats_timer_wheel_remove(&w, &nodes[1]);
    assert_int_equal(cats_timer_wheel_count(&w), 2);
    assert_int_equal(cats_timer_wheel_next(&w), 20);
    check_structure(&w);

    /* A parked node. */
    cats_timer_wheel_remove(&w, &nodes[3]);
    assert_int_equal(cats_timer_wheel_count(&w), 1);
    check_structure(&w);

    EXPECT_EXPIRE(&w, 10000, nodes, 2);
    assert_int_equal(cats_timer_wheel_count(&w), 0);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);

    /* Re-arming: removed, then inserted at another time. */
    cats_timer_wheel_insert(&w, &nodes[4], 10100);
    cats_timer_wheel_remove(&w, &nodes[4]);
    cats_timer_wheel_insert(&w, &nodes[4], 10050);
    assert_int_equal(cats_timer_wheel_next(&w), 10050);
    EXPECT_EXPIRE(&w, 10060, nodes, 4);

    /* Removing the last node empties the wheel. */
    cats_timer_wheel_insert(&w, &nodes[5], 10070);
    cats_timer_wheel_remove(&w, &nodes[5]);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);
    EXPECT_NOTHING(&w, 20000, nodes);
    check_structure(&w);
    cats_timer_wheel_destroy(&w);
}

static void
test_long_stall_loses_nothing(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;
    int ids[N_NODES];
    size_t n;

    /* 'next' at 10, slot 10: 200 nodes at 10...209, most of them parked,
     * and 5 far ahead. */
    cats_timer_wheel_init(&w, 64, 10);
    for (int i = 0; i < 200; i++) {
        cats_timer_wheel_insert(&w, &nodes[i], 10 + i);
    }
    for (int i = 200; i < 205; i++) {
        cats_timer_wheel_insert(&w, &nodes[i], 100000 + i);
    }
    assert_int_equal(cats_timer_wheel_count(&w), 205);

    /* Many revolutions late: every due node once.  Slot order from
     * 'next''s slot: 10...73, then the parked ones, in the slot of 73, in
     * insertion order after 73. */
    n = expire_ids(&w, 5000, nodes, ids, N_NODES);
    assert_int_equal(n, 200);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ids[i], i);
    }
    assert_int_equal(cats_timer_wheel_count(&w), 5);
    assert_int_equal(w.next, 5001);
    assert_true(cats_timer_wheel_next(&w) <= 100200);
    check_structure(&w);

    /* Another stall, past the far ones. */
    EXPECT_EXPIRE(&w, 200000, nodes, 200, 201, 202, 203, 204);
    assert_true(cats_timer_wheel_next(&w) == LLONG_MAX);
    cats_timer_wheel_destroy(&w);
}

static void
test_stall_of_exactly_one_revolution(void **state OVS_UNUSED)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;

    /* now - next = 63 and 64: every slot, each once. */
    for (int extra = 0; extra <= 1; extra++) {
        int ids[N_NODES];
        size_t n;

        cats_timer_wheel_init(&w, 64, 5);
        for (int i = 0; i < 64; i++) {
            cats_timer_wheel_insert(&w, &nodes[i], 5 + i);
        }
        cats_timer_wheel_insert(&w, &nodes[64], 5 + 64);    /* Parked. */
        n = expire_ids(&w, 5 + 63 + extra, nodes, ids, N_NODES);
        assert_int_equal(n, 64 + extra);
        for (int i = 0; i < 64; i++) {
            assert_int_equal(ids[i], i);
        }
        if (extra) {
            assert_int_equal(ids[64], 64);
            assert_int_equal(cats_timer_wheel_count(&w), 0);
        } else {
            assert_int_equal(cats_timer_wheel_count(&w), 1);
            assert_int_equal(cats_timer_wheel_next(&w), 69);
            EXPECT_EXPIRE(&w, 69, nodes, 64);
        }
        check_structure(&w);
        cats_timer_wheel_destroy(&w);
    }
}

/* Randomized test against a brute-force model. */

/* A simple deterministic generator, so that "random" tests are
 * reproducible everywhere. */
static uint32_t
rng_next(uint32_t *state)
{
    *state = *state * 1103515245 + 12345;
    return *state >> 8;
}

struct model {
    unsigned int n_slots;
    long long int next;             /* The wheel's 'next'. */
    bool in[N_NODES];               /* In the wheel? */
    long long int when[N_NODES];
    long long int slot_time[N_NODES];   /* Time of the slot it sits in. */

    /* What the run exercised. */
    unsigned int n_put_back;        /* Nodes seen early and put back. */
    unsigned int n_stalls;          /* Expiries of a revolution or more. */
    unsigned int n_removed;
};

/* The placement rule of include/cats/timer-wheel.h. */
static void
model_place(struct model *m, int i)
{
    if (m->when[i] < m->next) {
        m->slot_time[i] = m->next;
    } else if (m->when[i] - m->next < m->n_slots) {
        m->slot_time[i] = m->when[i];
    } else {
        m->slot_time[i] = m->next + m->n_slots - 1;
    }
}

/* Returns a random index in 'm' whose node is in the wheel if 'in', out of
 * it otherwise, or -1 if there is none. */
static int
model_pick(const struct model *m, uint32_t *rng, bool in)
{
    int start = rng_next(rng) % N_NODES;

    for (int k = 0; k < N_NODES; k++) {
        int i = (start + k) % N_NODES;

        if (m->in[i] == in) {
            return i;
        }
    }
    return -1;
}

static long long int
random_when(const struct model *m, uint32_t *rng)
{
    long long int base = m->next;
    unsigned int r = rng_next(rng) % 100;

    if (r < 10) {
        return base - 1 - rng_next(rng) % 100;              /* Past. */
    } else if (r < 40) {
        return base + rng_next(rng) % m->n_slots;           /* Within. */
    } else if (r < 80) {
        return base + 750 + rng_next(rng) % 501;            /* Acks. */
    } else if (r < 90) {
        return base + m->n_slots * (2 + rng_next(rng) % 8)
               + rng_next(rng) % m->n_slots;                /* Far. */
    } else {
        /* The edges of the horizon. */
        return base + m->n_slots - 2 + rng_next(rng) % 4;
    }
}

/* Checks 'w' against 'm': count, times, next(). */
static void
model_check(const struct model *m, const struct cats_timer_wheel *w,
            const struct cats_timer_node nodes[])
{
    long long int min_when = LLONG_MAX;
    long long int min_slot = LLONG_MAX;
    long long int next = cats_timer_wheel_next(w);
    size_t n = 0;

    assert_int_equal(w->next, m->next);
    for (int i = 0; i < N_NODES; i++) {
        if (m->in[i]) {
            n++;
            assert_int_equal(nodes[i].when, m->when[i]);
            min_when = MIN(min_when, m->when[i]);
            min_slot = MIN(min_slot, m->slot_time[i]);
        }
    }
    assert_int_equal(cats_timer_wheel_count(w), n);
    assert_true(next == min_slot);
    if (n) {
        /* Never later than the earliest due node (or than 'next', for a
         * time already past), never before 'next'. */
        assert_true(next <= MAX(min_when, m->next));
        assert_true(next >= m->next);
    }
}

/* Expires 'w' and 'm' at 'now' and checks that exactly the nodes due came
 * out, each once, in slot order. */
static void
model_expire(struct model *m, struct cats_timer_wheel *w,
             struct cats_timer_node nodes[], long long int now)
{
    bool due[N_NODES] = { false };
    bool seen[N_NODES] = { false };
    int ids[N_NODES];
    size_t n_due = 0;
    size_t n;

    if (now >= m->next) {
        long long int last = MIN(now, m->next + m->n_slots - 1);

        for (int i = 0; i < N_NODES; i++) {
            if (m->in[i] && m->when[i] <= now) {
                assert_true(m->slot_time[i] <= last);
                due[i] = true;
                n_due++;
            }
        }
    }

    n = expire_ids(w, now, nodes, ids, N_NODES);
    assert_int_equal(n, n_due);
    for (size_t k = 0; k < n; k++) {
        int i = ids[k];

        assert_true(due[i]);
        assert_false(seen[i]);
        seen[i] = true;
        if (k) {
            assert_true(m->slot_time[ids[k - 1]] <= m->slot_time[i]);
        }
    }

    if (now >= m->next) {
        long long int last = MIN(now, m->next + m->n_slots - 1);

        if (now - m->next >= m->n_slots - 1) {
            m->n_stalls++;
        }
        m->next = now + 1;
        for (int i = 0; i < N_NODES; i++) {
            if (due[i]) {
                m->in[i] = false;
            } else if (m->in[i] && m->slot_time[i] <= last) {
                model_place(m, i);      /* Put back. */
                m->n_put_back++;
            }
        }
    }
}

static void
check_random(unsigned int n_slots, uint32_t seed)
{
    struct cats_timer_node nodes[N_NODES];
    struct cats_timer_wheel w;
    struct model m;
    uint32_t rng = seed;
    long long int now = 1000000;
    size_t n_expired = 0;

    memset(&m, 0, sizeof m);
    cats_timer_wheel_init(&w, n_slots, now);
    m.n_slots = w.n_slots;
    m.next = now;

    for (int op = 0; op < 2000; op++) {
        unsigned int r = rng_next(&rng) % 100;
        int i;

        if (r < 45) {
            i = model_pick(&m, &rng, false);
            if (i >= 0) {
                m.when[i] = random_when(&m, &rng);
                cats_timer_wheel_insert(&w, &nodes[i], m.when[i]);
                m.in[i] = true;
                model_place(&m, i);
            }
        } else if (r < 60) {
            i = model_pick(&m, &rng, true);
            if (i >= 0) {
                cats_timer_wheel_remove(&w, &nodes[i]);
                m.in[i] = false;
                m.n_removed++;
            }
        } else {
            unsigned int d = rng_next(&rng) % 100;
            size_t before = cats_timer_wheel_count(&w);

            if (d < 5) {
                /* Before 'next': a no-op. */
                model_expire(&m, &w, nodes,
                             m.next - 1 - rng_next(&rng) % 10);
                assert_int_equal(cats_timer_wheel_count(&w), before);
            } else {
                if (d < 10) {
                    /* 'now' as it was: nothing more. */
                } else if (d < 50) {
                    now += rng_next(&rng) % 20;
                } else if (d < 80) {
                    now += rng_next(&rng) % 200;
                } else if (d < 95) {
                    now += rng_next(&rng) % 1500;
                } else {
                    now += m.n_slots * (1 + rng_next(&rng) % 5)
                           + rng_next(&rng) % m.n_slots;    /* A stall. */
                }
                model_expire(&m, &w, nodes, now);
                n_expired += before - cats_timer_wheel_count(&w);
            }
        }
        model_check(&m, &w, nodes);
        check_structure(&w);
    }

    /* The run exercised every path. */
    assert_true(n_expired > 100);
    assert_true(m.n_put_back > 10);
    assert_true(m.n_stalls > 5);
    assert_true(m.n_removed > 100);
    cats_timer_wheel_destroy(&w);
}

static void
test_random_against_model(void **state OVS_UNUSED)
{
    check_random(64, 1);
    check_random(64, 2);
    check_random(128, 3);
    check_random(1024, 4);
    check_random(2048, 5);
}

static void
test_destroy_null_is_noop(void **state OVS_UNUSED)
{
    cats_timer_wheel_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rounds_slots_up_to_power_of_2),
        cmocka_unit_test(test_empty_wheel),
        cmocka_unit_test(test_expire_due_nodes_in_time_order),
        cmocka_unit_test(test_wraps_around_the_slots),
        cmocka_unit_test(test_past_times_expire_on_next_call),
        cmocka_unit_test(test_beyond_horizon_each_ms),
        cmocka_unit_test(test_beyond_horizon_in_steps),
        cmocka_unit_test(test_beyond_horizon_resurfaces_once_per_revolution),
        cmocka_unit_test(test_remove_before_expiry),
        cmocka_unit_test(test_long_stall_loses_nothing),
        cmocka_unit_test(test_stall_of_exactly_one_revolution),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_destroy_null_is_noop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
