/*
 * Unit tests for cats-gw's report cadence (dataplane/gw-cadence.h): a
 * report every interval, one at once when a storm starts or ends, at most
 * one such per gap, retried when the stream did not take it, and how long
 * the push may sleep meanwhile.
 */

#include <config.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "gw-cadence.h"
#include "openvswitch/compiler.h"

#define INTERVAL 1000
#define IDLE 100

static const uint8_t calm[2] = { 0, 0 };
static const uint8_t storm3[2] = { 0, 1 << 3 };

/* A cadence for 2 ports whose first report went out at 'now'. */
static void
started(struct gw_cadence *c, long long now)
{
    gw_cadence_init(c, 2, IDLE);
    gw_cadence_restart(c, now);
    assert_int_equal(gw_cadence_due(c, now, calm), GW_CADENCE_INTERVAL);
    gw_cadence_sent(c, GW_CADENCE_INTERVAL, now, INTERVAL, calm, true);
}

static void
test_interval_reports(void **state OVS_UNUSED)
{
    struct gw_cadence c;

    started(&c, 0);
    assert_int_equal(gw_cadence_due(&c, 999, calm), GW_CADENCE_NONE);
    assert_int_equal(gw_cadence_wait(&c, 950, false, calm), 50);
    assert_int_equal(gw_cadence_wait(&c, 0, false, calm), IDLE);
    assert_int_equal(gw_cadence_due(&c, 1000, calm), GW_CADENCE_INTERVAL);
    /* A report the stream skipped is not queued: the next is an interval
     * later. */
    gw_cadence_sent(&c, GW_CADENCE_INTERVAL, 1000, INTERVAL, calm, false);
    assert_int_equal(gw_cadence_due(&c, 1999, calm), GW_CADENCE_NONE);
    assert_int_equal(gw_cadence_due(&c, 2000, calm), GW_CADENCE_INTERVAL);
}

static void
test_storm_start_and_end_report_at_once(void **state OVS_UNUSED)
{
    struct gw_cadence c;

    started(&c, 0);
    assert_int_equal(gw_cadence_due(&c, 437, storm3), GW_CADENCE_STORM);
    gw_cadence_sent(&c, GW_CADENCE_STORM, 437, INTERVAL, storm3, true);
    /* One report per change; the interval keeps its phase. */
    assert_int_equal(gw_cadence_due(&c, 500, storm3), GW_CADENCE_NONE);
    assert_int_equal(gw_cadence_due(&c, 1000, storm3), GW_CADENCE_INTERVAL);
    gw_cadence_sent(&c, GW_CADENCE_INTERVAL, 1000, INTERVAL, storm3, true);
    assert_int_equal(gw_cadence_due(&c, 1200, calm), GW_CADENCE_STORM);
    gw_cadence_sent(&c, GW_CADENCE_STORM, 1200, INTERVAL, calm, true);
    assert_int_equal(gw_cadence_due(&c, 1300, calm), GW_CADENCE_NONE);
}

static void
test_storm_reports_are_rate_limited(void **state OVS_UNUSED)
{
    struct gw_cadence c;

    started(&c, 0);
    gw_cadence_sent(&c, GW_CADENCE_STORM, 100, INTERVAL, storm3, true);
    /* It ends 3 ms later: reported once the gap has passed, not before,
     * and the push is woken for it. */
    assert_int_equal(gw_cadence_due(&c, 103, calm), GW_CADENCE_NONE);
    assert_int_equal(gw_cadence_wait(&c, 103, false, calm),
                     GW_CADENCE_EVENT_GAP_MS - 3);
    assert_int_equal(gw_cadence_due(&c, 100 + GW_CADENCE_EVENT_GAP_MS, calm),
                     GW_CADENCE_STORM);
}

static void
test_storm_report_not_taken_stays_due(void **state OVS_UNUSED)
{
    struct gw_cadence c;

    started(&c, 0);
    assert_int_equal(gw_cadence_due(&c, 300, storm3), GW_CADENCE_STORM);
    gw_cadence_sent(&c, GW_CADENCE_STORM, 300, INTERVAL, storm3, false);
    assert_int_equal(gw_cadence_wait(&c, 300, true, storm3), 1);
    assert_int_equal(gw_cadence_due(&c, 301, storm3), GW_CADENCE_STORM);
    gw_cadence_sent(&c, GW_CADENCE_STORM, 301, INTERVAL, storm3, true);
    assert_int_equal(gw_cadence_due(&c, 302, storm3), GW_CADENCE_NONE);

    /* A change carried by an interval report that was skipped is still
     * to be sent. */
    assert_int_equal(gw_cadence_due(&c, 1000, calm), GW_CADENCE_STORM);
    gw_cadence_sent(&c, GW_CADENCE_INTERVAL, 1000, INTERVAL, calm, false);
    assert_int_equal(gw_cadence_due(&c, 1001, calm), GW_CADENCE_STORM);
}

static void
test_watching_shortens_the_wait(void **state OVS_UNUSED)
{
    struct gw_cadence c;

    started(&c, 0);
    assert_int_equal(gw_cadence_wait(&c, 10, true, calm),
                     GW_CADENCE_WATCH_MS);
    assert_int_equal(gw_cadence_wait(&c, 998, true, calm), 2);
    /* Before the first report, and when one is due: at once (1 ms). */
    gw_cadence_init(&c, 2, IDLE);
    assert_int_equal(gw_cadence_wait(&c, 5, false, calm), 1);
    assert_int_equal(gw_cadence_due(&c, 5, calm), GW_CADENCE_INTERVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_reports),
        cmocka_unit_test(test_storm_start_and_end_report_at_once),
        cmocka_unit_test(test_storm_reports_are_rate_limited),
        cmocka_unit_test(test_storm_report_not_taken_stays_due),
        cmocka_unit_test(test_watching_shortens_the_wait),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
