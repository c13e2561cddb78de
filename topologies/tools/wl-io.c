/*
 * ovs-cats workload tools: small I/O helpers (see wl-io.h).
 */

#include "wl-io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>

const char *wl_program_name = "cats-tool";

int64_t
wl_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

unsigned long
wl_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl)) {
        return 1024;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* An unlimited hard limit would make the per-descriptor tables huge. */
    return rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
}

void
wl_timerfd_at(int timerfd, int64_t when_ns)
{
    struct itimerspec its;

    memset(&its, 0, sizeof its);
    if (when_ns != INT64_MAX) {
        /* A zero it_value would disarm the timer: a time in the past must
         * still be a time. */
        if (when_ns < 1) {
            when_ns = 1;
        }
        its.it_value.tv_sec = when_ns / 1000000000;
        its.it_value.tv_nsec = when_ns % 1000000000;
    }
    if (timerfd_settime(timerfd, TFD_TIMER_ABSTIME, &its, NULL)) {
        wl_fatal("timerfd_settime: %s", strerror(errno));
    }
}

static void
vmessage(const char *format, va_list args)
{
    fprintf(stderr, "%s: ", wl_program_name);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
}

void
wl_fatal(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vmessage(format, args);
    va_end(args);
    exit(1);
}

void
wl_warn(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    vmessage(format, args);
    va_end(args);
}

void *
wl_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (!p) {
        wl_fatal("out of memory");
    }
    return p;
}

void *
wl_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p) {
        wl_fatal("out of memory");
    }
    return p;
}

void *
wl_xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p) {
        wl_fatal("out of memory");
    }
    return p;
}
