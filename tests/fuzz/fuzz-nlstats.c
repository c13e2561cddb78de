/*
 * libFuzzer target for the network metric agent's parsers
 * (include/cats/nlstats.h): the netlink message parsers, the state that
 * applies them, and the host counter text parsers.
 *
 * The first byte chooses what the rest is:
 *
 *   0  netlink bytes as a socket would deliver them: split into messages
 *      by cats_nl_next_msg(), each message given to every parser (link,
 *      qdisc, DCB PFC, ethtool pause, NLMSG_ERROR) and to the state; an
 *      NLMSG_DONE message ends the dumps in progress and makes a telemetry
 *      report.  Every parser also gets the whole buffer as one message.
 *   1  /proc/net/netstat text.
 *   2  a sysfs counter file.
 *
 * Besides crashes and sanitizer reports it checks the parsers' contract:
 * an error comes with a one-line message and success without one; what a
 * parser accepts is well-formed (positive ifindex, names NUL-terminated
 * and non-empty); a report stays within the agent API's limits.
 *
 * Seeds: tests/fuzz/corpus/nlstats/ (see controller/nma/README.md).
 */

#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>

#include "cats/nlstats.h"
#include "cats/report.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The ethtool family id that pause replies are checked against: the
 * message's own type, so that the fuzzer can reach the parser. */
static uint16_t
msg_type(const void *msg, size_t len)
{
    struct nlmsghdr h;

    if (len < sizeof h) {
        return 0;
    }
    memcpy(&h, msg, sizeof h);
    return h.nlmsg_type;
}

static void
check_result(int error, char *error_msg)
{
    if (error) {
        if (!error_msg || !error_msg[0] || strchr(error_msg, '\n')) {
            abort();
        }
    } else if (error_msg) {
        abort();
    }
    free(error_msg);
}

static void
check_name(const char *name, size_t max)
{
    size_t len = strnlen(name, max);

    if (!len || len >= max) {
        abort();
    }
}

/* Every parser on one message. */
static void
parse_all(const void *msg, size_t len)
{
    struct cats_nl_link link;
    struct cats_nl_qdisc q;
    struct cats_nl_pfc pfc;
    struct cats_nl_pause pause;
    char extack[CATS_NL_EXTACK_MAX];
    char *error_msg = NULL;
    int error, errnum;

    error = cats_nl_parse_link(msg, len, &link, &error_msg);
    check_result(error, error_msg);
    if (!error) {
        check_name(link.name, sizeof link.name);
        if (link.ifindex <= 0) {
            abort();
        }
    }

    error = cats_nl_parse_qdisc(msg, len, &q, &error_msg);
    check_result(error, error_msg);
    if (!error) {
        check_name(q.kind, sizeof q.kind);
        if (q.ifindex <= 0 || (q.has_xstats && q.aqm == CATS_NL_AQM_NONE)) {
            abort();
        }
    }

    error = cats_nl_parse_dcb_pfc(msg, len, &pfc, &error_msg);
    check_result(error, error_msg);
    if (!error) {
        check_name(pfc.ifname, sizeof pfc.ifname);
    }

    error = cats_nl_parse_pause(msg, len, msg_type(msg, len), &pause,
                                &error_msg);
    check_result(error, error_msg);
    if (!error) {
        check_name(pause.ifname, sizeof pause.ifname);
        if (pause.ifindex <= 0) {
            abort();
        }
    }

    error = cats_nl_parse_error(msg, len, &errnum, extack, &error_msg);
    check_result(error, error_msg);
    if (strnlen(extack, sizeof extack) >= sizeof extack
        || (!error && (errnum < 0 || errnum > 4095))) {
        abort();
    }
}

static void
check_report(struct cats_nma *nma)
{
    struct cats_report_telemetry t;
    char *error_msg;

    if (cats_nma_to_telemetry(nma, "fuzz", NULL, &t, &error_msg)) {
        abort();
    }
    if (t.n_links > CATS_REPORT_MAX_LINKS || t.seq != nma->seq) {
        abort();
    }
    for (size_t i = 0; i < t.n_links; i++) {
        const struct cats_report_link *l = &t.links[i];
        unsigned int seen = 0;

        check_name(l->id, sizeof l->id);
        if (l->n_pfc > CATS_PFC_PRIORITIES) {
            abort();
        }
        for (size_t j = 0; j < l->n_pfc; j++) {
            if (l->pfc[j].priority >= CATS_PFC_PRIORITIES
                || seen & (1u << l->pfc[j].priority)) {
                abort();
            }
            seen |= 1u << l->pfc[j].priority;
        }
    }
    free(t.links);
}

static void
fuzz_netlink(const uint8_t *data, size_t size)
{
    const void *p = data;
    size_t left = size;
    struct cats_nma nma;
    uint64_t errors = 0;

    parse_all(data, size);

    cats_nma_init(&nma, 1);
    cats_nma_links_begin(&nma);
    cats_nma_qdiscs_begin(&nma);
    for (;;) {
        const struct nlmsghdr *msg;
        char *error_msg = NULL;
        size_t len;
        int error;

        error = cats_nl_next_msg(&p, &left, &msg, &len, &error_msg);
        check_result(error, error_msg);
        if (error || !msg) {
            break;
        }
        parse_all(msg, len);

        uint16_t type = msg_type(msg, len);
        if (type == NLMSG_DONE) {
            cats_nma_links_end(&nma, true);
            cats_nma_qdiscs_end(&nma, true);
            check_report(&nma);
            cats_nma_links_begin(&nma);
            cats_nma_qdiscs_begin(&nma);
            continue;
        }

        /* The state: a refused message is counted, once. */
        int ifindex = nma.n_links ? nma.links[0].nl.ifindex : 1;
        error = cats_nma_link_msg(&nma, msg, len);
        errors += error != 0;
        error = cats_nma_qdisc_msg(&nma, msg, len);
        errors += error != 0;
        error = cats_nma_pfc_msg(&nma, ifindex, msg, len);
        errors += error != 0 && error != EOPNOTSUPP;
        error = cats_nma_pause_msg(&nma, ifindex, msg, len, type);
        errors += error != 0;

        uint64_t counted = 0;
        for (int i = 0; i < CATS_NMA_N_SOURCES; i++) {
            counted += nma.errors[i];
        }
        if (counted != errors || (errors && !nma.last_error)) {
            abort();
        }
        if (nma.n_links > CATS_NL_MAX_LINKS
            || nma.n_qdiscs > CATS_NL_MAX_QDISCS) {
            abort();
        }
        for (size_t i = 1; i < nma.n_links; i++) {
            if (nma.links[i - 1].nl.ifindex >= nma.links[i].nl.ifindex) {
                abort();
            }
        }
    }
    cats_nma_links_end(&nma, true);
    cats_nma_qdiscs_end(&nma, true);
    check_report(&nma);
    cats_nma_destroy(&nma);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cats_nl_netstat ns;
    char *error_msg = NULL;
    uint64_t value;
    int error;

    if (!size) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        fuzz_netlink(data + 1, size - 1);
        break;

    case 1:
        error = cats_nl_parse_netstat((const char *) data + 1, size - 1, &ns,
                                      &error_msg);
        check_result(error, error_msg);
        if (!error && ns.present >> CATS_N_NETSTAT) {
            abort();
        }
        break;

    case 2:
        error = cats_nl_parse_counter((const char *) data + 1, size - 1,
                                      &value, &error_msg);
        check_result(error, error_msg);
        break;
    }
    return 0;
}
