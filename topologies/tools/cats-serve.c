/*
 * cats-serve: a request server whose queueing is real, for the instance
 * hosts of a CATS topology.
 *
 * Each request line ("REQ ID [WORK_MS]", workload.h) is served by one of
 * N worker slots for a service time drawn from a distribution, multiplied
 * by a speed factor; requests beyond N wait in one FIFO queue.  So the
 * latency that a client sees is the queueing a real server would show,
 * and an instance can be made slow, or partly busy with background work,
 * at run time through a control socket.
 *
 * Service time is waiting on a timer, not burning CPU, so that dozens of
 * instances fit on a 2-core machine; --burn burns CPU on N worker threads
 * instead, for experiments where CPU contention is the point.
 *
 * One thread, one epoll loop (plus the worker threads with --burn, which
 * only burn and hand the job back).  Everything is bounded: the queue
 * (--max-queue), a connection's unanswered requests and unsent output,
 * accepts per wakeup.
 *
 * Every --report-interval it sends a metrics line for cats-agent to a
 * unix datagram socket (include/cats/agent-sources.h):
 *
 *     SERVICE IP:PORT in_flight=N queue=N latency_ms=X rps=X
 *
 * Nobody listening is not an error: the datagram is counted and dropped.
 *
 * See topologies/tools/README.md.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "wl-io.h"
#include "workload.h"

/* A connection stops being read while it has this many unanswered
 * requests, or this much unsent output; past OUT_MAX it is closed (the
 * peer does not read its replies). */
#define CONN_MAX_PENDING 1024
#define CONN_OUT_PAUSE (64 * 1024)
#define CONN_OUT_MAX (1024 * 1024)

#define ACCEPTS_PER_WAKEUP 256
#define ACCEPT_PAUSE_NS (100 * 1000000LL)

/* Background work holds a slot for at least this long, so that a
 * zero-length service time cannot spin the loop restarting it. */
#define BACKGROUND_MIN_MS 1.0

/* epoll data: what kind of descriptor, and the descriptor.  A connection
 * adds the low bits of its generation, so that an event reported for a
 * connection closed earlier in the same batch is not applied to a new one
 * that got the same descriptor number. */
enum tag {
    TAG_LISTEN = 1,
    TAG_CONTROL,
    TAG_TIMER,
    TAG_SIGNAL,
    TAG_WORKERS,
    TAG_CONN,
};
#define TAG(T, FD) (((uint64_t) (T) << 56) | (uint32_t) (FD))
#define CONN_TAG(C) (TAG(TAG_CONN, (C)->fd) \
                     | ((uint64_t) ((C)->gen & 0xffffff) << 32))

struct conn {
    int fd;
    uint32_t gen;               /* Tells apart reuses of one fd number. */
    bool control;               /* The control socket, not requests. */
    bool closing;               /* No more input: close once answered and
                                 * flushed. */
    uint32_t events;            /* As registered with epoll. */
    unsigned int pending;       /* Requests queued or in service. */
    struct wl_lines in;         /* A partial line, waiting for its '\n'. */
    char *out;                  /* Unsent output: out[out_ofs..out_len). */
    size_t out_ofs, out_len, out_cap;
};

struct job {
    struct job *next;           /* In the queue, a worker list, or free. */
    int fd;                     /* Connection, and its generation; */
    uint32_t gen;               /* fd -1: background work. */
    bool background;
    double work_ms;             /* From the request; negative: none. */
    int64_t arrival_ns, start_ns, end_ns;
    char id[WL_ID_MAX + 1];
};

/* Configuration. */
static char name[WL_NAME_MAX + 1];
static struct sockaddr_in listen_addr;
static unsigned int n_slots = 4;
static struct wl_dist dist = { WL_DIST_FIXED, 10.0, 0.0 };
static double speed = 1.0;
static double background;
static bool burn;
static size_t max_queue = 10000;
static const char *control_path;
static const char *report_path;
static const char *service_name;
static const char *instance;
static int64_t report_interval_ns = 100 * 1000000LL;
static uint64_t seed = 1;

/* Descriptors. */
static int epfd, timer_fd, sig_fd;
static int listen_fd = -1, control_fd = -1, report_fd = -1, workers_fd = -1;
static struct sockaddr_un report_addr;

/* Connections by descriptor. */
static struct conn **conns;
static size_t max_fds;
static size_t n_conns;          /* Request connections, not control. */
static uint32_t next_gen;

/* Jobs: the FIFO queue of requests waiting for a slot, and the running
 * ones, in a min-heap by end time (timers) or with the workers (--burn). */
static struct job *queue_head, *queue_tail;
static size_t queue_len;
static struct job **heap;
static size_t heap_len, heap_cap;
static unsigned int running_req, running_bg;
static struct job *free_jobs;
static struct wl_rng rng;

static int64_t accept_resume_ns = INT64_MAX;
static int64_t next_report_ns = INT64_MAX;
static int64_t last_report_ns;

/* Counters ('reset' zeroes them). */
static struct {
    uint64_t accepted;          /* Connections. */
    uint64_t requests;          /* Request lines, good or bad. */
    uint64_t completed;         /* Answered OK. */
    uint64_t overloaded;        /* Refused: the queue was full. */
    uint64_t bad;               /* Lines that did not parse. */
    uint64_t abandoned;         /* Dropped: their connection was gone. */
    uint64_t resets;            /* Connections lost with requests or
                                 * output pending. */
    uint64_t report_sent, report_absent, report_dropped, report_failed;
} stats;
static struct wl_hist *latency_hist;    /* Arrival to reply, us. */

/* Since the last report. */
static uint64_t iv_completed;
static double iv_latency_ms;

/* --burn: worker threads.  The main thread hands them jobs on 'todo' and
 * they return them on 'done', waking the loop through 'workers_fd'. */
static pthread_mutex_t work_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cond = PTHREAD_COND_INITIALIZER;
static struct job *todo_head, *todo_tail, *done_list;
static unsigned int n_workers;

static void dispatch(int64_t now);

/* Jobs. */

static struct job *
job_alloc(void)
{
    struct job *j = free_jobs;

    if (j) {
        free_jobs = j->next;
    } else {
        j = wl_xmalloc(sizeof *j);
    }
    memset(j, 0, sizeof *j);
    j->fd = -1;
    j->work_ms = -1;
    return j;
}

static void
job_free(struct job *j)
{
    j->next = free_jobs;
    free_jobs = j;
}

static void
heap_push(struct job *j)
{
    size_t i;

    if (heap_len == heap_cap) {
        heap_cap = heap_cap ? 2 * heap_cap : 64;
        heap = wl_xrealloc(heap, heap_cap * sizeof *heap);
    }
    for (i = heap_len++; i > 0; i = (i - 1) / 2) {
        struct job *parent = heap[(i - 1) / 2];

        if (parent->end_ns <= j->end_ns) {
            break;
        }
        heap[i] = parent;
    }
    heap[i] = j;
}

static struct job *
heap_pop(void)
{
    struct job *top = heap[0], *last = heap[--heap_len];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= heap_len) {
            break;
        }
        if (c + 1 < heap_len && heap[c + 1]->end_ns < heap[c]->end_ns) {
            c++;
        }
        if (last->end_ns <= heap[c]->end_ns) {
            break;
        }
        heap[i] = heap[c];
        i = c;
    }
    if (heap_len) {
        heap[i] = last;
    }
    return top;
}

/* Burns 'ns' nanoseconds of this thread's CPU time: on a busy machine
 * that takes longer than 'ns', as real computation would. */
static void
burn_cpu(int64_t ns)
{
    struct timespec ts;
    int64_t target;
    volatile uint64_t sink = 0;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    target = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec + ns;
    for (;;) {
        for (unsigned int i = 0; i < 2000; i++) {
            sink += i * i;
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        if ((int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec >= target) {
            break;
        }
    }
}

static void *
worker_main(void *arg)
{
    (void) arg;
    for (;;) {
        struct job *j;
        uint64_t one = 1;

        pthread_mutex_lock(&work_mutex);
        while (!todo_head) {
            pthread_cond_wait(&work_cond, &work_mutex);
        }
        j = todo_head;
        todo_head = j->next;
        if (!todo_head) {
            todo_tail = NULL;
        }
        pthread_mutex_unlock(&work_mutex);

        burn_cpu(j->end_ns - j->start_ns);
        j->end_ns = wl_now_ns();

        pthread_mutex_lock(&work_mutex);
        j->next = done_list;
        done_list = j;
        pthread_mutex_unlock(&work_mutex);
        if (write(workers_fd, &one, sizeof one) < 0) {
            /* The counter cannot overflow at our rates; nothing to do. */
        }
    }
    return NULL;
}

static void
start_workers(unsigned int n)
{
    workers_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (workers_fd < 0) {
        wl_fatal("eventfd: %s", strerror(errno));
    }
    for (n_workers = 0; n_workers < n; n_workers++) {
        pthread_t t;
        int error = pthread_create(&t, NULL, worker_main, NULL);

        if (error) {
            wl_fatal("pthread_create: %s", strerror(error));
        }
        pthread_detach(t);
    }
}

/* Gives 'j' a slot now. */
static void
start_job(struct job *j, int64_t now)
{
    double ms = wl_dist_sample(&dist, &rng, j->work_ms) * speed;

    if (j->background) {
        running_bg++;
        if (ms < BACKGROUND_MIN_MS) {
            ms = BACKGROUND_MIN_MS;
        }
    } else {
        running_req++;
    }
    j->start_ns = now;
    j->end_ns = now + llround(ms * 1e6);
    if (burn) {
        pthread_mutex_lock(&work_mutex);
        j->next = NULL;
        if (todo_tail) {
            todo_tail->next = j;
        } else {
            todo_head = j;
        }
        todo_tail = j;
        pthread_cond_signal(&work_cond);
        pthread_mutex_unlock(&work_mutex);
    } else {
        heap_push(j);
    }
}

/* Connections. */

static struct conn *
conn_lookup(int fd, uint32_t gen)
{
    struct conn *c = fd >= 0 && (size_t) fd < max_fds ? conns[fd] : NULL;

    return c && c->gen == gen ? c : NULL;
}

static void
conn_new(int fd, bool control)
{
    struct epoll_event ev;
    struct conn *c = wl_xcalloc(1, sizeof *c);

    c->fd = fd;
    c->gen = ++next_gen;
    c->control = control;
    c->events = EPOLLIN;
    ev.events = c->events;
    ev.data.u64 = CONN_TAG(c);
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
        wl_warn("epoll_ctl: %s", strerror(errno));
        close(fd);
        free(c);
        return;
    }
    conns[fd] = c;
    n_conns += !control;
}

/* Closes 'c'; its jobs find it gone (conn_lookup()) and are dropped. */
static void
conn_close(struct conn *c)
{
    if (!c->control && (c->pending || c->out_len > c->out_ofs)) {
        stats.resets++;
    }
    conns[c->fd] = NULL;
    n_conns -= !c->control;
    close(c->fd);
    free(c->out);
    free(c);
}

/* Writes what it can of 'c''s output.  Returns false if 'c' was closed. */
static bool
conn_flush(struct conn *c)
{
    while (c->out_ofs < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_ofs, c->out_len - c->out_ofs,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            c->out_ofs += n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            return true;
        } else {
            conn_close(c);
            return false;
        }
    }
    c->out_ofs = c->out_len = 0;
    return true;
}

/* Queues 'len' bytes for 'c' and writes what it can.  Returns false if 'c'
 * was closed. */
static bool
conn_send(struct conn *c, const char *data, size_t len)
{
    if (c->out_len - c->out_ofs + len > CONN_OUT_MAX) {
        conn_close(c);
        return false;
    }
    if (c->out_ofs && c->out_len + len > c->out_cap) {
        memmove(c->out, c->out + c->out_ofs, c->out_len - c->out_ofs);
        c->out_len -= c->out_ofs;
        c->out_ofs = 0;
    }
    if (c->out_len + len > c->out_cap) {
        c->out_cap = c->out_cap ? 2 * c->out_cap : 256;
        while (c->out_cap < c->out_len + len) {
            c->out_cap *= 2;
        }
        c->out = wl_xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return conn_flush(c);
}

/* After any change to 'c': closes it if it is done, otherwise brings its
 * epoll interest up to date (reading paused while it has too much work
 * or output pending: that is backpressure on one greedy client). */
static void
conn_update(struct conn *c)
{
    size_t unsent = c->out_len - c->out_ofs;
    uint32_t events = 0;

    if (c->closing && !c->pending && !unsent) {
        conn_close(c);
        return;
    }
    if (!c->closing && c->pending < CONN_MAX_PENDING
        && unsent < CONN_OUT_PAUSE) {
        events |= EPOLLIN;
    }
    if (unsent) {
        events |= EPOLLOUT;
    }
    if (events != c->events) {
        struct epoll_event ev;

        ev.events = events;
        ev.data.u64 = CONN_TAG(c);
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        c->events = events;
    }
}

static void
send_err(struct conn *c, const char *id, const char *reason)
{
    char buf[WL_LINE_MAX];
    size_t len = wl_format_err(buf, sizeof buf, id, reason);

    conn_send(c, buf, len);
}

static void
format_stats(char *buf, size_t size)
{
    char d[64];

    wl_dist_format(&dist, d, sizeof d);
    snprintf(buf, size,
             "name=%s slots=%u speed=%g background=%g service-time=%s "
             "in_flight=%u queue=%zu background_busy=%u conns=%zu "
             "accepted=%llu requests=%llu completed=%llu overloaded=%llu "
             "bad=%llu abandoned=%llu resets=%llu latency_mean_ms=%.3f "
             "latency_p50_ms=%.3f latency_p99_ms=%.3f "
             "latency_max_ms=%.3f reports_sent=%llu reports_absent=%llu "
             "reports_dropped=%llu reports_failed=%llu",
             name, n_slots, speed, background, d, running_req, queue_len,
             running_bg, n_conns,
             (unsigned long long) stats.accepted,
             (unsigned long long) stats.requests,
             (unsigned long long) stats.completed,
             (unsigned long long) stats.overloaded,
             (unsigned long long) stats.bad,
             (unsigned long long) stats.abandoned,
             (unsigned long long) stats.resets,
             wl_hist_mean(latency_hist) / 1000.0,
             wl_hist_percentile(latency_hist, 50) / 1000.0,
             wl_hist_percentile(latency_hist, 99) / 1000.0,
             latency_hist->max / 1000.0,
             (unsigned long long) stats.report_sent,
             (unsigned long long) stats.report_absent,
             (unsigned long long) stats.report_dropped,
             (unsigned long long) stats.report_failed);
}

/* One control command.  Replies "OK ..." or "ERR ...", one line. */
static void
control_line(struct conn *c, const char *line, size_t len, int64_t now)
{
    char reply[2048], d[64];
    struct wl_ctl ctl;
    const char *error = wl_parse_control(line, len, &ctl);

    if (error) {
        snprintf(reply, sizeof reply, "ERR %s\n", error);
    } else {
        switch (ctl.op) {
        case WL_CTL_SPEED:
            speed = ctl.value;
            snprintf(reply, sizeof reply, "OK speed=%g\n", speed);
            break;
        case WL_CTL_BACKGROUND:
            background = ctl.value;
            dispatch(now);
            snprintf(reply, sizeof reply, "OK background=%g "
                     "background_busy=%u\n", background, running_bg);
            break;
        case WL_CTL_SLOTS:
            if (burn && ctl.slots > n_workers) {
                snprintf(reply, sizeof reply, "ERR --burn started %u worker "
                         "threads: slots must be at most that\n", n_workers);
                break;
            }
            n_slots = ctl.slots;
            dispatch(now);
            snprintf(reply, sizeof reply, "OK slots=%u\n", n_slots);
            break;
        case WL_CTL_SERVICE_TIME:
            dist = ctl.dist;
            wl_dist_format(&dist, d, sizeof d);
            snprintf(reply, sizeof reply, "OK service-time=%s\n", d);
            break;
        case WL_CTL_RESET:
            memset(&stats, 0, sizeof stats);
            wl_hist_init(latency_hist);
            /* Fall through. */
        case WL_CTL_STATS:
        default:
            memcpy(reply, "OK ", 3);
            format_stats(reply + 3, sizeof reply - 4);
            strcat(reply, "\n");
            break;
        }
    }
    conn_send(c, reply, strlen(reply));
}

/* One request line from 'c'. */
static void
request_line(struct conn *c, const char *line, size_t len, int64_t now)
{
    struct wl_request req;
    const char *error;
    struct job *j;

    stats.requests++;
    error = wl_parse_request(line, len, &req);
    if (error) {
        stats.bad++;
        send_err(c, "-", "bad-request");
        return;
    }
    if (queue_len >= max_queue) {
        stats.overloaded++;
        send_err(c, req.id, "overloaded");
        return;
    }
    j = job_alloc();
    j->fd = c->fd;
    j->gen = c->gen;
    j->work_ms = req.work_ms;
    j->arrival_ns = now;
    memcpy(j->id, req.id, sizeof j->id);
    if (queue_tail) {
        queue_tail->next = j;
    } else {
        queue_head = j;
    }
    queue_tail = j;
    queue_len++;
    c->pending++;
    dispatch(now);
}

struct input_ctx {
    struct conn *c;
    int fd;
    uint32_t gen;
    int64_t now;
};

static bool
input_line(const char *line, size_t len, void *ctx_)
{
    struct input_ctx *ctx = ctx_;

    if (ctx->c->control) {
        control_line(ctx->c, line, len, ctx->now);
    } else {
        request_line(ctx->c, line, len, ctx->now);
    }
    /* The reply may have found the connection broken and closed it. */
    return conn_lookup(ctx->fd, ctx->gen) != NULL;
}

/* Feeds 'len' bytes read from 'c' to the line parsers.  Returns false if
 * 'c' was closed. */
static bool
conn_input(struct conn *c, const char *buf, size_t len, int64_t now)
{
    struct input_ctx ctx = { c, c->fd, c->gen, now };

    switch (wl_lines_feed(&c->in, buf, len, input_line, &ctx)) {
    case WL_FEED_OK:
        return true;
    case WL_FEED_STOPPED:
        return false;
    case WL_FEED_TOO_LONG:
    default:
        /* Answered, then closed once the replies still owed are sent:
         * resynchronizing on the next '\n' could take any amount of
         * input. */
        send_err(c, "-", "line-too-long");
        if (!conn_lookup(ctx.fd, ctx.gen)) {
            return false;
        }
        c->closing = true;
        return true;
    }
}

static void
conn_event(struct conn *c, uint32_t events, int64_t now)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        /* Reset, or shut down both ways: no reply can get through. */
        conn_close(c);
        return;
    }
    if (events & EPOLLOUT && !conn_flush(c)) {
        return;
    }
    if (events & EPOLLIN && !c->closing) {
        char buf[16384];
        ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);

        if (n > 0) {
            if (!conn_input(c, buf, n, now)) {
                return;
            }
        } else if (!n) {
            c->closing = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            conn_close(c);
            return;
        }
    }
    conn_update(c);
}

/* Slots and the queue. */

static unsigned int
background_target(void)
{
    return lround(background * n_slots);
}

/* Fills free slots: background work first, as long as it holds fewer
 * slots than its share (it is the load that is "already there"), then the
 * queue in arrival order. */
static void
dispatch(int64_t now)
{
    while (running_req + running_bg < n_slots) {
        struct job *j;

        if (running_bg < background_target()) {
            j = job_alloc();
            j->background = true;
            j->arrival_ns = now;
        } else if (queue_head) {
            j = queue_head;
            queue_head = j->next;
            if (!queue_head) {
                queue_tail = NULL;
            }
            queue_len--;

            struct conn *c = conn_lookup(j->fd, j->gen);
            if (!c) {
                /* Nobody is waiting for the answer any more. */
                stats.abandoned++;
                job_free(j);
                continue;
            }
        } else {
            break;
        }
        start_job(j, now);
    }
}

static void
complete_job(struct job *j, int64_t now)
{
    if (j->background) {
        running_bg--;
    } else {
        struct conn *c = conn_lookup(j->fd, j->gen);

        running_req--;
        if (c) {
            char buf[WL_LINE_MAX];
            uint64_t latency_us = (now - j->arrival_ns) / 1000;
            size_t len;

            stats.completed++;
            wl_hist_add(latency_hist, latency_us);
            iv_completed++;
            iv_latency_ms += latency_us / 1000.0;

            c->pending--;
            len = wl_format_ok(buf, sizeof buf, j->id, name,
                               (j->start_ns - j->arrival_ns) / 1000,
                               (now - j->start_ns) / 1000);
            if (conn_send(c, buf, len)) {
                conn_update(c);
            }
        } else {
            stats.abandoned++;
        }
    }
    job_free(j);
}

/* Reports. */

static void
send_report(int64_t now)
{
    char buf[WL_LINE_MAX + WL_NAME_MAX];
    double secs = (now - last_report_ns) / 1e9;
    size_t len;

    len = wl_format_report(buf, sizeof buf, service_name, instance,
                           running_req, queue_len,
                           iv_completed ? iv_latency_ms / iv_completed : -1,
                           secs > 0 ? iv_completed / secs : 0);
    if (sendto(report_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
               (struct sockaddr *) &report_addr, sizeof report_addr) >= 0) {
        stats.report_sent++;
    } else if (errno == ENOENT || errno == ECONNREFUSED) {
        /* No agent (yet): reports are advisory. */
        stats.report_absent++;
    } else if (errno == EAGAIN || errno == ENOBUFS) {
        /* The agent is behind; a newer report comes soon. */
        stats.report_dropped++;
    } else {
        if (!stats.report_failed) {
            wl_warn("%s: %s (reports keep being tried)", report_path,
                    strerror(errno));
        }
        stats.report_failed++;
    }
    iv_completed = 0;
    iv_latency_ms = 0;
    last_report_ns = now;
    next_report_ns += report_interval_ns;
    if (next_report_ns <= now) {
        next_report_ns = now + report_interval_ns;
    }
}

/* Listening sockets. */

static void
set_listen_interest(uint32_t events)
{
    struct epoll_event ev;

    ev.events = events;
    ev.data.u64 = TAG(TAG_LISTEN, listen_fd);
    epoll_ctl(epfd, EPOLL_CTL_MOD, listen_fd, &ev);
}

static void
do_accept(int fd, bool control, int64_t now)
{
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (s < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
                || errno == ENOMEM) {
                /* Level-triggered epoll would wake us for the same
                 * connection again at once: stop listening a while. */
                if (!control && accept_resume_ns == INT64_MAX) {
                    wl_warn("accept: %s (pausing 100 ms)", strerror(errno));
                    set_listen_interest(0);
                    accept_resume_ns = now + ACCEPT_PAUSE_NS;
                }
                return;
            } else if (errno == ECONNABORTED || errno == EINTR
                       || errno == EPROTO) {
                continue;
            }
            return;
        }
        if ((size_t) s >= max_fds) {
            close(s);
            continue;
        }
        stats.accepted += !control;
        conn_new(s, control);
    }
}

static int
open_listener(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0) {
        wl_fatal("socket: %s", strerror(errno));
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Accepted sockets inherit it: replies to pipelined requests must not
     * wait for the client's delayed ACK. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *) &listen_addr, sizeof listen_addr)) {
        char ip[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &listen_addr.sin_addr, ip, sizeof ip);
        wl_fatal("bind %s:%u: %s", ip, ntohs(listen_addr.sin_port),
                 strerror(errno));
    }
    if (listen(fd, 4096)) {
        wl_fatal("listen: %s", strerror(errno));
    }
    return fd;
}

static bool
fill_unix_addr(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun->sun_path) {
        return false;
    }
    strcpy(sun->sun_path, path);
    return true;
}

static int
open_control(const char *path)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd;

    if (!fill_unix_addr(&sun, path)) {
        wl_fatal("--control: %s: path too long", path);
    }
    /* A socket left by a previous run would make bind() fail; anything
     * else by that name is not ours to remove. */
    if (!lstat(path, &st) && S_ISSOCK(st.st_mode)) {
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *) &sun, sizeof sun)
        || listen(fd, 16)) {
        wl_fatal("--control: %s: %s", path, strerror(errno));
    }
    return fd;
}

static void
epoll_add(int fd, enum tag tag)
{
    struct epoll_event ev;

    ev.events = EPOLLIN;
    ev.data.u64 = TAG(tag, fd);
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
        wl_fatal("epoll_ctl: %s", strerror(errno));
    }
}

/* --send: one command to a running server. */
static int
send_command(const char *path, const char *command)
{
    struct sockaddr_un sun;
    struct timeval tv = { .tv_sec = 5 };
    char buf[4096];
    size_t len = 0;
    int fd;

    if (!fill_unix_addr(&sun, path)) {
        wl_fatal("%s: path too long", path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        wl_fatal("%s: %s", path, strerror(errno));
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    snprintf(buf, sizeof buf, "%s\n", command);
    if (write(fd, buf, strlen(buf)) != (ssize_t) strlen(buf)) {
        wl_fatal("%s: write: %s", path, strerror(errno));
    }
    while (len < sizeof buf - 1 && !memchr(buf, '\n', len)) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);

        if (n <= 0) {
            wl_fatal("%s: no reply (%s)", path,
                     n ? strerror(errno) : "connection closed");
        }
        len += n;
    }
    buf[len] = '\0';
    fputs(buf, stdout);
    close(fd);
    return strncmp(buf, "OK", 2) ? 1 : 0;
}

/* Shutdown: every request still waiting gets an explicit answer, so that a
 * client tells "server went away" from "network lost it". */
static void
shutdown_server(void)
{
    for (struct job *j = queue_head; j; j = j->next) {
        struct conn *c = conn_lookup(j->fd, j->gen);

        if (c) {
            send_err(c, j->id, "shutdown");
        }
    }
    for (size_t i = 0; i < heap_len; i++) {
        struct conn *c = conn_lookup(heap[i]->fd, heap[i]->gen);

        if (c) {
            send_err(c, heap[i]->id, "shutdown");
        }
    }

    printf("cats-serve %s: %llu connections, %llu requests: %llu answered, "
           "%llu overloaded, %llu bad, %llu abandoned, %llu resets; latency "
           "ms mean %.3f p50 %.3f p99 %.3f max %.3f",
           name, (unsigned long long) stats.accepted,
           (unsigned long long) stats.requests,
           (unsigned long long) stats.completed,
           (unsigned long long) stats.overloaded,
           (unsigned long long) stats.bad,
           (unsigned long long) stats.abandoned,
           (unsigned long long) stats.resets,
           wl_hist_mean(latency_hist) / 1000.0,
           wl_hist_percentile(latency_hist, 50) / 1000.0,
           wl_hist_percentile(latency_hist, 99) / 1000.0,
           latency_hist->max / 1000.0);
    if (report_path) {
        printf("; reports sent %llu, absent %llu, dropped %llu, failed %llu",
               (unsigned long long) stats.report_sent,
               (unsigned long long) stats.report_absent,
               (unsigned long long) stats.report_dropped,
               (unsigned long long) stats.report_failed);
    }
    printf("\n");
    fflush(stdout);
    if (control_path) {
        unlink(control_path);
    }
}

static void
usage(void)
{
    printf("\
usage: cats-serve [OPTIONS]\n\
       cats-serve --control=PATH --send=COMMAND\n\
\n\
A TCP request server with N worker slots and a FIFO queue.  Requests are\n\
lines 'REQ ID [WORK_MS]', answered 'OK ID NAME WAIT_US SERVICE_US' after\n\
the service time (see topologies/tools/README.md).\n\
\n\
  --listen=[IP:]PORT      where to listen (default 0.0.0.0:80)\n\
  --name=NAME             instance name in replies (default: host name)\n\
  --slots=N               worker slots (default 4)\n\
  --service-time=DIST     fixed:MS, exp:MS, lognormal:MS,SIGMA, or\n\
                          client:MS (the request's WORK_MS, else MS)\n\
                          (default fixed:10)\n\
  --speed=X               multiply service times by X (default 1)\n\
  --background=F          keep fraction F of the slots busy (default 0)\n\
  --burn                  burn CPU on N threads instead of waiting\n\
  --max-queue=N           refuse requests beyond N waiting (10000)\n\
  --seed=N                service time generator seed (default 1)\n\
  --control=PATH          unix socket for run-time commands: speed X,\n\
                          background F, slots N, service-time DIST,\n\
                          stats, reset\n\
  --send=COMMAND          with --control: send COMMAND to a running\n\
                          server, print its reply, exit (1 on ERR)\n\
  --report=PATH           send metrics lines to this unix datagram socket\n\
  --service=NAME          service name in the metrics lines\n\
  --instance=IP:PORT      instance address in the metrics lines (default:\n\
                          the --listen address, if not 0.0.0.0)\n\
  --report-interval=MS    between metrics lines (default 100)\n\
\n\
SIGTERM or SIGINT: answer waiting requests 'ERR ID shutdown', print a\n\
summary, exit 0.  SIGUSR1: print the stats line to stderr.\n");
}

static double
number_arg(const char *option, const char *arg, double min, double max)
{
    double x;

    if (!wl_parse_number(arg, strlen(arg), &x) || x < min || x > max) {
        wl_fatal("--%s: '%s' is not a number from %g to %g", option, arg,
                 min, max);
    }
    return x;
}

static void
parse_listen(const char *arg)
{
    uint32_t ip = htonl(INADDR_ANY);
    uint16_t port;
    uint64_t p;

    if (strchr(arg, ':')) {
        if (!wl_parse_ip_port(arg, &ip, &port)) {
            wl_fatal("--listen: '%s' is not IP:PORT", arg);
        }
    } else if (wl_parse_uint(arg, strlen(arg), 65535, &p) && p) {
        port = p;
    } else {
        wl_fatal("--listen: '%s' is not [IP:]PORT", arg);
    }
    memset(&listen_addr, 0, sizeof listen_addr);
    listen_addr.sin_family = AF_INET;
    listen_addr.sin_addr.s_addr = ip;
    listen_addr.sin_port = htons(port);
}

static void
parse_options(int argc, char *argv[], const char **send)
{
    enum {
        OPT_LISTEN = 256, OPT_NAME, OPT_SLOTS, OPT_SERVICE_TIME, OPT_SPEED,
        OPT_BACKGROUND, OPT_BURN, OPT_MAX_QUEUE, OPT_SEED, OPT_CONTROL,
        OPT_SEND, OPT_REPORT, OPT_SERVICE, OPT_INSTANCE, OPT_INTERVAL,
    };
    static const struct option options[] = {
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "name", required_argument, NULL, OPT_NAME },
        { "slots", required_argument, NULL, OPT_SLOTS },
        { "service-time", required_argument, NULL, OPT_SERVICE_TIME },
        { "speed", required_argument, NULL, OPT_SPEED },
        { "background", required_argument, NULL, OPT_BACKGROUND },
        { "burn", no_argument, NULL, OPT_BURN },
        { "max-queue", required_argument, NULL, OPT_MAX_QUEUE },
        { "seed", required_argument, NULL, OPT_SEED },
        { "control", required_argument, NULL, OPT_CONTROL },
        { "send", required_argument, NULL, OPT_SEND },
        { "report", required_argument, NULL, OPT_REPORT },
        { "service", required_argument, NULL, OPT_SERVICE },
        { "instance", required_argument, NULL, OPT_INSTANCE },
        { "report-interval", required_argument, NULL, OPT_INTERVAL },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *error;
    uint64_t n;
    int opt;

    parse_listen("0.0.0.0:80");
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_LISTEN:
            parse_listen(optarg);
            break;
        case OPT_NAME:
            if (!wl_name_valid(optarg)) {
                wl_fatal("--name: 1 to %d printable characters, no blanks",
                         WL_NAME_MAX);
            }
            strcpy(name, optarg);
            break;
        case OPT_SLOTS:
            if (!wl_parse_uint(optarg, strlen(optarg), WL_SLOTS_MAX, &n)
                || !n) {
                wl_fatal("--slots: '%s' is not an integer from 1 to %d",
                         optarg, WL_SLOTS_MAX);
            }
            n_slots = n;
            break;
        case OPT_SERVICE_TIME:
            error = wl_dist_parse(optarg, strlen(optarg), &dist);
            if (error) {
                wl_fatal("--service-time: '%s': %s", optarg, error);
            }
            break;
        case OPT_SPEED:
            speed = number_arg("speed", optarg, 0.001, WL_SPEED_MAX);
            break;
        case OPT_BACKGROUND:
            background = number_arg("background", optarg, 0, 1);
            break;
        case OPT_BURN:
            burn = true;
            break;
        case OPT_MAX_QUEUE:
            if (!wl_parse_uint(optarg, strlen(optarg), 10000000, &n)) {
                wl_fatal("--max-queue: '%s' is not an integer up to 1e7",
                         optarg);
            }
            max_queue = n;
            break;
        case OPT_SEED:
            if (!wl_parse_uint(optarg, strlen(optarg), UINT64_MAX, &seed)) {
                wl_fatal("--seed: '%s' is not an integer", optarg);
            }
            break;
        case OPT_CONTROL:
            control_path = optarg;
            break;
        case OPT_SEND:
            *send = optarg;
            break;
        case OPT_REPORT:
            report_path = optarg;
            break;
        case OPT_SERVICE:
            if (!wl_name_valid(optarg)) {
                wl_fatal("--service: 1 to %d printable characters, no "
                         "blanks", WL_NAME_MAX);
            }
            service_name = optarg;
            break;
        case OPT_INSTANCE:
            instance = optarg;
            break;
        case OPT_INTERVAL:
            report_interval_ns = llround(number_arg("report-interval",
                                                    optarg, 1, 3600000)
                                         * 1e6);
            break;
        case 'h':
            usage();
            exit(0);
        default:
            exit(2);
        }
    }
    if (optind < argc) {
        wl_fatal("unexpected argument '%s' (try --help)", argv[optind]);
    }
}

/* Checks the options that go together. */
static void
check_options(void)
{
    static char listen_str[32];
    uint32_t ip;
    uint16_t port;

    if (!name[0]) {
        if (gethostname(name, sizeof name - 1) || !wl_name_valid(name)) {
            strcpy(name, "cats-serve");
        }
    }
    if (!report_path) {
        return;
    }
    if (!service_name) {
        wl_fatal("--report needs --service=NAME");
    }
    if (!instance) {
        if (listen_addr.sin_addr.s_addr == htonl(INADDR_ANY)) {
            wl_fatal("--report with --listen on 0.0.0.0 needs "
                     "--instance=IP:PORT");
        }
        inet_ntop(AF_INET, &listen_addr.sin_addr, listen_str,
                  sizeof listen_str);
        snprintf(listen_str + strlen(listen_str),
                 sizeof listen_str - strlen(listen_str), ":%u",
                 ntohs(listen_addr.sin_port));
        instance = listen_str;
    }
    if (!wl_parse_ip_port(instance, &ip, &port)) {
        wl_fatal("--instance: '%s' is not IP:PORT", instance);
    }
    if (!fill_unix_addr(&report_addr, report_path)) {
        wl_fatal("--report: %s: path too long", report_path);
    }
}

static void
run_timers(int64_t now)
{
    /* Bounded: jobs that a completion starts end in the future (or, with a
     * zero service time, are answered on the next pass). */
    size_t budget = heap_len;

    while (heap_len && heap[0]->end_ns <= now && budget--) {
        complete_job(heap_pop(), now);
        dispatch(now);
    }
    if (now >= next_report_ns) {
        send_report(now);
    }
    if (now >= accept_resume_ns) {
        accept_resume_ns = INT64_MAX;
        set_listen_interest(EPOLLIN);
    }
}

static void
collect_workers(int64_t now)
{
    struct job *list;
    uint64_t count;

    if (read(workers_fd, &count, sizeof count) < 0) {
        /* EAGAIN: another wakeup already collected them. */
    }
    pthread_mutex_lock(&work_mutex);
    list = done_list;
    done_list = NULL;
    pthread_mutex_unlock(&work_mutex);
    while (list) {
        struct job *j = list;

        list = j->next;
        complete_job(j, now);
    }
    dispatch(now);
}

int
main(int argc, char *argv[])
{
    const char *send = NULL;
    sigset_t sigs;

    wl_program_name = "cats-serve";
    parse_options(argc, argv, &send);
    if (send) {
        if (!control_path) {
            wl_fatal("--send needs --control=PATH");
        }
        return send_command(control_path, send);
    }
    check_options();

    max_fds = wl_raise_nofile();
    conns = wl_xcalloc(max_fds, sizeof *conns);
    latency_hist = wl_xmalloc(sizeof *latency_hist);
    wl_hist_init(latency_hist);
    wl_rng_seed(&rng, seed);

    /* Signals arrive as events on the loop, so that no handler ever runs
     * in the middle of a connection's bookkeeping. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (burn) {
        /* The workers inherit the blocked mask. */
        start_workers(n_slots);
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd < 0 || sig_fd < 0 || timer_fd < 0) {
        wl_fatal("epoll/signalfd/timerfd: %s", strerror(errno));
    }
    listen_fd = open_listener();
    epoll_add(listen_fd, TAG_LISTEN);
    epoll_add(sig_fd, TAG_SIGNAL);
    epoll_add(timer_fd, TAG_TIMER);
    if (burn) {
        epoll_add(workers_fd, TAG_WORKERS);
    }
    if (control_path) {
        control_fd = open_control(control_path);
        epoll_add(control_fd, TAG_CONTROL);
    }
    if (report_path) {
        report_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                           0);
        if (report_fd < 0) {
            wl_fatal("socket: %s", strerror(errno));
        }
        last_report_ns = wl_now_ns();
        next_report_ns = last_report_ns + report_interval_ns;
    }
    dispatch(wl_now_ns());

    char d[64], ip[INET_ADDRSTRLEN];
    wl_dist_format(&dist, d, sizeof d);
    inet_ntop(AF_INET, &listen_addr.sin_addr, ip, sizeof ip);
    printf("cats-serve %s: listening %s:%u, %u slots, service-time %s, "
           "speed %g, background %g%s\n", name, ip,
           ntohs(listen_addr.sin_port), n_slots, d, speed, background,
           burn ? ", burning CPU" : "");
    fflush(stdout);

    int64_t armed_ns = -1;      /* What timer_fd is set to. */
    for (;;) {
        struct epoll_event events[256];
        int64_t next = INT64_MAX;
        int n;

        if (heap_len) {
            next = heap[0]->end_ns;
        }
        if (next_report_ns < next) {
            next = next_report_ns;
        }
        if (accept_resume_ns < next) {
            next = accept_resume_ns;
        }
        if (next != armed_ns) {
            wl_timerfd_at(timer_fd, next);
            armed_ns = next;
        }

        n = epoll_wait(epfd, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            wl_fatal("epoll_wait: %s", strerror(errno));
        }

        int64_t now = wl_now_ns();
        for (int i = 0; i < n; i++) {
            uint64_t data = events[i].data.u64;
            int fd = (int) (uint32_t) data;
            struct signalfd_siginfo si;
            uint64_t expirations;

            switch ((enum tag) (data >> 56)) {
            case TAG_LISTEN:
                do_accept(fd, false, now);
                break;
            case TAG_CONTROL:
                do_accept(fd, true, now);
                break;
            case TAG_TIMER:
                if (read(timer_fd, &expirations, sizeof expirations) < 0) {
                    /* EAGAIN: rearmed since; run_timers() checks times. */
                }
                armed_ns = -1;  /* Fired: set it again, whatever time. */
                break;
            case TAG_WORKERS:
                collect_workers(now);
                break;
            case TAG_SIGNAL:
                while (read(sig_fd, &si, sizeof si) == sizeof si) {
                    if (si.ssi_signo == SIGUSR1) {
                        char line[2048];

                        format_stats(line, sizeof line);
                        fprintf(stderr, "%s\n", line);
                    } else {
                        shutdown_server();
                        return 0;
                    }
                }
                break;
            case TAG_CONN:
                if (conns[fd] && CONN_TAG(conns[fd]) == data) {
                    conn_event(conns[fd], events[i].events, now);
                }
                break;
            }
        }
        run_timers(wl_now_ns());
    }
}
