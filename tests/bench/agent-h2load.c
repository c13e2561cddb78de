/*
 * agent-h2load: a load generator for the cats.v1.Agent API that speaks
 * gRPC over HTTP/2 itself, without libgrpc.
 *
 * Same workload as agent-load (tests/bench/agent-load.c): --streams nodes
 * over --connections TCP connections (node i on connection i mod N), each
 * node registers (RegisterNode), then keeps one StreamReports stream open
 * and sends LoadReports with the same contents on an open-loop schedule at
 * --rate Hz.  Same output contract: progress every second on stderr,
 * "window: start" and "window: end" on stdout at the edges of the measured
 * window, then a summary of "name: value" lines on stdout.
 *
 * Why a second generator: gRPC core writes every message with its own
 * sendmsg(), which costs the generator about 20 us of CPU per report on a
 * small machine and makes the server pay one TCP segment per report.  Here
 * every stream of a connection is due at the same instant (the
 * connections' phases are spread evenly over one period instead), and the
 * DATA frames of all the streams due at one tick go out in ONE write().
 *
 * The differences from agent-load that show in its numbers:
 *   - A due report that does not fit (--max-inflight reports await their
 *     ack, or HTTP/2 flow control has no room) is skipped at once and
 *     counted; agent-load queues one and counts the ones it replaces.
 *   - send_lag ends when the report is handed to write() (after every
 *     report of that tick was encoded), or, if the connection still has
 *     unwritten bytes, when it was queued behind them.
 *   - The server's HEADERS are never decoded (HPACK is skipped): a call
 *     that fails is counted, but its grpc-status is not known.
 *
 * Single thread, non-blocking sockets, epoll; timers are the epoll wait's
 * timeout (epoll_pwait2(), to the nanosecond, where the kernel has it).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load-common.h"
#include "proto/cats.pb-c.h"


/* --max-inflight's limit, as in agent-load. */
#define MAX_INFLIGHT_LIMIT 64

/* RegisterNode calls in flight per connection at most: enough that 10,000
 * registrations take seconds, few enough that a connection never has a
 * burst of thousands of streams for the server to accept at once. */
#define REGISTER_PER_CONN 64

/* How long all registrations may take. */
#define REGISTER_ALL_S 120

/* After the window: wait this long for the acks of reports in flight, then
 * half-close every stream, and reset what is still open this long later. */
#define DRAIN_NS (2 * NS_PER_S)
#define CLOSE_NS (2 * NS_PER_S)

/* While reports are due, what reading makes us send (WINDOW_UPDATE,
 * SETTINGS and PING acks: gRPC core servers ping after reads, for their
 * bandwidth estimate) waits for the connection's next tick if that is
 * this close, and goes out in its write(): one period at 10 Hz.  A late
 * PING ack only makes that estimate larger. */
#define DEFER_MAX_NS (100 * NS_PER_MS)

/* The main loop wakes at least this often (signals, phase edges). */
#define IDLE_WAIT_NS (100 * NS_PER_MS)

#define METHOD_REGISTER "/cats.v1.Agent/RegisterNode"
#define METHOD_STREAM "/cats.v1.Agent/StreamReports"

/* What RegisterRequest.agent says (cats/agents shows it): which generator
 * registered the nodes. */
#define AGENT_STRING "agent-h2load/1"

/* HTTP/2 (RFC 9113). */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_FRAME_HEADER 9
#define H2_DEFAULT_WINDOW 65535
#define H2_MAX_WINDOW INT64_C(0x7fffffff)

/* The largest frame payload we accept: we never raise
 * SETTINGS_MAX_FRAME_SIZE above its default, so a larger frame is the
 * server's error. */
#define H2_MAX_FRAME 16384

enum h2_frame_type {
    F_DATA = 0x0,
    F_HEADERS = 0x1,
    F_PRIORITY = 0x2,
    F_RST_STREAM = 0x3,
    F_SETTINGS = 0x4,
    F_PUSH_PROMISE = 0x5,
    F_PING = 0x6,
    F_GOAWAY = 0x7,
    F_WINDOW_UPDATE = 0x8,
    F_CONTINUATION = 0x9,
};

#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8

enum h2_setting {
    S_HEADER_TABLE_SIZE = 0x1,
    S_ENABLE_PUSH = 0x2,
    S_MAX_CONCURRENT_STREAMS = 0x3,
    S_INITIAL_WINDOW_SIZE = 0x4,
    S_MAX_FRAME_SIZE = 0x5,
};

#define H2_NO_ERROR 0x0
#define H2_CANCEL 0x8

/* Our receive windows, stream and connection: 16 MiB (2^31-1 is more than
 * some servers take).  We give the server back what it used once that
 * reaches RECV_UPDATE_MIN, at the end of a read batch: far below the
 * 65535 bytes a server that ignored our SETTINGS would assume. */
#define RECV_WINDOW (16 * 1024 * 1024)
#define RECV_UPDATE_MIN 4096

/* gRPC messages we accept (acks and RegisterReplies are tens of bytes). */
#define MAX_MESSAGE (64 * 1024)

/* Reads: one shared buffer; a connection keeps the partial frame at its
 * end (at most one frame) between reads. */
#define READ_BUF_SIZE (256 * 1024)
#define MAX_READS_PER_EVENT 4
#define MAX_EVENTS 256

struct options {
    const char *target;
    unsigned int connections;
    unsigned int streams;
    double rate;
    double duration;
    double warmup;
    unsigned int instances;
    unsigned int max_inflight;
    bool per_instance;
    const char *node_prefix;
    const char *service;
    unsigned int port;
};

static struct options opt = {
    .target = "127.0.0.1:50051",
    .connections = 1,
    .streams = 1,
    .rate = 10.0,
    .duration = 10.0,
    .warmup = 2.0,
    .instances = 1,
    .max_inflight = 8,
    .per_instance = false,
    .node_prefix = "bench",
    .service = "bench",
    .port = 8080,
};

enum counter {
    C_SENT,                     /* Reports handed to write(). */
    C_ACKED,                    /* Reports an ack accepted. */
    C_REJECTED,                 /* Reports an ack refused (error_code). */
    C_SKIPPED,                  /* Due reports not sent (any reason). */
    C_SKIPPED_WINDOW,           /* ...of which for flow control. */
    C_LOST,                     /* Sent, never acked: the stream ended. */
    C_ACKS,                     /* Ack messages received. */
    C_BAD_ACKS,                 /* Ack messages that did not decode. */
    C_REGISTERED,               /* RegisterNode OK. */
    C_REGISTER_FAILED,          /* RegisterNode failed. */
    C_OPEN,                     /* Streams open now (goes up and down). */
    C_CALLS_FAILED,             /* Report streams the server ended. */
    C_WRITES,                   /* write() calls. */
    C_WRITE_BYTES,              /* Bytes written. */
    C_CONN_FAILED,              /* Connections lost (error, GOAWAY). */
    C_PROTO_ERRORS,             /* Malformed frames or gRPC framing. */
    N_COUNTERS
};

static uint64_t counters[N_COUNTERS];

static struct histogram rtt_hist;   /* Due -> acked. */
static struct histogram wire_hist;  /* Handed to write() -> acked. */
static struct histogram lag_hist;   /* Due -> handed to write(). */

enum node_state {
    N_IDLE,                     /* Not registered yet. */
    N_REGISTERING,              /* RegisterNode in flight. */
    N_REGISTERED,               /* Registered, stream not open yet. */
    N_REG_FAILED,               /* Registration failed: nothing more. */
    N_OPEN,                     /* StreamReports open, reporting. */
    N_CLOSING,                  /* We half-closed it. */
    N_DONE,                     /* The stream is over. */
};

struct report_slot {
    uint64_t seq;
    int64_t due_ns;             /* When it was due. */
    int64_t sent_ns;            /* When it was handed to write(). */
};

struct conn;

/* One node: its RegisterNode call, then its StreamReports call, each on an
 * HTTP/2 stream of its connection (never both at once). */
struct node {
    struct conn *conn;
    unsigned int index;
    enum node_state state;
    char node_id[64];
    uint64_t session_id;
    bool got_reply;             /* The RegisterReply came. */

    uint32_t sid;               /* The current HTTP/2 stream, 0 if none. */
    int64_t send_window;        /* Its send window. */
    uint32_t recv_unacked;      /* DATA received, not yet given back. */

    uint8_t *rbuf;              /* gRPC message reassembly. */
    size_t rlen, rcap;

    uint64_t seq;
    struct report_slot *inflight;   /* Ring of --max-inflight slots. */
    unsigned int n_inflight;
    unsigned int inflight_head;
};

struct conn {
    unsigned int index;
    int fd;
    bool connected;             /* The TCP connect completed. */
    bool dead;                  /* Closed: failed, or by us at the end. */
    bool epollout;              /* Waiting for EPOLLOUT. */

    struct node **nodes;        /* Its nodes, ascending index. */
    size_t n_nodes;
    size_t reg_next;            /* Next node to register. */
    unsigned int reg_inflight;
    size_t reg_done;            /* Registered or failed. */
    bool streams_opened;        /* Its StreamReports calls were opened. */

    /* Stream id -> node: client ids are odd, (sid - 1) / 2 indexes it.  A
     * node uses at most two streams. */
    struct node **by_sid;
    size_t sid_cap;
    uint32_t next_sid;

    int64_t send_window;        /* Connection send window. */
    int64_t peer_initial_window;    /* SETTINGS_INITIAL_WINDOW_SIZE. */
    uint32_t recv_unacked;      /* Connection: DATA not given back. */

    uint8_t *out;               /* Bytes to write: [out_off, out_len). */
    size_t out_off, out_len, out_cap;

    uint8_t *carry;             /* The partial frame of the last read. */
    size_t carry_len;

    int64_t next_due;           /* Its next tick. */
};

static struct conn *conns;
static struct node *nodes;
static int epfd = -1;
static struct sockaddr_in target_addr;

/* Time edges, INT64_MAX until known. */
static int64_t run_start_ns;
static int64_t window_start_ns = INT64_MAX;
static int64_t window_end_ns = INT64_MAX;
static int64_t period_ns;
static size_t fire_cursor;      /* The connection due next. */
static bool closing;            /* We are closing: ends are not failures. */
static bool ticking;            /* Between the run's start and its end. */

static uint64_t inflight_reports;   /* All streams. */
static char first_error[512];
static volatile sig_atomic_t stop_requested;

/* Request header blocks (HPACK), the same for every connection. */
static uint8_t hdr_register[256], hdr_stream[256];
static size_t hdr_register_len, hdr_stream_len;

/* Scratch. */
static uint8_t *read_buf;
static struct node **tick_nodes;    /* The nodes that sent at one tick. */
static struct load_shape shape;     /* What every message says. */
static struct load_msgs msgs;

static void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (!p) {
        fprintf(stderr, "agent-h2load: out of memory\n");
        exit(1);
    }
    return p;
}

static void *
xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p) {
        fprintf(stderr, "agent-h2load: out of memory\n");
        exit(1);
    }
    return p;
}

/* Time. */

static bool
in_window(int64_t t)
{
    return t >= window_start_ns && t < window_end_ns;
}

static void set_error(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

/* Keeps the first error of the run for the summary. */
static void
set_error(const char *format, ...)
{
    va_list args;

    if (first_error[0]) {
        return;
    }
    va_start(args, format);
    vsnprintf(first_error, sizeof first_error, format, args);
    va_end(args);
}

/* Byte order. */

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static uint32_t
get32(const uint8_t *p)
{
    return ((uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
            | (uint32_t) p[2] << 8 | p[3]);
}

static void
put_frame_header(uint8_t *p, size_t len, uint8_t type, uint8_t flags,
                 uint32_t sid)
{
    p[0] = len >> 16;
    p[1] = len >> 8;
    p[2] = len;
    p[3] = type;
    p[4] = flags;
    put32(p + 5, sid & 0x7fffffff);
}

/* HPACK: "literal header field without indexing, new name", no Huffman
 * coding, so that the server's decoder keeps no state for us. */

static size_t
hpack_length(uint8_t *p, size_t len)
{
    size_t n = 0;

    if (len < 127) {
        p[n++] = len;
        return n;
    }
    p[n++] = 127;
    len -= 127;
    while (len >= 128) {
        p[n++] = (len & 127) | 128;
        len >>= 7;
    }
    p[n++] = len;
    return n;
}

static size_t
hpack_literal(uint8_t *p, const char *name, const char *value)
{
    size_t n = 0, name_len = strlen(name), value_len = strlen(value);

    p[n++] = 0x00;
    n += hpack_length(p + n, name_len);
    memcpy(p + n, name, name_len);
    n += name_len;
    n += hpack_length(p + n, value_len);
    memcpy(p + n, value, value_len);
    n += value_len;
    return n;
}

static size_t
build_header_block(uint8_t *p, const char *path)
{
    size_t n = 0;

    n += hpack_literal(p + n, ":method", "POST");
    n += hpack_literal(p + n, ":scheme", "http");
    n += hpack_literal(p + n, ":path", path);
    n += hpack_literal(p + n, ":authority", opt.target);
    n += hpack_literal(p + n, "content-type", "application/grpc");
    n += hpack_literal(p + n, "te", "trailers");
    return n;
}

/* Output buffers. */

/* Returns room for 'n' more bytes at the end of the output of 'c'. */
static uint8_t *
out_reserve(struct conn *c, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            /* Move the unwritten rest to the front first. */
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;

            while (cap < c->out_len + n) {
                cap *= 2;
            }
            c->out = xrealloc(c->out, cap);
            c->out_cap = cap;
        }
    }
    return c->out + c->out_len;
}

static void
out_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t sid,
          const void *payload, size_t len)
{
    uint8_t *p = out_reserve(c, H2_FRAME_HEADER + len);

    put_frame_header(p, len, type, flags, sid);
    if (len) {
        memcpy(p + H2_FRAME_HEADER, payload, len);
    }
    c->out_len += H2_FRAME_HEADER + len;
}

static void
out_window_update(struct conn *c, uint32_t sid, uint32_t increment)
{
    uint8_t p[4];

    put32(p, increment);
    out_frame(c, F_WINDOW_UPDATE, 0, sid, p, 4);
}

static void
out_rst_stream(struct conn *c, uint32_t sid, uint32_t code)
{
    uint8_t p[4];

    put32(p, code);
    out_frame(c, F_RST_STREAM, 0, sid, p, 4);
}

static void
conn_set_epollout(struct conn *c, bool on)
{
    struct epoll_event ev;

    if (c->epollout == on || c->dead) {
        return;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | (on ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev)) {
        fprintf(stderr, "agent-h2load: epoll_ctl: %s\n", strerror(errno));
        exit(1);
    }
    c->epollout = on;
}

static void conn_close(struct conn *, bool failure, const char *why);

/* Writes what 'c' has to write, with one write() unless the socket takes
 * less; the rest waits for EPOLLOUT. */
static void
conn_flush(struct conn *c)
{
    while (!c->dead && c->connected && c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        counters[C_WRITES]++;
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                conn_set_epollout(c, true);
                return;
            }
            char why[128];

            snprintf(why, sizeof why, "write: %s", strerror(errno));
            conn_close(c, true, why);
            return;
        }
        counters[C_WRITE_BYTES] += n;
        c->out_off += n;
        if (c->out_off < c->out_len) {
            /* Partial: the socket buffer is full, no use trying again. */
            conn_set_epollout(c, true);
            return;
        }
    }
    if (!c->dead && c->out_off >= c->out_len) {
        c->out_off = c->out_len = 0;
        if (c->connected) {
            conn_set_epollout(c, false);
        }
    }
}

/* Encoding. */

/* Appends to the output of 'c' a DATA frame on 'sid' carrying one gRPC
 * message of 'len' bytes, and returns where the message goes. */
static uint8_t *
out_grpc_message(struct conn *c, uint32_t sid, uint8_t flags, size_t len)
{
    uint8_t *p = out_reserve(c, H2_FRAME_HEADER + 5 + len);

    put_frame_header(p, 5 + len, F_DATA, flags, sid);
    p[H2_FRAME_HEADER] = 0;     /* Not compressed. */
    put32(p + H2_FRAME_HEADER + 1, len);
    c->out_len += H2_FRAME_HEADER + 5 + len;
    return p + H2_FRAME_HEADER + 5;
}

/* Streams. */

static struct node *
conn_lookup(const struct conn *c, uint32_t sid)
{
    size_t i;

    if (!(sid & 1)) {
        return NULL;
    }
    i = (sid - 1) / 2;
    return i < c->sid_cap ? c->by_sid[i] : NULL;
}

/* Opens a new stream for 'n': appends its HEADERS frame (header block
 * 'block'); the request's body follows in DATA frames. */
static void
node_open_stream(struct node *n, const uint8_t *block, size_t len)
{
    struct conn *c = n->conn;
    uint32_t sid = c->next_sid;
    size_t i = (sid - 1) / 2;

    if (i >= c->sid_cap) {
        size_t cap = c->sid_cap * 2 + 8;

        c->by_sid = xrealloc(c->by_sid, cap * sizeof *c->by_sid);
        memset(c->by_sid + c->sid_cap, 0,
               (cap - c->sid_cap) * sizeof *c->by_sid);
        c->sid_cap = cap;
    }
    c->next_sid += 2;
    c->by_sid[i] = n;
    n->sid = sid;
    n->send_window = c->peer_initial_window;
    n->recv_unacked = 0;
    n->rlen = 0;
    out_frame(c, F_HEADERS, FL_END_HEADERS, sid, block, len);
}

static void register_refill(struct conn *);
static void conn_open_reports(struct conn *);

/* The stream of 'n' is over: 'clean' if the server ended it (END_STREAM),
 * else it was reset or the connection went; 'why' says what happened. */
static void
node_end(struct node *n, bool clean, const char *why)
{
    struct conn *c = n->conn;

    if (n->sid) {
        size_t i = (n->sid - 1) / 2;

        if (i < c->sid_cap && c->by_sid[i] == n) {
            c->by_sid[i] = NULL;
        }
        n->sid = 0;
    }
    n->rlen = 0;

    switch (n->state) {
    case N_IDLE:
    case N_REGISTERING:
        if (n->state == N_REGISTERING) {
            c->reg_inflight--;
        }
        c->reg_done++;
        if (clean && n->got_reply) {
            n->state = N_REGISTERED;
            counters[C_REGISTERED]++;
        } else {
            n->state = N_REG_FAILED;
            counters[C_REGISTER_FAILED]++;
            set_error("RegisterNode %s: %s", n->node_id,
                      clean ? "the call ended without a RegisterReply"
                      : why);
        }
        if (!c->dead) {
            register_refill(c);
        }
        break;

    case N_OPEN:
        /* Not ours: the server or the connection ended the stream. */
        counters[C_CALLS_FAILED]++;
        set_error("StreamReports %s: %s", n->node_id,
                  clean ? "the server ended the call" : why);
        /* Fall through. */
    case N_CLOSING:
        counters[C_OPEN]--;
        counters[C_LOST] += n->n_inflight;
        inflight_reports -= n->n_inflight;
        n->n_inflight = 0;
        n->state = N_DONE;
        break;

    case N_REGISTERED:
    case N_REG_FAILED:
    case N_DONE:
        break;
    }
}

/* Starts RegisterNode calls on 'c' while fewer than REGISTER_PER_CONN are
 * in flight and flow control has room. */
static void
register_refill(struct conn *c)
{
    while (!c->dead && c->reg_next < c->n_nodes
           && c->reg_inflight < REGISTER_PER_CONN && !stop_requested) {
        struct node *n = c->nodes[c->reg_next];
        Cats__V1__RegisterRequest req;
        size_t len;
        bool fits;

        load_register(&msgs, &shape, n->index, n->node_id, &req);
        len = cats__v1__register_request__get_packed_size(&req);
        fits = (5 + (int64_t) len <= c->send_window
                && 5 + (int64_t) len <= c->peer_initial_window);
        if (fits) {
            c->reg_next++;
            c->reg_inflight++;
            n->state = N_REGISTERING;
            n->got_reply = false;
            node_open_stream(n, hdr_register, hdr_register_len);
            cats__v1__register_request__pack(
                &req, out_grpc_message(c, n->sid, FL_END_STREAM, len));
            c->send_window -= (int64_t) (5 + len);
            n->send_window -= (int64_t) (5 + len);
        }
        if (!fits) {
            /* Again when a WINDOW_UPDATE or SETTINGS comes. */
            break;
        }
    }
    if (c->reg_done == c->n_nodes && !c->streams_opened) {
        conn_open_reports(c);
    }
}

/* Every node of 'c' is registered or failed: opens the report streams of
 * the registered ones. */
static void
conn_open_reports(struct conn *c)
{
    c->streams_opened = true;
    if (c->dead || closing || stop_requested) {
        return;
    }
    for (size_t i = 0; i < c->n_nodes; i++) {
        struct node *n = c->nodes[i];

        if (n->state == N_REGISTERED) {
            n->state = N_OPEN;
            n->seq = 0;
            node_open_stream(n, hdr_stream, hdr_stream_len);
            counters[C_OPEN]++;
        }
    }
}

/* Reports up to 'upto' of 'n' are answered: accepted, except 'error_seq'
 * if 'error_code' is set (as agent-load). */
static void
node_resolve(struct node *n, uint64_t upto, uint32_t error_code,
             uint64_t error_seq)
{
    int64_t now = mono_ns();

    while (n->n_inflight) {
        struct report_slot *slot = &n->inflight[n->inflight_head];

        if (slot->seq > upto) {
            break;
        }
        if (error_code && slot->seq == error_seq) {
            counters[C_REJECTED]++;
            set_error("StreamReports %s: report %"PRIu64" rejected with "
                      "code %"PRIu32, n->node_id, error_seq, error_code);
        } else {
            counters[C_ACKED]++;
            if (in_window(slot->due_ns)) {
                hist_add(&rtt_hist, now - slot->due_ns);
                hist_add(&wire_hist, now - slot->sent_ns);
            }
        }
        n->inflight_head = (n->inflight_head + 1) % opt.max_inflight;
        n->n_inflight--;
        inflight_reports--;
    }
}

/* One gRPC message on the stream of 'n'. */
static void
node_message(struct node *n, const uint8_t *msg, size_t len)
{
    if (n->state == N_REGISTERING) {
        Cats__V1__RegisterReply *reply;

        reply = cats__v1__register_reply__unpack(NULL, len, msg);
        if (reply) {
            n->session_id = reply->session_id;
            n->got_reply = true;
            cats__v1__register_reply__free_unpacked(reply, NULL);
        } else {
            counters[C_PROTO_ERRORS]++;
            set_error("RegisterNode %s: RegisterReply does not decode",
                      n->node_id);
        }
    } else if (n->state == N_OPEN || n->state == N_CLOSING) {
        Cats__V1__ReportAck *ack;

        counters[C_ACKS]++;
        ack = cats__v1__report_ack__unpack(NULL, len, msg);
        if (ack) {
            uint64_t upto = ack->seq;

            if (ack->error_code && ack->error_seq > upto) {
                upto = ack->error_seq;
            }
            node_resolve(n, upto, ack->error_code, ack->error_seq);
            cats__v1__report_ack__free_unpacked(ack, NULL);
        } else {
            counters[C_BAD_ACKS]++;
            set_error("StreamReports %s: a ReportAck does not decode",
                      n->node_id);
        }
    }
}

/* Takes the gRPC messages complete in 'p' (of 'len' bytes) for 'n'.
 * Returns the bytes used (a partial message at the end is left), or -1 if
 * the gRPC framing is bad. */
static ssize_t
node_parse(struct node *n, const uint8_t *p, size_t len)
{
    size_t used = 0;

    while (len - used >= 5) {
        uint32_t mlen = get32(p + used + 1);

        if (p[used] != 0 || mlen > MAX_MESSAGE) {
            return -1;
        }
        if (len - used < 5 + (size_t) mlen) {
            break;
        }
        node_message(n, p + used + 5, mlen);
        used += 5 + mlen;
        if (!n->sid) {
            /* Ended meanwhile: the rest is of no use. */
            return len;
        }
    }
    return used;
}

/* DATA for 'n': 'p' and 'len' without padding.  Returns false if the gRPC
 * framing is bad. */
static bool
node_data(struct node *n, const uint8_t *p, size_t len)
{
    ssize_t used;

    if (!n->rlen) {
        /* The common case: whole messages, parsed where they are. */
        used = node_parse(n, p, len);
        if (used < 0) {
            return false;
        }
        p += used;
        len -= used;
        if (!len) {
            return true;
        }
    }
    if (n->rlen + len > n->rcap) {
        size_t cap = n->rcap ? n->rcap : 256;

        while (cap < n->rlen + len) {
            cap *= 2;
        }
        n->rbuf = xrealloc(n->rbuf, cap);
        n->rcap = cap;
    }
    memcpy(n->rbuf + n->rlen, p, len);
    n->rlen += len;
    used = node_parse(n, n->rbuf, n->rlen);
    if (used < 0) {
        return false;
    }
    if (n->sid && used) {
        memmove(n->rbuf, n->rbuf + used, n->rlen - used);
        n->rlen -= used;
    }
    return true;
}

static const char *
h2_error_name(uint32_t code)
{
    static const char *const names[] = {
        "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",
        "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    };

    return (code < sizeof names / sizeof *names ? names[code]
            : "unknown error code");
}

/* A protocol error of the server on 'c': counts it, closes 'c'. */
static void
conn_protocol_error(struct conn *c, const char *why)
{
    char text[256];

    counters[C_PROTO_ERRORS]++;
    snprintf(text, sizeof text, "protocol error: %s", why);
    conn_close(c, true, text);
}

static void
on_data(struct conn *c, uint8_t flags, uint32_t sid, const uint8_t *p,
        size_t len)
{
    size_t full = len;
    struct node *n;

    if (!sid) {
        conn_protocol_error(c, "DATA on stream 0");
        return;
    }
    c->recv_unacked += full;
    if (flags & FL_PADDED) {
        if (!len || p[0] >= len) {
            conn_protocol_error(c, "bad DATA padding");
            return;
        }
        len -= 1 + p[0];
        p++;
    }
    n = conn_lookup(c, sid);
    if (!n) {
        return;                 /* A stream we forgot (reset, ended). */
    }
    if (!node_data(n, p, len)) {
        /* We cannot find the next message: the stream is of no use. */
        counters[C_PROTO_ERRORS]++;
        if (n->state == N_OPEN || n->state == N_CLOSING) {
            counters[C_BAD_ACKS]++;
        }
        out_rst_stream(c, sid, H2_CANCEL);
        node_end(n, false, "bad gRPC message framing");
        return;
    }
    if (!n->sid) {
        return;
    }
    if (flags & FL_END_STREAM) {
        node_end(n, true, NULL);
        return;
    }
    n->recv_unacked += full;
    if (n->recv_unacked >= RECV_UPDATE_MIN) {
        out_window_update(c, sid, n->recv_unacked);
        n->recv_unacked = 0;
    }
}

static void
on_settings(struct conn *c, uint8_t flags, uint32_t sid, const uint8_t *p,
            size_t len)
{
    if (sid) {
        conn_protocol_error(c, "SETTINGS on a stream");
        return;
    }
    if (flags & FL_ACK) {
        return;
    }
    if (len % 6) {
        conn_protocol_error(c, "SETTINGS length not a multiple of 6");
        return;
    }
    for (size_t i = 0; i < len; i += 6) {
        unsigned int id = (unsigned int) p[i] << 8 | p[i + 1];
        uint32_t value = get32(p + i + 2);

        if (id == S_INITIAL_WINDOW_SIZE) {
            int64_t delta = (int64_t) value - c->peer_initial_window;

            if (value > H2_MAX_WINDOW) {
                conn_protocol_error(c, "SETTINGS_INITIAL_WINDOW_SIZE above "
                                    "2^31-1");
                return;
            }
            /* Applies to every stream open now, as a delta. */
            c->peer_initial_window = value;
            for (size_t k = 0; k < c->sid_cap; k++) {
                if (c->by_sid[k]) {
                    c->by_sid[k]->send_window += delta;
                }
            }
        } else if (id == S_MAX_CONCURRENT_STREAMS) {
            if (value < c->n_nodes) {
                static bool warned;

                if (!warned) {
                    fprintf(stderr, "agent-h2load: warning: the server "
                            "allows %"PRIu32" streams per connection, "
                            "fewer than the %zu nodes of connection %u\n",
                            value, c->n_nodes, c->index);
                    warned = true;
                }
            }
        } else if (id == S_MAX_FRAME_SIZE) {
            if (value < 16384 || value > 16777215) {
                conn_protocol_error(c, "bad SETTINGS_MAX_FRAME_SIZE");
                return;
            }
            /* Our frames are far smaller than 16384 anyway. */
        }
    }
    out_frame(c, F_SETTINGS, FL_ACK, 0, NULL, 0);
}

static void
on_window_update(struct conn *c, uint32_t sid, const uint8_t *p, size_t len)
{
    uint32_t increment;

    if (len != 4) {
        conn_protocol_error(c, "WINDOW_UPDATE length not 4");
        return;
    }
    increment = get32(p) & 0x7fffffff;
    if (!sid) {
        if (!increment) {
            conn_protocol_error(c, "WINDOW_UPDATE of 0 on the connection");
            return;
        }
        c->send_window += increment;
    } else {
        struct node *n = conn_lookup(c, sid);

        if (n) {
            n->send_window += increment;
        }
    }
}

static void
on_goaway(struct conn *c, const uint8_t *p, size_t len)
{
    char why[256];
    size_t debug_len;

    if (len < 8) {
        conn_protocol_error(c, "GOAWAY shorter than 8 bytes");
        return;
    }
    /* The debug data is often a text; keep its printable start. */
    debug_len = len - 8 < 100 ? len - 8 : 100;
    char debug[101];

    for (size_t i = 0; i < debug_len; i++) {
        uint8_t ch = p[8 + i];

        debug[i] = ch >= 32 && ch < 127 ? ch : '?';
    }
    debug[debug_len] = '\0';
    snprintf(why, sizeof why, "GOAWAY %s (last stream %"PRIu32")%s%s",
             h2_error_name(get32(p + 4)), get32(p) & 0x7fffffff,
             debug_len ? ": " : "", debug);
    conn_close(c, !closing, why);
}

/* One frame of 'c'. */
static void
on_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t sid,
         const uint8_t *p, size_t len)
{
    struct node *n;
    char why[128];

    switch (type) {
    case F_DATA:
        on_data(c, flags, sid, p, len);
        break;

    case F_HEADERS:
        /* Response headers or trailers: never decoded (see the top of
         * this file).  Only their end of stream matters. */
        if (!sid) {
            conn_protocol_error(c, "HEADERS on stream 0");
        } else if ((flags & FL_END_STREAM) && (n = conn_lookup(c, sid))) {
            node_end(n, true, NULL);
        }
        break;

    case F_CONTINUATION:
    case F_PRIORITY:
        break;

    case F_RST_STREAM:
        if (len != 4 || !sid) {
            conn_protocol_error(c, "bad RST_STREAM");
        } else if ((n = conn_lookup(c, sid))) {
            snprintf(why, sizeof why, "RST_STREAM %s",
                     h2_error_name(get32(p)));
            node_end(n, false, why);
        }
        break;

    case F_SETTINGS:
        on_settings(c, flags, sid, p, len);
        break;

    case F_PUSH_PROMISE:
        conn_protocol_error(c, "PUSH_PROMISE with push disabled");
        break;

    case F_PING:
        if (len != 8 || sid) {
            conn_protocol_error(c, "bad PING");
        } else if (!(flags & FL_ACK)) {
            out_frame(c, F_PING, FL_ACK, 0, p, 8);
        }
        break;

    case F_GOAWAY:
        on_goaway(c, p, len);
        break;

    case F_WINDOW_UPDATE:
        on_window_update(c, sid, p, len);
        break;

    default:
        /* Unknown frame types are ignored (RFC 9113, 4.1). */
        break;
    }
}

/* Takes the whole frames in 'buf'; returns the bytes used. */
static size_t
conn_parse(struct conn *c, const uint8_t *buf, size_t len)
{
    size_t used = 0;

    while (!c->dead && len - used >= H2_FRAME_HEADER) {
        const uint8_t *h = buf + used;
        size_t flen = (size_t) h[0] << 16 | (size_t) h[1] << 8 | h[2];

        if (flen > H2_MAX_FRAME) {
            char why[64];

            snprintf(why, sizeof why, "a frame of %zu bytes", flen);
            conn_protocol_error(c, why);
            break;
        }
        if (len - used < H2_FRAME_HEADER + flen) {
            break;
        }
        on_frame(c, h[3], h[4], get32(h + 5) & 0x7fffffff,
                 h + H2_FRAME_HEADER, flen);
        used += H2_FRAME_HEADER + flen;
    }
    return used;
}

/* Gives the server back the receive window 'c' used. */
static void
conn_give_back(struct conn *c)
{
    if (!c->dead && c->recv_unacked >= RECV_UPDATE_MIN) {
        out_window_update(c, 0, c->recv_unacked);
        c->recv_unacked = 0;
    }
}

static void
conn_read(struct conn *c)
{
    size_t len = c->carry_len;

    if (len) {
        memcpy(read_buf, c->carry, len);
        c->carry_len = 0;
    }
    for (int i = 0; i < MAX_READS_PER_EVENT && !c->dead; i++) {
        size_t room = READ_BUF_SIZE - len;
        ssize_t n = recv(c->fd, read_buf + len, room, MSG_DONTWAIT);
        size_t used;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                char why[128];

                snprintf(why, sizeof why, "read: %s", strerror(errno));
                conn_close(c, !closing, why);
                return;
            }
            break;
        } else if (!n) {
            conn_close(c, !closing, "connection closed by the server");
            return;
        }
        len += n;
        used = conn_parse(c, read_buf, len);
        if (c->dead) {
            return;
        }
        memmove(read_buf, read_buf + used, len - used);
        len -= used;
        if ((size_t) n < room) {
            break;              /* The socket had no more. */
        }
    }
    if (len && !c->dead) {
        if (!c->carry) {
            c->carry = xcalloc(1, H2_FRAME_HEADER + H2_MAX_FRAME);
        }
        memcpy(c->carry, read_buf, len);
        c->carry_len = len;
    }
}

/* Whether what 'c' has to write may wait for its next tick, so that the
 * server gets one segment, not two (see DEFER_MAX_NS). */
static bool
conn_may_defer(const struct conn *c)
{
    return (ticking && c->streams_opened && !c->epollout
            && c->next_due < window_end_ns
            && c->next_due - mono_ns() <= DEFER_MAX_NS);
}

static void
conn_event(struct conn *c, uint32_t events)
{
    if (c->dead) {
        return;
    }
    if (!c->connected) {
        int error = 0;
        socklen_t error_len = sizeof error;

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &error_len)) {
            error = errno;
        }
        if (error) {
            char why[128];

            snprintf(why, sizeof why, "connect: %s", strerror(error));
            conn_close(c, true, why);
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN))) {
            return;
        }
        c->connected = true;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        conn_read(c);
        if (c->dead) {
            return;
        }
        conn_give_back(c);
        if (c->reg_next < c->n_nodes) {
            register_refill(c);     /* Windows may have opened. */
        }
    }
    if ((events & EPOLLOUT) || !conn_may_defer(c)) {
        conn_flush(c);
    }
}

/* Closes 'c': a 'failure' (with 'why') unless we are closing it.  Its
 * streams end. */
static void
conn_close(struct conn *c, bool failure, const char *why)
{
    if (c->dead) {
        return;
    }
    c->dead = true;
    if (failure) {
        counters[C_CONN_FAILED]++;
        set_error("connection %u to %s: %s", c->index, opt.target, why);
    }
    for (size_t i = 0; i < c->n_nodes; i++) {
        struct node *n = c->nodes[i];

        switch (n->state) {
        case N_IDLE:
        case N_REGISTERING:
        case N_OPEN:
        case N_CLOSING:
            node_end(n, false, why);
            break;
        case N_REGISTERED:
        case N_REG_FAILED:
        case N_DONE:
            break;
        }
    }
    if (c->fd >= 0) {
        close(c->fd);           /* Leaves the epoll set too. */
        c->fd = -1;
    }
    free(c->out);
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
}

/* Starts the connection of 'c' and queues its preface, SETTINGS, the
 * connection's WINDOW_UPDATE and its first registrations. */
static void
conn_start(struct conn *c)
{
    struct epoll_event ev;
    uint8_t settings[12];
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        fprintf(stderr, "agent-h2load: socket: %s (connection %u)\n",
                strerror(errno), c->index);
        exit(1);
    }
    /* Reports are written when due: never held back by Nagle. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.ptr = c;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev)) {
        fprintf(stderr, "agent-h2load: epoll_ctl: %s\n", strerror(errno));
        exit(1);
    }
    c->epollout = true;

    /* The preface and the first frames go out as soon as connected. */
    memcpy(out_reserve(c, sizeof H2_PREFACE - 1), H2_PREFACE,
           sizeof H2_PREFACE - 1);
    c->out_len += sizeof H2_PREFACE - 1;
    settings[0] = 0;
    settings[1] = S_ENABLE_PUSH;
    put32(settings + 2, 0);
    settings[6] = 0;
    settings[7] = S_INITIAL_WINDOW_SIZE;
    put32(settings + 8, RECV_WINDOW);
    out_frame(c, F_SETTINGS, 0, 0, settings, sizeof settings);
    out_window_update(c, 0, RECV_WINDOW);
    register_refill(c);

    if (connect(c->fd, (struct sockaddr *) &target_addr,
                sizeof target_addr)) {
        if (errno != EINPROGRESS) {
            char why[128];

            snprintf(why, sizeof why, "connect: %s", strerror(errno));
            conn_close(c, true, why);
        }
    } else {
        c->connected = true;
        conn_flush(c);
    }
}

/* Reports. */

/* Connection 'c' is due ('due_ns'): one report from every open stream that
 * may send one, all of them in one write(). */
static void
conn_tick(struct conn *c, int64_t due_ns)
{
    size_t n_sent = 0;
    int64_t now;

    if (c->dead || !c->streams_opened) {
        return;
    }
    for (size_t i = 0; i < c->n_nodes; i++) {
        struct node *n = c->nodes[i];
        Cats__V1__LoadReport rep;
        struct report_slot *slot;
        size_t len;

        if (n->state != N_OPEN) {
            continue;
        }
        if (n->n_inflight >= opt.max_inflight) {
            counters[C_SKIPPED]++;
            continue;
        }
        load_report(&msgs, &shape, n->index, n->node_id, n->session_id,
                    n->seq + 1, &rep);
        len = cats__v1__load_report__get_packed_size(&rep);
        if (5 + (int64_t) len > n->send_window
            || 5 + (int64_t) len > c->send_window) {
            counters[C_SKIPPED]++;
            counters[C_SKIPPED_WINDOW]++;
            continue;
        }
        n->seq++;
        cats__v1__load_report__pack(&rep, out_grpc_message(c, n->sid, 0,
                                                           len));
        n->send_window -= (int64_t) (5 + len);
        c->send_window -= (int64_t) (5 + len);

        slot = &n->inflight[(n->inflight_head + n->n_inflight)
                            % opt.max_inflight];
        slot->seq = n->seq;
        slot->due_ns = due_ns;
        n->n_inflight++;
        inflight_reports++;
        counters[C_SENT]++;
        tick_nodes[n_sent++] = n;
    }
    if (!n_sent) {
        /* What reading left for this tick (conn_may_defer()). */
        if (!c->epollout) {
            conn_flush(c);
        }
        return;
    }

    /* Handed to write() now, or queued behind bytes that wait for
     * EPOLLOUT (conn_flush() leaves those to it). */
    now = mono_ns();
    for (size_t i = 0; i < n_sent; i++) {
        struct node *n = tick_nodes[i];
        struct report_slot *slot = &n->inflight[(n->inflight_head
                                                 + n->n_inflight - 1)
                                                % opt.max_inflight];

        slot->sent_ns = now;
        if (in_window(due_ns)) {
            hist_add(&lag_hist, now - due_ns);
        }
    }
    if (!c->epollout) {
        conn_flush(c);
    }
}

/* Sends what is due up to 'now'.  Returns when the next tick is due (at
 * most one round of connections per call, so that reads come in
 * between), or INT64_MAX if none is before the window's end. */
static int64_t
fire_due(int64_t now)
{
    for (unsigned int k = 0; k < opt.connections; k++) {
        struct conn *c = &conns[fire_cursor];
        int64_t due = c->next_due;

        if (due > now) {
            return due;
        }
        if (due >= window_end_ns) {
            return INT64_MAX;
        }
        c->next_due += period_ns;
        fire_cursor = (fire_cursor + 1) % opt.connections;
        conn_tick(c, due);
    }
    return now;
}

/* Fires every tick due before 't'. */
static void
fire_before(int64_t t)
{
    while (fire_due(t - 1) <= t - 1) {
        continue;
    }
}

/* Polling. */

/* Handles the events of up to 't' (absolute, CLOCK_MONOTONIC): returns at
 * the first batch of events, at 't', or on a signal. */
static void
poll_until(int64_t t)
{
    static struct epoll_event events[MAX_EVENTS];
    static bool no_pwait2;
    int64_t wait = t - mono_ns();
    int n;

    wait = wait < 0 ? 0 : wait > IDLE_WAIT_NS ? IDLE_WAIT_NS : wait;
    if (!no_pwait2) {
        struct timespec ts = { wait / NS_PER_S, wait % NS_PER_S };

        n = epoll_pwait2(epfd, events, MAX_EVENTS, &ts, NULL);
        if (n < 0 && errno == ENOSYS) {
            no_pwait2 = true;
        }
    }
    if (no_pwait2) {
        n = epoll_wait(epfd, events, MAX_EVENTS,
                       (int) ((wait + NS_PER_MS - 1) / NS_PER_MS));
    }
    if (n < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "agent-h2load: epoll_wait: %s\n",
                    strerror(errno));
            exit(1);
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        conn_event(events[i].data.ptr, events[i].events);
    }
}

/* Set-up. */

static void
raise_nofile(void)
{
    rlim_t want = (rlim_t) opt.connections + 1024;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want) {
        return;
    }
    if (rl.rlim_max < want) {
        struct rlimit up = { want, want };

        if (!setrlimit(RLIMIT_NOFILE, &up)) {
            return;
        }
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl)) {
        fprintf(stderr, "agent-h2load: cannot raise RLIMIT_NOFILE to %llu: "
                "%s\n", (unsigned long long) want, strerror(errno));
    }
    if (want < (rlim_t) opt.connections + 64) {
        fprintf(stderr, "agent-h2load: RLIMIT_NOFILE is %llu, too low for "
                "%u connections\n", (unsigned long long) want,
                opt.connections);
        exit(1);
    }
}

static void
create_all(void)
{
    size_t per_conn = (opt.streams + opt.connections - 1) / opt.connections;

    conns = xcalloc(opt.connections, sizeof *conns);
    nodes = xcalloc(opt.streams, sizeof *nodes);
    tick_nodes = xcalloc(per_conn, sizeof *tick_nodes);
    read_buf = xcalloc(1, READ_BUF_SIZE);
    shape = (struct load_shape) {
        .service = opt.service,
        .port = opt.port,
        .instances = opt.instances,
        .per_instance = opt.per_instance,
        .window_ms = (uint32_t) (period_ns / NS_PER_MS),
        .agent = AGENT_STRING,
    };
    load_msgs_init(&msgs, &shape);

    for (unsigned int i = 0; i < opt.connections; i++) {
        struct conn *c = &conns[i];

        c->index = i;
        c->fd = -1;
        c->nodes = xcalloc(per_conn, sizeof *c->nodes);
        c->sid_cap = 2 * per_conn + 2;
        c->by_sid = xcalloc(c->sid_cap, sizeof *c->by_sid);
        c->next_sid = 1;
        c->send_window = H2_DEFAULT_WINDOW;
        c->peer_initial_window = H2_DEFAULT_WINDOW;
    }
    for (unsigned int i = 0; i < opt.streams; i++) {
        struct node *n = &nodes[i];
        struct conn *c = &conns[i % opt.connections];

        n->index = i;
        n->conn = c;
        n->inflight = xcalloc(opt.max_inflight, sizeof *n->inflight);
        snprintf(n->node_id, sizeof n->node_id, "%s-%05u", opt.node_prefix,
                 i);
        c->nodes[c->n_nodes++] = n;
    }
}

static void
destroy_all(void)
{
    for (unsigned int i = 0; i < opt.connections; i++) {
        struct conn *c = &conns[i];

        if (c->fd >= 0) {
            close(c->fd);
        }
        free(c->nodes);
        free(c->by_sid);
        free(c->out);
        free(c->carry);
    }
    for (unsigned int i = 0; i < opt.streams; i++) {
        free(nodes[i].inflight);
        free(nodes[i].rbuf);
    }
    free(conns);
    free(nodes);
    free(tick_nodes);
    free(read_buf);
    load_msgs_destroy(&msgs);
    if (epfd >= 0) {
        close(epfd);
    }
}

/* Output. */

struct snapshot {
    int64_t t_ns;
    double cpu_s;
    uint64_t c[N_COUNTERS];
};

static void
take_snapshot(struct snapshot *snap)
{
    snap->t_ns = mono_ns();
    snap->cpu_s = cpu_seconds();
    memcpy(snap->c, counters, sizeof snap->c);
}

static void
print_progress(const struct snapshot *prev, const struct snapshot *now,
               const char *what)
{
    double dt = (now->t_ns - prev->t_ns) / 1e9;

    if (dt <= 0) {
        return;
    }
    fprintf(stderr, "agent-h2load: %-7s t=%5.1fs reports/s=%.0f "
            "acks/s=%.0f acked/s=%.0f writes/s=%.0f rejected=%"PRIu64
            " skipped=%"PRIu64" failed_calls=%"PRIu64" open=%"PRIu64
            " cpu=%.0f%%\n", what, (now->t_ns - run_start_ns) / 1e9,
            (now->c[C_SENT] - prev->c[C_SENT]) / dt,
            (now->c[C_ACKS] - prev->c[C_ACKS]) / dt,
            (now->c[C_ACKED] - prev->c[C_ACKED]) / dt,
            (now->c[C_WRITES] - prev->c[C_WRITES]) / dt,
            now->c[C_REJECTED], now->c[C_SKIPPED], now->c[C_CALLS_FAILED],
            now->c[C_OPEN], 100.0 * (now->cpu_s - prev->cpu_s) / dt);
}

/* 'ws' and 'we': the edges of the window; 'end': after the streams
 * closed. */
static void
print_summary(const struct snapshot *ws, const struct snapshot *we,
              const struct snapshot *end, uint64_t open_at_end,
              bool interrupted)
{
    double win = (we->t_ns - ws->t_ns) / 1e9;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double cpu = we->cpu_s - ws->cpu_s;
    uint64_t d[N_COUNTERS];

    for (int i = 0; i < N_COUNTERS; i++) {
        d[i] = we->c[i] - ws->c[i];
    }

    printf("generator: agent-h2load\n");
    printf("target: %s\n", opt.target);
    printf("shape: streams=%u connections=%u rate_hz=%g "
           "instances_per_node=%u threads=1 per_instance=%s\n",
           opt.streams, opt.connections, opt.rate, opt.instances,
           opt.per_instance ? "yes" : "no");
    printf("interrupted: %s\n", interrupted ? "yes" : "no");
    printf("window_s: %.3f\n", win);
    printf("offered_per_s: %.0f\n", opt.streams * opt.rate);
    printf("registered: %"PRIu64"\n", end->c[C_REGISTERED]);
    printf("register_failed: %"PRIu64"\n", end->c[C_REGISTER_FAILED]);
    printf("streams_open: %"PRIu64"\n", open_at_end);
    /* As agent-load's: over the whole run. */
    printf("failed_calls: %"PRIu64"\n", end->c[C_CALLS_FAILED]);
    printf("failed_calls_in_window: %"PRIu64"\n", d[C_CALLS_FAILED]);
    printf("connections_failed: %"PRIu64"\n", end->c[C_CONN_FAILED]);
    printf("protocol_errors: %"PRIu64"\n", end->c[C_PROTO_ERRORS]);

    /* The window. */
    printf("reports_sent: %"PRIu64"\n", d[C_SENT]);
    printf("reports_acked: %"PRIu64"\n", d[C_ACKED]);
    printf("reports_rejected: %"PRIu64"\n", d[C_REJECTED]);
    printf("reports_skipped: %"PRIu64"\n", d[C_SKIPPED]);
    printf("reports_skipped_flow_control: %"PRIu64"\n",
           d[C_SKIPPED_WINDOW]);
    printf("reports_lost: %"PRIu64"\n", d[C_LOST]);
    printf("acks_received: %"PRIu64"\n", d[C_ACKS]);
    printf("bad_acks: %"PRIu64"\n", d[C_BAD_ACKS]);
    printf("sent_per_s: %.1f\n", win > 0 ? d[C_SENT] / win : 0.0);
    printf("acked_per_s: %.1f\n", win > 0 ? d[C_ACKED] / win : 0.0);
    printf("rtt_samples: %"PRIu64"\n", rtt_hist.n);
    print_histogram("rtt", &rtt_hist);
    print_histogram("wire_rtt", &wire_hist);
    print_histogram("send_lag", &lag_hist);
    printf("writes: %"PRIu64"\n", d[C_WRITES]);
    printf("writes_per_s: %.1f\n", win > 0 ? d[C_WRITES] / win : 0.0);
    printf("reports_per_write: %.2f\n",
           d[C_WRITES] ? (double) d[C_SENT] / d[C_WRITES] : 0.0);
    printf("bytes_per_write: %.0f\n",
           d[C_WRITES] ? (double) d[C_WRITE_BYTES] / d[C_WRITES] : 0.0);
    printf("cpu_s: %.3f\n", cpu);
    printf("cpu_percent_of_one_core: %.1f\n",
           win > 0 ? 100.0 * cpu / win : 0.0);
    printf("cpu_share_of_machine: %.3f\n",
           win > 0 && ncpu > 0 ? cpu / (win * ncpu) : 0.0);
    printf("cpu_us_per_acked_report: %.2f\n",
           d[C_ACKED] ? cpu * 1e6 / d[C_ACKED] : 0.0);

    /* The whole run, warm-up and drain included. */
    printf("total_reports_sent: %"PRIu64"\n", end->c[C_SENT]);
    printf("total_reports_acked: %"PRIu64"\n", end->c[C_ACKED]);
    printf("total_reports_rejected: %"PRIu64"\n", end->c[C_REJECTED]);
    printf("total_reports_skipped: %"PRIu64"\n", end->c[C_SKIPPED]);
    printf("total_reports_lost: %"PRIu64"\n", end->c[C_LOST]);
    printf("total_writes: %"PRIu64"\n", end->c[C_WRITES]);
    printf("total_cpu_s: %.3f\n", end->cpu_s);
    if (first_error[0]) {
        printf("first_error: %s\n", first_error);
    }
    fflush(stdout);
}

/* Options. */

static void
usage(void)
{
    printf("usage: agent-h2load [OPTIONS]\n"
           "Load generator for the cats.v1.Agent gRPC API, speaking HTTP/2 "
           "itself:\n"
           "the reports of all streams of a connection due at one tick go "
           "out in\n"
           "one write().\n\n"
           "  --target=HOST:PORT        server, IPv4 (default %s)\n"
           "  --connections=N           TCP connections (1)\n"
           "  --streams=N               nodes: each registers, then keeps "
           "one\n"
           "                            StreamReports stream open; node i "
           "uses\n"
           "                            connection i mod N (1)\n"
           "  --rate=HZ                 reports per second per stream (10)\n"
           "  --duration=S              measured window (10)\n"
           "  --warmup=S                sending before the window (2)\n"
           "  --instances-per-node=N    instances each node registers (1)\n"
           "  --per-instance            one entry per instance in each "
           "report\n"
           "                            (default: none, \"all my "
           "instances\")\n"
           "  --max-inflight=N          unacked reports per stream, 1-%d "
           "(8);\n"
           "                            a report due beyond it is skipped\n"
           "  --node-prefix=P           node ids P-00000... (bench)\n"
           "  --service=NAME            catalog service (bench)\n"
           "  --port=PORT               instance port (8080)\n"
           "  --threads=1               accepted for agent-load's command "
           "line\n"
           "  -h, --help                this help\n",
           opt.target, MAX_INFLIGHT_LIMIT);
}

/* --target: an IPv4 address (or "localhost") and a port. */
static void
parse_target(const char *s)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    size_t len;

    if (!colon || colon == s || (len = colon - s) >= sizeof host) {
        goto bad;
    }
    memcpy(host, s, len);
    host[len] = '\0';
    memset(&target_addr, 0, sizeof target_addr);
    target_addr.sin_family = AF_INET;
    if (!strcmp(host, "localhost")) {
        target_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &target_addr.sin_addr) != 1) {
        goto bad;
    }
    target_addr.sin_port = htons(parse_uint("target port", colon + 1, 1,
                                            65535));
    return;

bad:
    fprintf(stderr, "agent-h2load: --target: '%s' is not IPV4:PORT (an IPv4 "
            "address, or localhost, and a port)\n", s);
    exit(2);
}

static void
parse_options(int argc, char *argv[])
{
    enum {
        OPT_TARGET = UCHAR_MAX + 1, OPT_CONNECTIONS, OPT_STREAMS, OPT_RATE,
        OPT_DURATION, OPT_WARMUP, OPT_INSTANCES, OPT_THREADS,
        OPT_MAX_INFLIGHT, OPT_PER_INSTANCE, OPT_NODE_PREFIX, OPT_SERVICE,
        OPT_PORT,
    };
    static const struct option long_options[] = {
        {"target", required_argument, NULL, OPT_TARGET},
        {"connections", required_argument, NULL, OPT_CONNECTIONS},
        {"streams", required_argument, NULL, OPT_STREAMS},
        {"rate", required_argument, NULL, OPT_RATE},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"warmup", required_argument, NULL, OPT_WARMUP},
        {"instances-per-node", required_argument, NULL, OPT_INSTANCES},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
        {"per-instance", no_argument, NULL, OPT_PER_INSTANCE},
        {"node-prefix", required_argument, NULL, OPT_NODE_PREFIX},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"port", required_argument, NULL, OPT_PORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    for (;;) {
        int c = getopt_long(argc, argv, "h", long_options, NULL);

        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_TARGET:
            opt.target = optarg;
            break;
        case OPT_CONNECTIONS:
            opt.connections = parse_uint("connections", optarg, 1, 100000);
            break;
        case OPT_STREAMS:
            opt.streams = parse_uint("streams", optarg, 1, 1000000);
            break;
        case OPT_RATE:
            opt.rate = parse_double("rate", optarg, 0.001, 1e6);
            break;
        case OPT_DURATION:
            opt.duration = parse_double("duration", optarg, 0.1, 86400);
            break;
        case OPT_WARMUP:
            opt.warmup = parse_double("warmup", optarg, 0, 86400);
            break;
        case OPT_INSTANCES:
            opt.instances = parse_uint("instances-per-node", optarg, 0, 128);
            break;
        case OPT_THREADS:
            if (strcmp(optarg, "1")) {
                fprintf(stderr, "agent-h2load: --threads=%s: agent-h2load "
                        "is single-threaded; only --threads=1 is accepted "
                        "(for agent-load's command line)\n", optarg);
                exit(2);
            }
            break;
        case OPT_MAX_INFLIGHT:
            opt.max_inflight = parse_uint("max-inflight", optarg, 1,
                                          MAX_INFLIGHT_LIMIT);
            break;
        case OPT_PER_INSTANCE:
            opt.per_instance = true;
            break;
        case OPT_NODE_PREFIX:
            opt.node_prefix = optarg;
            if (!*optarg || strlen(optarg) > 40
                || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "abcdefghijklmnopqrstuvwxyz0123456789._:-")
                   != strlen(optarg)) {
                fprintf(stderr, "agent-h2load: --node-prefix: 1 to 40 "
                        "characters from [A-Za-z0-9._:-]\n");
                exit(2);
            }
            break;
        case OPT_SERVICE:
            opt.service = optarg;
            if (!*optarg || strlen(optarg) > 64) {
                fprintf(stderr, "agent-h2load: --service: 1 to 64 "
                        "characters\n");
                exit(2);
            }
            break;
        case OPT_PORT:
            opt.port = parse_uint("port", optarg, 1, 65535);
            break;
        case 'h':
            usage();
            exit(0);
        default:
            fprintf(stderr, "agent-h2load: use --help for usage\n");
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "agent-h2load: unexpected argument '%s'\n",
                argv[optind]);
        exit(2);
    }
    parse_target(opt.target);
    if (strlen(opt.target) > 100) {
        fprintf(stderr, "agent-h2load: --target: too long\n");
        exit(2);
    }
    if (opt.connections > opt.streams) {
        fprintf(stderr, "agent-h2load: --connections (%u) is more than "
                "--streams (%u): a connection without a stream stays "
                "idle\n", opt.connections, opt.streams);
        exit(2);
    }
    if (opt.per_instance && !opt.instances) {
        fprintf(stderr, "agent-h2load: --per-instance needs "
                "--instances-per-node of 1 or more\n");
        exit(2);
    }
}

static void
on_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}

static uint64_t
registrations_done(void)
{
    return counters[C_REGISTERED] + counters[C_REGISTER_FAILED];
}

/* Registers every node, opening the report streams of each connection
 * once its nodes are done.  Returns false if interrupted or too slow. */
static bool
register_all(int64_t start_ns)
{
    int64_t deadline = start_ns + REGISTER_ALL_S * NS_PER_S;
    int64_t next_tick = start_ns + NS_PER_S;

    for (unsigned int i = 0; i < opt.connections; i++) {
        conn_start(&conns[i]);
    }
    while (registrations_done() < opt.streams) {
        int64_t now = mono_ns();

        if (stop_requested) {
            return false;
        }
        if (now > deadline) {
            fprintf(stderr, "agent-h2load: registration did not finish "
                    "within %d s\n", REGISTER_ALL_S);
            return false;
        }
        if (now >= next_tick) {
            fprintf(stderr, "agent-h2load: registering: %"PRIu64" of %u "
                    "done, %"PRIu64" failed\n", registrations_done(),
                    opt.streams, counters[C_REGISTER_FAILED]);
            next_tick += NS_PER_S;
        }
        poll_until(next_tick < deadline ? next_tick : deadline);
    }
    return true;
}

/* Half-closes every open stream, waits for the server to end them, then
 * resets what is left and closes every connection. */
static void
close_all(void)
{
    int64_t give_up;

    closing = true;
    for (unsigned int i = 0; i < opt.connections; i++) {
        struct conn *c = &conns[i];

        if (c->dead) {
            continue;
        }
        for (size_t k = 0; k < c->n_nodes; k++) {
            struct node *n = c->nodes[k];

            if (n->state == N_OPEN) {
                /* An empty DATA frame with END_STREAM: no window needed. */
                out_frame(c, F_DATA, FL_END_STREAM, n->sid, NULL, 0);
                n->state = N_CLOSING;
            }
        }
        conn_flush(c);
    }
    give_up = mono_ns() + CLOSE_NS;
    while (counters[C_OPEN] && mono_ns() < give_up && !stop_requested) {
        poll_until(give_up);
    }
    for (unsigned int i = 0; i < opt.connections; i++) {
        struct conn *c = &conns[i];
        uint8_t goaway[8];

        if (c->dead) {
            continue;
        }
        for (size_t k = 0; k < c->n_nodes; k++) {
            struct node *n = c->nodes[k];

            if (n->sid) {
                out_rst_stream(c, n->sid, H2_CANCEL);
            }
        }
        put32(goaway, 0);
        put32(goaway + 4, H2_NO_ERROR);
        out_frame(c, F_GOAWAY, 0, 0, goaway, sizeof goaway);
        conn_flush(c);          /* Best effort: what is left is lost. */
        conn_close(c, false, "closed at the end of the run");
    }
}

int
main(int argc, char *argv[])
{
    struct snapshot prev, now, ws, we;
    struct sigaction sa;
    int64_t start_ns, next_tick, drain_until;
    uint64_t open_at_end = 0;
    bool interrupted = false, in_win = false;

    load_prog = "agent-h2load";
    parse_options(argc, argv);
    period_ns = (int64_t) (NS_PER_S / opt.rate);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;   /* No SA_RESTART: waits end at once. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_nofile();
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        fprintf(stderr, "agent-h2load: epoll_create1: %s\n",
                strerror(errno));
        return 1;
    }
    hdr_register_len = build_header_block(hdr_register, METHOD_REGISTER);
    hdr_stream_len = build_header_block(hdr_stream, METHOD_STREAM);
    create_all();

    fprintf(stderr, "agent-h2load: %s: %u streams over %u connections at "
            "%g Hz (%.0f reports/s offered)\n", opt.target, opt.streams,
            opt.connections, opt.rate, opt.streams * opt.rate);

    /* Registration. */
    start_ns = mono_ns();
    run_start_ns = start_ns;
    if (!register_all(start_ns)) {
        interrupted = true;
    }
    fprintf(stderr, "agent-h2load: registered %"PRIu64" nodes in %.2f s, "
            "%"PRIu64" failed, %"PRIu64" streams open\n",
            counters[C_REGISTERED], (mono_ns() - start_ns) / 1e9,
            counters[C_REGISTER_FAILED], counters[C_OPEN]);
    if (!counters[C_REGISTERED]) {
        fprintf(stderr, "agent-h2load: %s: no node registered%s%s\n",
                opt.target, first_error[0] ? ": " : "", first_error);
        if (strstr(first_error, "connect")) {
            fprintf(stderr, "agent-h2load: is a cats.v1.Agent server "
                    "listening on %s?\n", opt.target);
        }
        close_all();
        destroy_all();
        return 1;
    }

    /* Run: warm-up, then the window.  Connection k is due at phase
     * k / connections of the period. */
    run_start_ns = mono_ns() + 50 * NS_PER_MS;
    if (!interrupted) {
        window_start_ns = run_start_ns + (int64_t) (opt.warmup * NS_PER_S);
        window_end_ns = window_start_ns + (int64_t) (opt.duration * NS_PER_S);
    } else {
        window_start_ns = window_end_ns = run_start_ns;
    }
    for (unsigned int i = 0; i < opt.connections; i++) {
        conns[i].next_due = run_start_ns + (int64_t) ((double) period_ns * i
                                                      / opt.connections);
    }
    fire_cursor = 0;
    ticking = !interrupted;
    take_snapshot(&prev);
    ws = we = prev;
    next_tick = run_start_ns + NS_PER_S;
    while (!interrupted) {
        int64_t t = mono_ns(), wake;

        if (stop_requested) {
            interrupted = true;
            break;
        }
        if (!in_win && t >= window_start_ns) {
            fire_before(window_start_ns);
            take_snapshot(&ws);
            in_win = true;
            printf("window: start\n");
            fflush(stdout);
        }
        if (in_win && t >= window_end_ns) {
            fire_before(window_end_ns);
            take_snapshot(&we);
            open_at_end = we.c[C_OPEN];
            printf("window: end\n");
            fflush(stdout);
            print_progress(&prev, &we, "window");
            break;
        }
        if (t >= next_tick) {
            take_snapshot(&now);
            print_progress(&prev, &now, in_win ? "window" : "warmup");
            prev = now;
            next_tick += NS_PER_S;
        }
        wake = fire_due(t);
        if (wake > next_tick) {
            wake = next_tick;
        }
        if (!in_win && wake > window_start_ns) {
            wake = window_start_ns;
        } else if (in_win && wake > window_end_ns) {
            wake = window_end_ns;
        }
        poll_until(wake);
    }
    if (interrupted) {
        take_snapshot(&we);
        open_at_end = we.c[C_OPEN];
        if (!in_win) {
            ws = we;
        }
        fprintf(stderr, "agent-h2load: interrupted\n");
    }

    /* Drain: the acks of the reports in flight. */
    ticking = false;
    for (unsigned int i = 0; i < opt.connections; i++) {
        if (!conns[i].dead && !conns[i].epollout) {
            conn_flush(&conns[i]);
        }
    }
    drain_until = mono_ns() + DRAIN_NS;
    while (inflight_reports && mono_ns() < drain_until && !stop_requested) {
        poll_until(drain_until);
    }
    close_all();
    take_snapshot(&now);
    print_summary(&ws, &we, &now, open_at_end, interrupted);
    destroy_all();
    return interrupted || !open_at_end ? 1 : 0;
}
