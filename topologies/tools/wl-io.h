/*
 * ovs-cats workload tools: small I/O helpers shared by cats-serve and
 * cats-load (clock, file descriptor limits, fatal errors, buffers).
 */

#ifndef WL_IO_H
#define WL_IO_H 1

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC, in nanoseconds. */
int64_t wl_now_ns(void);

/* Raises RLIMIT_NOFILE's soft limit to its hard limit: both tools hold one
 * descriptor per connection.  Returns the new soft limit. */
unsigned long wl_raise_nofile(void);

/* Arms 'timerfd' to expire at monotonic time 'when_ns' (at once if it is
 * already past; never if it is INT64_MAX). */
void wl_timerfd_at(int timerfd, int64_t when_ns);

void wl_fatal(const char *format, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void wl_warn(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Dies on allocation failure: neither tool can do anything useful
 * without memory. */
void *wl_xmalloc(size_t);
void *wl_xcalloc(size_t, size_t);
void *wl_xrealloc(void *, size_t);

/* The program name for messages, set by main(). */
extern const char *wl_program_name;

#endif /* wl-io.h */
