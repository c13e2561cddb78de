/*
 * cats-load: an open-loop request generator for CATS services.
 *
 * Requests are sent at times drawn in advance from a Poisson process (or
 * evenly spaced) at a given rate, from a seed: the schedule never waits
 * for replies.  Each request's latency is measured from the time it was
 * scheduled, not from when it could be sent, so that a slow server shows
 * up as latency instead of silently lowering the offered load (no
 * "coordinated omission").
 *
 * Two ways to carry requests:
 *
 *   --mode=new    one new TCP connection per request (connect, "REQ ..",
 *                 read the reply, close with a reset so that no TIME_WAIT
 *                 pins the source port): every request is a new
 *                 connection for the steering pipeline to balance.
 *   --mode=pool   a fixed pool of persistent connections, one request at a
 *                 time on each; requests wait in the client for a free one
 *                 (that wait counts in their latency).
 *
 * One thread, one epoll loop.  Every request ends as exactly one of: ok,
 * or an error (connect, timeout, reset, eof, protocol, server, local,
 * overflow).  See topologies/tools/README.md.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "wl-io.h"
#include "workload.h"

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

/* At most this many requests are started per loop iteration, so that
 * replies keep being read when the schedule runs ahead of the machine. */
#define STARTS_PER_ITERATION 512

/* A pool connection that failed is opened again after this long. */
#define RECONNECT_NS (100 * NS_PER_MS)

#define MAX_INSTANCES 256

enum status {
    ST_OK,
    ST_CONNECT,                 /* connect() failed or was refused. */
    ST_TIMEOUT,                 /* No reply by --timeout. */
    ST_RESET,                   /* Connection reset or other socket error. */
    ST_EOF,                     /* Closed by the server before a reply. */
    ST_PROTOCOL,                /* A reply that does not parse or match. */
    ST_SERVER,                  /* The server answered ERR. */
    ST_LOCAL,                   /* No socket or source port here. */
    ST_OVERFLOW,                /* --max-inflight requests already open. */
    N_STATUS
};

static const char *const status_names[N_STATUS] = {
    "ok", "connect", "timeout", "reset", "eof", "protocol", "server",
    "local", "overflow",
};

enum tag {
    TAG_TIMER = 1,
    TAG_SIGNAL,
    TAG_CONN,
};

struct lconn;

struct req {
    struct req *prev, *next;    /* 'active', in scheduled order. */
    struct req *wprev, *wnext;  /* 'waiting' for a pool connection. */
    bool waiting;
    uint64_t seq;
    int64_t sched_ns;
    double work_ms;             /* Negative: none sent. */
    struct lconn *conn;
};

enum conn_state {
    CS_CONNECTING,
    CS_IDLE,                    /* Pool only. */
    CS_BUSY,                    /* A request sent, its reply awaited. */
    CS_DOWN,                    /* Pool only: waiting to reconnect. */
};

struct lconn {
    int fd;
    uint32_t gen;
    enum conn_state state;
    bool pool;
    struct req *req;
    struct lconn *next_idle;    /* Pool: idle list; down: reconnect FIFO. */
    int64_t reconnect_ns;
    size_t in_len;
    char in[WL_LINE_MAX];
};

/* Options. */
static struct sockaddr_in target;
static const char *target_str;
static double rate;
static double duration_s = 10;
static bool duration_set;
static uint64_t max_requests;   /* 0: bounded by --duration only. */
static bool pool_mode;
static unsigned int pool_size = 16;
static int64_t timeout_ns = 5000 * NS_PER_MS;
static bool has_work;
static struct wl_dist work_dist;
static bool uniform_arrivals;
static uint64_t seed = 1;
static bool progress;
static const char *samples_path;
static bool json;
static size_t max_inflight = 10000;
static bool graceful_close;
static int tos = -1;                /* --tos: IP_TOS of every connection. */

/* State. */
static int epfd, timer_fd, sig_fd;
static struct lconn **conns;
static size_t max_fds;
static uint32_t next_gen;
static struct req *active_head, *active_tail;
static size_t n_active;
static struct req *wait_head, *wait_tail;
static struct lconn *idle_head;
static struct lconn *down_head, *down_tail;
static struct wl_rng arrival_rng, work_rng;
static FILE *samples;
static int64_t start_ns;

/* Results. */
static uint64_t scheduled;
static uint64_t n_status[N_STATUS];
static uint64_t server_errors_by_reason[4];     /* overloaded, shutdown,
                                                 * bad-request, other */
static struct wl_hist *hist, *iv_hist;
static uint64_t iv_ok, iv_err, iv_sent;
static int64_t last_done_ns;
static struct {
    char name[WL_NAME_MAX + 1];
    uint64_t count;
} instances[MAX_INSTANCES];
static size_t n_instances;
static uint64_t other_instances;
static uint64_t pool_failures;

static void pool_connect(struct lconn *);
static void assign_waiting(void);

/* Requests. */

static void
active_remove(struct req *r)
{
    if (r->prev) {
        r->prev->next = r->next;
    } else {
        active_head = r->next;
    }
    if (r->next) {
        r->next->prev = r->prev;
    } else {
        active_tail = r->prev;
    }
    n_active--;
}

static void
wait_remove(struct req *r)
{
    if (r->wprev) {
        r->wprev->wnext = r->wnext;
    } else {
        wait_head = r->wnext;
    }
    if (r->wnext) {
        r->wnext->wprev = r->wprev;
    } else {
        wait_tail = r->wprev;
    }
    r->waiting = false;
}

static void
count_instance(const char *name)
{
    for (size_t i = 0; i < n_instances; i++) {
        if (!strcmp(instances[i].name, name)) {
            instances[i].count++;
            return;
        }
    }
    if (n_instances < MAX_INSTANCES) {
        strcpy(instances[n_instances].name, name);
        instances[n_instances++].count = 1;
    } else {
        other_instances++;
    }
}

static void
count_server_error(const char *reason)
{
    static const char *const reasons[] = {
        "overloaded", "shutdown", "bad-request",
    };
    size_t i;

    for (i = 0; i < 3 && strcmp(reason, reasons[i]); i++) {
        continue;
    }
    server_errors_by_reason[i]++;
}

/* Ends request 'r' (taken off every list; its connection is the caller's
 * business) with 'status'; 'reply' is the server's, when there was one. */
static void
finish(struct req *r, enum status status, const struct wl_reply *reply,
       int64_t now)
{
    int64_t latency_ns = now - r->sched_ns;

    if (r->waiting) {
        wait_remove(r);
    }
    active_remove(r);
    n_status[status]++;
    if (status == ST_OK) {
        uint64_t us = latency_ns > 0 ? latency_ns / 1000 : 0;

        wl_hist_add(hist, us);
        wl_hist_add(iv_hist, us);
        iv_ok++;
        count_instance(reply->instance);
    } else {
        iv_err++;
        if (status == ST_SERVER) {
            count_server_error(reply->instance);
        }
    }
    if (samples) {
        /* A server error's reason is in 'instance' (workload.h). */
        fprintf(samples, "%lld %lld %s%s%s %s %llu %llu\n",
                (long long) ((r->sched_ns - start_ns) / 1000),
                (long long) (latency_ns / 1000), status_names[status],
                status == ST_SERVER ? ":" : "",
                status == ST_SERVER ? reply->instance : "",
                status == ST_OK ? reply->instance : "-",
                reply ? (unsigned long long) reply->wait_us : 0ULL,
                reply ? (unsigned long long) reply->service_us : 0ULL);
    }
    last_done_ns = now;
    free(r);
}

/* Connections. */

static uint64_t
conn_data(const struct lconn *c)
{
    return ((uint64_t) TAG_CONN << 56) | ((uint64_t) (c->gen & 0xffffff) << 32)
           | (uint32_t) c->fd;
}

/* Closes 'c''s socket.  A connection closed by us while the server still
 * owes nothing is reset rather than closed (unless --close=fin): the
 * client side would otherwise hold each source port in TIME_WAIT for a
 * minute, and at thousands of connections per second the ports run out. */
static void
conn_close_fd(struct lconn *c)
{
    if (c->fd < 0) {
        return;
    }
    if (!graceful_close) {
        struct linger lin = { .l_onoff = 1, .l_linger = 0 };

        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
    }
    conns[c->fd] = NULL;
    close(c->fd);
    c->fd = -1;
}

static void
idle_remove(struct lconn *c)
{
    for (struct lconn **p = &idle_head; *p; p = &(*p)->next_idle) {
        if (*p == c) {
            *p = c->next_idle;
            return;
        }
    }
}

/* 'c' is finished with (new mode) or broken (pool: it goes down and is
 * opened again later).  Its request, if any, must be finished already. */
static void
conn_drop(struct lconn *c, int64_t now)
{
    if (c->state == CS_IDLE) {
        idle_remove(c);
    }
    conn_close_fd(c);
    c->req = NULL;
    if (!c->pool) {
        free(c);
        return;
    }
    c->state = CS_DOWN;
    c->in_len = 0;
    c->reconnect_ns = now + RECONNECT_NS;
    c->next_idle = NULL;
    if (down_tail) {
        down_tail->next_idle = c;
    } else {
        down_head = c;
    }
    down_tail = c;
}

/* 'c' failed with 'status': its request (if any) fails with it. */
static void
conn_fail(struct lconn *c, enum status status, int64_t now)
{
    if (c->req) {
        finish(c->req, status, NULL, now);
    } else if (c->pool) {
        pool_failures++;
    }
    conn_drop(c, now);
}

/* Opens a socket and starts connecting.  Returns 0 or the status of the
 * failure. */
static enum status
conn_open(struct lconn *c)
{
    int one = 1;
    int fd;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return ST_LOCAL;
    }
    if ((size_t) fd >= max_fds) {
        close(fd);
        return ST_LOCAL;
    }
    if (tos >= 0) {
        setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    }
    if (c->pool) {
        /* A pool connection's next request may follow a reply whose ACK
         * is still delayed: Nagle would hold it back.  A new connection
         * sends one segment; it needs no option. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    c->fd = fd;
    c->gen = ++next_gen;
    c->state = CS_CONNECTING;
    c->in_len = 0;
    conns[fd] = c;
    if (connect(fd, (struct sockaddr *) &target, sizeof target)
        && errno != EINPROGRESS) {
        int error = errno;

        conns[fd] = NULL;
        close(fd);
        c->fd = -1;
        return (error == EADDRNOTAVAIL || error == ENOBUFS
                || error == EAGAIN) ? ST_LOCAL : ST_CONNECT;
    }
    /* Edge-triggered, registered once for the connection's life: one
     * epoll_ctl() per connection instead of three, which matters at
     * thousands of connections per second.  EPOLLOUT's edge says the
     * connection is up (even when connect() succeeded at once, on
     * loopback); EPOLLIN's that a reply arrived; EPOLLRDHUP comes with
     * the data when the server closed right after its reply.  Replies are
     * far shorter than one recv(), so each edge's data is read whole. */
    struct epoll_event ev;

    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = conn_data(c);
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
        conns[fd] = NULL;
        close(fd);
        c->fd = -1;
        return ST_LOCAL;
    }
    return ST_OK;
}

/* Sends 'c''s request.  Returns false if 'c' failed (and was dropped). */
static bool
conn_send_req(struct lconn *c, int64_t now)
{
    struct req *r = c->req;
    char line[64];
    int len;

    if (r->work_ms >= 0) {
        len = snprintf(line, sizeof line, "REQ %llu %.3f\n",
                       (unsigned long long) r->seq, r->work_ms);
    } else {
        len = snprintf(line, sizeof line, "REQ %llu\n",
                       (unsigned long long) r->seq);
    }
    /* A few dozen bytes on a connection with nothing else unsent: the
     * socket buffer takes them whole, or the connection is broken. */
    if (send(c->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT) != len) {
        conn_fail(c, errno == EPIPE || errno == ECONNRESET
                     ? ST_RESET : ST_LOCAL, now);
        return false;
    }
    c->state = CS_BUSY;
    return true;
}

static void
pool_make_idle(struct lconn *c)
{
    c->state = CS_IDLE;
    c->req = NULL;
    c->next_idle = idle_head;
    idle_head = c;
}

/* Gives waiting requests to idle pool connections. */
static void
assign_waiting(void)
{
    int64_t now = wl_now_ns();

    while (wait_head && idle_head) {
        struct lconn *c = idle_head;
        struct req *r = wait_head;

        idle_head = c->next_idle;
        wait_remove(r);
        c->req = r;
        r->conn = c;
        conn_send_req(c, now);
    }
}

/* A reply line on 'c', which came with epoll 'events'. */
static void
conn_reply(struct lconn *c, const char *line, size_t len, uint32_t events,
           int64_t now)
{
    struct req *r = c->req;
    struct wl_reply reply;
    char id[24];

    if (!r || wl_parse_reply(line, len, &reply)) {
        conn_fail(c, ST_PROTOCOL, now);
        return;
    }
    snprintf(id, sizeof id, "%llu", (unsigned long long) r->seq);
    if (strcmp(reply.id, id) && strcmp(reply.id, "-")) {
        conn_fail(c, ST_PROTOCOL, now);
        return;
    }
    c->req = NULL;
    finish(r, reply.ok ? ST_OK : ST_SERVER, &reply, now);
    if (c->pool && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        pool_make_idle(c);
        assign_waiting();
    } else {
        if (c->pool) {
            pool_failures++;
        }
        conn_drop(c, now);
    }
}

static void
conn_event(struct lconn *c, uint32_t events, int64_t now)
{
    if (c->state == CS_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }
        /* A failed connect() always raises EPOLLERR: no SO_ERROR needed
         * to tell. */
        if (events & (EPOLLERR | EPOLLHUP)) {
            conn_fail(c, ST_CONNECT, now);
            return;
        }
        if (c->req) {
            conn_send_req(c, now);
        } else {
            pool_make_idle(c);
            assign_waiting();
        }
        return;
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
        /* EPOLLOUT alone: the request's ACK freed send buffer. */
        return;
    }

    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);

    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return;
        }
        conn_fail(c, ST_RESET, now);
        return;
    } else if (!n) {
        conn_fail(c, ST_EOF, now);
        return;
    }

    /* One request at a time per connection: a reply is one line, and
     * anything after it (or a line without a request) breaks the
     * protocol. */
    const char *nl = memchr(buf, '\n', n);
    if (!c->req || (nl && nl + 1 != buf + n)
        || c->in_len + (nl ? nl - buf : n) >= sizeof c->in) {
        conn_fail(c, ST_PROTOCOL, now);
        return;
    }
    memcpy(c->in + c->in_len, buf, nl ? nl - buf : n);
    c->in_len += nl ? nl - buf : n;
    if (nl) {
        size_t len = c->in_len;

        c->in_len = 0;
        conn_reply(c, c->in, len, events, now);
    } else if (events & (EPOLLRDHUP | EPOLLHUP)) {
        /* Half a reply, and the server has closed: no edge will come. */
        conn_fail(c, ST_EOF, now);
    }
}

/* Pool. */

static void
pool_connect(struct lconn *c)
{
    if (conn_open(c) != ST_OK) {
        pool_failures++;
        c->state = CS_DOWN;
        c->reconnect_ns = wl_now_ns() + RECONNECT_NS;
        c->next_idle = NULL;
        if (down_tail) {
            down_tail->next_idle = c;
        } else {
            down_head = c;
        }
        down_tail = c;
    }
}

static void
pool_reconnect(int64_t now)
{
    /* Every reconnect waits the same time: the list is in time order. */
    while (down_head && down_head->reconnect_ns <= now) {
        struct lconn *c = down_head;

        down_head = c->next_idle;
        if (!down_head) {
            down_tail = NULL;
        }
        pool_connect(c);
    }
}

/* Scheduling. */

static int64_t
next_arrival(int64_t prev)
{
    double gap_s = uniform_arrivals ? 1.0 / rate
                                    : wl_rng_exp(&arrival_rng, 1.0 / rate);

    return prev + llround(gap_s * NS_PER_S);
}

static void
start_request(int64_t sched_ns, int64_t now)
{
    struct req *r = wl_xcalloc(1, sizeof *r);
    enum status st;

    r->seq = scheduled++;
    r->sched_ns = sched_ns;
    /* Drawn for every request, sent or not, so that the work of request
     * k depends on the seed alone. */
    r->work_ms = has_work ? wl_dist_sample(&work_dist, &work_rng, -1) : -1;
    r->prev = active_tail;
    if (active_tail) {
        active_tail->next = r;
    } else {
        active_head = r;
    }
    active_tail = r;
    n_active++;
    iv_sent++;

    if (n_active > max_inflight) {
        finish(r, ST_OVERFLOW, NULL, now);
        return;
    }
    if (pool_mode) {
        r->waiting = true;
        r->wprev = wait_tail;
        if (wait_tail) {
            wait_tail->wnext = r;
        } else {
            wait_head = r;
        }
        wait_tail = r;
        assign_waiting();
        return;
    }

    struct lconn *c = wl_xcalloc(1, sizeof *c);
    c->fd = -1;
    c->req = r;
    r->conn = c;
    st = conn_open(c);
    if (st != ST_OK) {
        c->req = NULL;
        free(c);
        finish(r, st, NULL, now);
    }
}

static void
expire(int64_t now)
{
    while (active_head && active_head->sched_ns + timeout_ns <= now) {
        struct req *r = active_head;
        struct lconn *c = r->waiting ? NULL : r->conn;

        if (c) {
            /* Its reply may still come: the connection cannot carry
             * another request, so it goes. */
            c->req = NULL;
            finish(r, ST_TIMEOUT, NULL, now);
            conn_drop(c, now);
        } else {
            finish(r, ST_TIMEOUT, NULL, now);
        }
    }
}

/* Output. */

static void
print_progress(int64_t now)
{
    fprintf(stderr, "[%6.1fs] sent %llu ok %llu err %llu inflight %zu | "
            "ms p50 %.2f p99 %.2f p99.9 %.2f max %.2f\n",
            (now - start_ns) / 1e9, (unsigned long long) iv_sent,
            (unsigned long long) iv_ok, (unsigned long long) iv_err,
            n_active, wl_hist_percentile(iv_hist, 50) / 1000.0,
            wl_hist_percentile(iv_hist, 99) / 1000.0,
            wl_hist_percentile(iv_hist, 99.9) / 1000.0,
            iv_hist->max / 1000.0);
    wl_hist_init(iv_hist);
    iv_ok = iv_err = iv_sent = 0;
}

static uint64_t
total_errors(void)
{
    uint64_t sum = 0;

    for (int i = 1; i < N_STATUS; i++) {
        sum += n_status[i];
    }
    return sum;
}

static void
print_summary(double elapsed_s, double send_s)
{
    double ok_rate = elapsed_s > 0 ? n_status[ST_OK] / elapsed_s : 0;
    double ms[6] = {
        wl_hist_mean(hist) / 1000.0,
        wl_hist_percentile(hist, 50) / 1000.0,
        wl_hist_percentile(hist, 90) / 1000.0,
        wl_hist_percentile(hist, 99) / 1000.0,
        wl_hist_percentile(hist, 99.9) / 1000.0,
        hist->max / 1000.0,
    };

    if (json) {
        printf("{\"target\": \"%s\", \"mode\": \"%s\", \"rate\": %g, "
               "\"arrivals\": \"%s\", \"seed\": %llu, \"duration_s\": %.3f, "
               "\"elapsed_s\": %.3f, \"requests\": %llu, \"ok\": %llu, "
               "\"errors\": %llu, \"error_kinds\": {",
               target_str, pool_mode ? "pool" : "new", rate,
               uniform_arrivals ? "uniform" : "poisson",
               (unsigned long long) seed, send_s, elapsed_s,
               (unsigned long long) scheduled,
               (unsigned long long) n_status[ST_OK],
               (unsigned long long) total_errors());
        for (int i = 1; i < N_STATUS; i++) {
            printf("%s\"%s\": %llu", i > 1 ? ", " : "", status_names[i],
                   (unsigned long long) n_status[i]);
        }
        printf("}, \"server_errors\": {\"overloaded\": %llu, \"shutdown\": "
               "%llu, \"bad-request\": %llu, \"other\": %llu}, "
               "\"throughput_rps\": %.2f, \"latency_ms\": {\"mean\": %.3f, "
               "\"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
               "\"p99.9\": %.3f, \"max\": %.3f}, \"instances\": {",
               (unsigned long long) server_errors_by_reason[0],
               (unsigned long long) server_errors_by_reason[1],
               (unsigned long long) server_errors_by_reason[2],
               (unsigned long long) server_errors_by_reason[3],
               ok_rate, ms[0], ms[1], ms[2], ms[3], ms[4], ms[5]);
        for (size_t i = 0; i < n_instances; i++) {
            /* Names are printable without blanks; only these two need
             * escaping in JSON. */
            printf("%s\"", i ? ", " : "");
            for (const char *p = instances[i].name; *p; p++) {
                printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
            }
            printf("\": %llu", (unsigned long long) instances[i].count);
        }
        if (other_instances) {
            printf("%s\"(other)\": %llu", n_instances ? ", " : "",
                   (unsigned long long) other_instances);
        }
        printf("}}\n");
        return;
    }

    printf("cats-load: %s, %s connections, %g req/s %s, %.1f s, seed %llu\n",
           target_str, pool_mode ? "pooled" : "new",
           rate, uniform_arrivals ? "uniform" : "poisson", send_s,
           (unsigned long long) seed);
    printf("  requests %llu: ok %llu, errors %llu (",
           (unsigned long long) scheduled,
           (unsigned long long) n_status[ST_OK],
           (unsigned long long) total_errors());
    for (int i = 1; i < N_STATUS; i++) {
        printf("%s%s %llu", i > 1 ? ", " : "", status_names[i],
               (unsigned long long) n_status[i]);
    }
    printf(")\n");
    if (n_status[ST_SERVER]) {
        printf("  server errors: overloaded %llu, shutdown %llu, "
               "bad-request %llu, other %llu\n",
               (unsigned long long) server_errors_by_reason[0],
               (unsigned long long) server_errors_by_reason[1],
               (unsigned long long) server_errors_by_reason[2],
               (unsigned long long) server_errors_by_reason[3]);
    }
    printf("  throughput %.1f ok/s over %.2f s\n", ok_rate, elapsed_s);
    printf("  latency ms: mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  "
           "p99.9 %.3f  max %.3f\n", ms[0], ms[1], ms[2], ms[3], ms[4],
           ms[5]);
    if (n_instances) {
        printf("  instances:");
        for (size_t i = 0; i < n_instances; i++) {
            printf(" %s %llu (%.1f%%)", instances[i].name,
                   (unsigned long long) instances[i].count,
                   100.0 * instances[i].count / n_status[ST_OK]);
        }
        if (other_instances) {
            printf(" (other) %llu", (unsigned long long) other_instances);
        }
        printf("\n");
    }
    if (pool_mode && pool_failures) {
        printf("  pool connections lost or refused: %llu\n",
               (unsigned long long) pool_failures);
    }
}

/* Options. */

static void
usage(void)
{
    printf("\
usage: cats-load --target=IP:PORT --rate=R [OPTIONS]\n\
\n\
Open-loop load for a cats-serve service: requests at scheduled times\n\
(Poisson at rate R), latency measured from the scheduled time.\n\
\n\
  --target=IP:PORT        the service (the VIP)\n\
  --rate=R                requests per second\n\
  --duration=S            seconds of sending (default 10, or unbounded\n\
                          with --requests)\n\
  --requests=N            stop after N requests (whichever comes first)\n\
  --mode=new|pool         a new connection per request (default), or a\n\
                          pool of persistent connections\n\
  --connections=N         pool size (default 16)\n\
  --timeout=MS            a request fails if not answered MS after its\n\
                          scheduled time (default 5000)\n\
  --work=DIST             send WORK_MS drawn from DIST (fixed:MS, exp:MS,\n\
                          lognormal:MS,SIGMA) with each request; the\n\
                          server uses it with --service-time=client:MS\n\
  --arrivals=poisson|uniform  (default poisson)\n\
  --seed=N                schedule and work seed (default 1)\n\
  --max-inflight=N        requests open at once; beyond, they fail as\n\
                          'overflow' (default 10000)\n\
  --close=rst|fin         how new-mode connections end (default rst: no\n\
                          TIME_WAIT on the client)\n\
  --tos=N                 IP TOS byte of every connection (0 to 255;\n\
                          default: the system's)\n\
  --progress              a line per second on stderr\n\
  --samples=FILE          one line per request: SCHED_US LATENCY_US STATUS\n\
                          INSTANCE SERVER_WAIT_US SERVER_SERVICE_US\n\
                          (STATUS: ok, an error kind, server:REASON)\n\
  --json                  the summary as one JSON object\n\
\n\
Exit status: 0 if every request was answered OK, 1 if any failed, 2 for\n\
bad options.  SIGINT/SIGTERM stop sending and print the summary.\n");
}

static double
number_arg(const char *option, const char *arg, double min, double max)
{
    double x;

    if (!wl_parse_number(arg, strlen(arg), &x) || x < min || x > max) {
        fprintf(stderr, "cats-load: --%s: '%s' is not a number from %g to "
                "%g\n", option, arg, min, max);
        exit(2);
    }
    return x;
}

static void
parse_options(int argc, char *argv[])
{
    enum {
        OPT_TARGET = 256, OPT_RATE, OPT_DURATION, OPT_REQUESTS, OPT_MODE,
        OPT_CONNECTIONS, OPT_TIMEOUT, OPT_WORK, OPT_ARRIVALS, OPT_SEED,
        OPT_MAX_INFLIGHT, OPT_CLOSE, OPT_TOS, OPT_PROGRESS, OPT_SAMPLES,
        OPT_JSON,
    };
    static const struct option options[] = {
        { "target", required_argument, NULL, OPT_TARGET },
        { "rate", required_argument, NULL, OPT_RATE },
        { "duration", required_argument, NULL, OPT_DURATION },
        { "requests", required_argument, NULL, OPT_REQUESTS },
        { "mode", required_argument, NULL, OPT_MODE },
        { "connections", required_argument, NULL, OPT_CONNECTIONS },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "work", required_argument, NULL, OPT_WORK },
        { "arrivals", required_argument, NULL, OPT_ARRIVALS },
        { "seed", required_argument, NULL, OPT_SEED },
        { "max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT },
        { "close", required_argument, NULL, OPT_CLOSE },
        { "tos", required_argument, NULL, OPT_TOS },
        { "progress", no_argument, NULL, OPT_PROGRESS },
        { "samples", required_argument, NULL, OPT_SAMPLES },
        { "json", no_argument, NULL, OPT_JSON },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *error;
    uint32_t ip;
    uint16_t port;
    uint64_t n;
    int opt;

    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_TARGET:
            if (!wl_parse_ip_port(optarg, &ip, &port)) {
                wl_fatal("--target: '%s' is not IP:PORT", optarg);
            }
            target_str = optarg;
            memset(&target, 0, sizeof target);
            target.sin_family = AF_INET;
            target.sin_addr.s_addr = ip;
            target.sin_port = htons(port);
            break;
        case OPT_RATE:
            rate = number_arg("rate", optarg, 0.001, 1e6);
            break;
        case OPT_DURATION:
            duration_s = number_arg("duration", optarg, 0.001, 1e6);
            duration_set = true;
            break;
        case OPT_REQUESTS:
            if (!wl_parse_uint(optarg, strlen(optarg), UINT64_MAX, &n)
                || !n) {
                wl_fatal("--requests: '%s' is not a positive integer",
                         optarg);
            }
            max_requests = n;
            break;
        case OPT_MODE:
            if (strcmp(optarg, "new") && strcmp(optarg, "pool")) {
                wl_fatal("--mode: 'new' or 'pool', not '%s'", optarg);
            }
            pool_mode = !strcmp(optarg, "pool");
            break;
        case OPT_CONNECTIONS:
            if (!wl_parse_uint(optarg, strlen(optarg), 100000, &n) || !n) {
                wl_fatal("--connections: '%s' is not an integer from 1 to "
                         "100000", optarg);
            }
            pool_size = n;
            break;
        case OPT_TIMEOUT:
            timeout_ns = llround(number_arg("timeout", optarg, 1, 3600000)
                                 * NS_PER_MS);
            break;
        case OPT_WORK:
            error = wl_dist_parse(optarg, strlen(optarg), &work_dist);
            if (error) {
                wl_fatal("--work: '%s': %s", optarg, error);
            }
            has_work = true;
            break;
        case OPT_ARRIVALS:
            if (strcmp(optarg, "poisson") && strcmp(optarg, "uniform")) {
                wl_fatal("--arrivals: 'poisson' or 'uniform', not '%s'",
                         optarg);
            }
            uniform_arrivals = !strcmp(optarg, "uniform");
            break;
        case OPT_SEED:
            if (!wl_parse_uint(optarg, strlen(optarg), UINT64_MAX, &seed)) {
                wl_fatal("--seed: '%s' is not an integer", optarg);
            }
            break;
        case OPT_MAX_INFLIGHT:
            if (!wl_parse_uint(optarg, strlen(optarg), 1000000, &n) || !n) {
                wl_fatal("--max-inflight: '%s' is not an integer from 1 to "
                         "1000000", optarg);
            }
            max_inflight = n;
            break;
        case OPT_CLOSE:
            if (strcmp(optarg, "rst") && strcmp(optarg, "fin")) {
                wl_fatal("--close: 'rst' or 'fin', not '%s'", optarg);
            }
            graceful_close = !strcmp(optarg, "fin");
            break;
        case OPT_TOS:
            if (!wl_parse_uint(optarg, strlen(optarg), 255, &n)) {
                wl_fatal("--tos: '%s' is not an integer from 0 to 255",
                         optarg);
            }
            tos = n;
            break;
        case OPT_PROGRESS:
            progress = true;
            break;
        case OPT_SAMPLES:
            samples_path = optarg;
            break;
        case OPT_JSON:
            json = true;
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
    if (!target_str || !rate) {
        wl_fatal("--target=IP:PORT and --rate=R are required (try --help)");
    }
    if (max_requests && !duration_set) {
        duration_s = 1e6;
    }
}

int
main(int argc, char *argv[])
{
    int64_t next_sched, end_ns, next_progress, stop_ns = INT64_MAX;
    int64_t armed_ns = -1;      /* What timer_fd is set to. */
    struct lconn *pool = NULL;
    bool sending = true;
    sigset_t sigs;

    wl_program_name = "cats-load";
    parse_options(argc, argv);

    max_fds = wl_raise_nofile();
    if (max_inflight + pool_size + 16 > max_fds) {
        wl_fatal("--max-inflight %zu needs more descriptors than the %zu "
                 "allowed", max_inflight, max_fds);
    }
    conns = wl_xcalloc(max_fds, sizeof *conns);
    hist = wl_xmalloc(sizeof *hist);
    iv_hist = wl_xmalloc(sizeof *iv_hist);
    wl_hist_init(hist);
    wl_hist_init(iv_hist);
    /* Separate streams: the arrival schedule is the same whether or not
     * --work draws from its own. */
    wl_rng_seed(&arrival_rng, seed);
    wl_rng_seed(&work_rng, seed ^ UINT64_C(0x5eed5eed5eed5eed));

    if (samples_path) {
        samples = fopen(samples_path, "w");
        if (!samples) {
            wl_fatal("%s: %s", samples_path, strerror(errno));
        }
        setvbuf(samples, NULL, _IOFBF, 1 << 20);
        fprintf(samples, "# sched_us latency_us status instance "
                "server_wait_us server_service_us\n");
    }

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    sig_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (epfd < 0 || sig_fd < 0 || timer_fd < 0) {
        wl_fatal("epoll/signalfd/timerfd: %s", strerror(errno));
    }
    struct epoll_event ev = { .events = EPOLLIN };
    ev.data.u64 = (uint64_t) TAG_SIGNAL << 56;
    epoll_ctl(epfd, EPOLL_CTL_ADD, sig_fd, &ev);
    ev.data.u64 = (uint64_t) TAG_TIMER << 56;
    epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev);

    start_ns = wl_now_ns();
    if (pool_mode) {
        pool = wl_xcalloc(pool_size, sizeof *pool);
        for (unsigned int i = 0; i < pool_size; i++) {
            pool[i].fd = -1;
            pool[i].pool = true;
            pool_connect(&pool[i]);
        }
        /* Let the pool connect before the clock starts: the first
         * requests should not pay for the handshakes. */
        start_ns += 100 * NS_PER_MS;
    }
    end_ns = start_ns + llround(duration_s * NS_PER_S);
    next_sched = next_arrival(start_ns);
    next_progress = start_ns + NS_PER_S;

    for (;;) {
        int64_t now = wl_now_ns();
        int64_t wake = INT64_MAX;
        int n;

        for (int i = 0; sending && next_sched <= now
                        && i < STARTS_PER_ITERATION; i++) {
            if (next_sched >= end_ns
                || (max_requests && scheduled >= max_requests)) {
                sending = false;
                break;
            }
            start_request(next_sched, now);
            next_sched = next_arrival(next_sched);
        }
        if (sending && (next_sched >= end_ns
                        || (max_requests && scheduled >= max_requests))) {
            sending = false;
        }
        expire(now);
        pool_reconnect(now);
        if (progress && now >= next_progress) {
            print_progress(now);
            next_progress += NS_PER_S;
        }
        if (!sending && (!n_active || now >= stop_ns)) {
            break;
        }

        if (sending) {
            wake = next_sched;
        }
        if (active_head && active_head->sched_ns + timeout_ns < wake) {
            wake = active_head->sched_ns + timeout_ns;
        }
        if (down_head && down_head->reconnect_ns < wake) {
            wake = down_head->reconnect_ns;
        }
        if (progress && next_progress < wake) {
            wake = next_progress;
        }
        if (wake != armed_ns) {
            wl_timerfd_at(timer_fd, wake);
            armed_ns = wake;
        }

        struct epoll_event events[256];
        n = epoll_wait(epfd, events, 256, -1);
        if (n < 0 && errno != EINTR) {
            wl_fatal("epoll_wait: %s", strerror(errno));
        }
        now = wl_now_ns();
        for (int i = 0; i < n; i++) {
            uint64_t data = events[i].data.u64;
            int fd = (int) (uint32_t) data;
            struct signalfd_siginfo si;
            uint64_t expirations;

            switch ((enum tag) (data >> 56)) {
            case TAG_TIMER:
                if (read(timer_fd, &expirations, sizeof expirations) < 0) {
                    /* EAGAIN: rearmed since. */
                }
                armed_ns = -1;  /* Fired: set it again, whatever time. */
                break;
            case TAG_SIGNAL:
                if (read(sig_fd, &si, sizeof si) > 0 && sending) {
                    /* Stop sending; what is open gets a second to end. */
                    sending = false;
                    end_ns = now;
                    stop_ns = now + NS_PER_S;
                } else {
                    stop_ns = now;
                }
                break;
            case TAG_CONN:
                if (fd >= 0 && (size_t) fd < max_fds && conns[fd]
                    && conn_data(conns[fd]) == data) {
                    conn_event(conns[fd], events[i].events, now);
                }
                break;
            }
        }
    }

    int64_t now = wl_now_ns();
    double send_s = ((end_ns < now ? end_ns : now) - start_ns) / 1e9;
    double elapsed_s = ((last_done_ns > end_ns ? last_done_ns : end_ns)
                        - start_ns) / 1e9;

    /* Whatever is still open when stopped early counts as timed out. */
    while (active_head) {
        struct req *r = active_head;
        struct lconn *c = r->waiting ? NULL : r->conn;

        if (c) {
            c->req = NULL;
        }
        finish(r, ST_TIMEOUT, NULL, now);
        if (c) {
            conn_drop(c, now);
        }
    }
    if (samples && fclose(samples)) {
        wl_warn("%s: %s", samples_path, strerror(errno));
    }
    print_summary(elapsed_s, send_s);
    return total_errors() ? 1 : 0;
}
