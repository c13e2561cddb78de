/*
 * grpc-floor: the least a gRPC core server can do per load report, to
 * measure what gRPC core and the kernel cost on this machine without any
 * of the controller's work (make bench-agent with BENCH_SERVER, see
 * tests/bench/README.md).
 *
 * It speaks just enough of cats.v1.Agent for agent-load: RegisterNode
 * answers every node with a fixed session; StreamReports unpacks each
 * LoadReport (to read its seq, as any server must) and acks the highest
 * seq at most every ACK_INTERVAL_MS per stream, when a report arrives;
 * once per ACK_INTERVAL_MS a sweep over the streams acks what is left
 * unacked, as the controller's timer does, so that a stream that stopped
 * sending for want of acks (agent-h2load's in-flight window) is not stuck
 * for good.  No validation, no store, no main loop: a floor, not a
 * server.
 *
 * The completion queues are arranged much as in controller/grpc-server.c
 * (one polling queue for new calls, the calls spread round robin over
 * non-polling ones that the same thread drains every millisecond or so),
 * so that the floor does not pay the debug scan that a single queue
 * would.
 *
 * usage: grpc-floor [ADDRESS:]PORT     (default address 127.0.0.1)
 * SIGTERM or SIGINT: prints "floor: reports=N acks=N registers=N" and
 * exits.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "proto/cats.pb-c.h"

#define N_CALL_CQS 16
#define ARMED 16
#define ACK_INTERVAL_MS 1000      /* The controller's default. */
#define LEASE_MS 3000
#define REPORT_INTERVAL_MS 100

enum method { M_REGISTER, M_REPORTS, N_METHODS };
enum tag_kind { T_NEW, T_RECV, T_SEND, T_DONE, T_CLOSE, N_TAGS };

struct call;
struct tag {
    enum tag_kind kind;
    struct call *c;
};

struct call {
    enum method m;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *send_bb;
    int cancelled;
    int refs;                   /* The call's own + one per batch. */
    struct tag tags[N_TAGS];
    uint64_t max_seq;
    uint64_t acked_seq;         /* In the last ack sent. */
    int64_t last_ack_ns;
    bool send_busy;
    struct call *prev, *next;   /* In 'streams' (StreamReports only). */
};

/* The StreamReports calls alive, for the sweep: a circular list. */
static struct call streams = { .prev = &streams, .next = &streams };

static grpc_server *server;
static grpc_completion_queue *cq;
static grpc_completion_queue *call_cqs[N_CALL_CQS];
static unsigned int next_cq;
static void *registered[N_METHODS];
static volatile sig_atomic_t stop;
static uint64_t n_reports, n_acks, n_registers;

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

static void
unref(struct call *c)
{
    if (--c->refs == 0) {
        if (c->next) {
            c->prev->next = c->next;
            c->next->prev = c->prev;
        }
        grpc_metadata_array_destroy(&c->md);
        if (c->payload) {
            grpc_byte_buffer_destroy(c->payload);
        }
        if (c->send_bb) {
            grpc_byte_buffer_destroy(c->send_bb);
        }
        if (c->call) {
            grpc_call_unref(c->call);
        }
        free(c);
    }
}

static void
batch(struct call *c, const grpc_op *ops, size_t n, enum tag_kind kind)
{
    c->refs++;
    if (grpc_call_start_batch(c->call, ops, n, &c->tags[kind], NULL)
        != GRPC_CALL_OK) {
        unref(c);
    }
}

static void
arm(enum method m)
{
    struct call *c = calloc(1, sizeof *c);

    if (!c) {
        abort();
    }
    c->m = m;
    c->refs = 2;                /* Its own, and T_NEW's. */
    for (int i = 0; i < N_TAGS; i++) {
        c->tags[i].kind = i;
        c->tags[i].c = c;
    }
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_registered_call(
            server, registered[m], &c->call, &c->deadline, &c->md,
            m == M_REGISTER ? &c->payload : NULL,
            call_cqs[next_cq++ % N_CALL_CQS], cq, &c->tags[T_NEW])
        != GRPC_CALL_OK) {
        fprintf(stderr, "grpc-floor: cannot wait for calls\n");
        exit(1);
    }
}

static grpc_byte_buffer *
packed(const ProtobufCMessage *msg)
{
    uint8_t buf[256];
    size_t len = protobuf_c_message_get_packed_size(msg);

    if (len > sizeof buf) {
        abort();
    }
    protobuf_c_message_pack(msg, buf);
    grpc_slice s = grpc_slice_from_copied_buffer((const char *) buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static void
start_recv(struct call *c)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    batch(c, &op, 1, T_RECV);
}

static void
send_ack(struct call *c)
{
    Cats__V1__ReportAck ack = CATS__V1__REPORT_ACK__INIT;
    grpc_op op;

    ack.seq = c->max_seq;
    c->acked_seq = c->max_seq;
    ack.lease_ms = LEASE_MS;
    ack.report_interval_ms = REPORT_INTERVAL_MS;
    if (c->send_bb) {
        grpc_byte_buffer_destroy(c->send_bb);
    }
    c->send_bb = packed(&ack.base);
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = c->send_bb;
    c->send_busy = true;
    c->last_ack_ns = now_ns();
    n_acks++;
    batch(c, &op, 1, T_SEND);
}

static void
send_status(struct call *c)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = GRPC_STATUS_OK;
    batch(c, &op, 1, T_DONE);
}

static void
on_new(struct call *c, bool ok)
{
    grpc_op ops[4];

    if (!ok) {
        unref(c);
        unref(c);
        return;
    }
    arm(c->m);
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[0].data.recv_close_on_server.cancelled = &c->cancelled;
    batch(c, ops, 1, T_CLOSE);

    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->m == M_REGISTER) {
        Cats__V1__RegisterReply reply = CATS__V1__REGISTER_REPLY__INIT;

        reply.session_id = 1;
        reply.lease_ms = LEASE_MS;
        reply.report_interval_ms = REPORT_INTERVAL_MS;
        c->send_bb = packed(&reply.base);
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = c->send_bb;
        ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
        n_registers++;
        batch(c, ops, 3, T_DONE);
    } else {
        c->prev = streams.prev;
        c->next = &streams;
        streams.prev->next = c;
        streams.prev = c;
        batch(c, ops, 1, T_DONE);
        start_recv(c);
    }
    unref(c);                   /* T_NEW's. */
}

static void
on_recv(struct call *c, bool ok)
{
    if (!ok) {
        return;                 /* Broken or cancelled: T_CLOSE ends it. */
    }
    if (!c->payload) {
        if (!c->send_busy) {    /* Half-closed. */
            send_status(c);
        }
        return;
    }

    grpc_byte_buffer_reader r;
    grpc_slice s;

    if (grpc_byte_buffer_reader_init(&r, c->payload)) {
        s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        Cats__V1__LoadReport *rep = cats__v1__load_report__unpack(
            NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
        if (rep) {
            if (rep->seq > c->max_seq) {
                c->max_seq = rep->seq;
            }
            cats__v1__load_report__free_unpacked(rep, NULL);
            n_reports++;
        }
        grpc_slice_unref(s);
    }
    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    if (!c->send_busy
        && now_ns() - c->last_ack_ns >= ACK_INTERVAL_MS * INT64_C(1000000)) {
        send_ack(c);
    }
    start_recv(c);
}

static void
on_event(const grpc_event *ev)
{
    struct tag *t = ev->tag;
    struct call *c = t->c;

    switch (t->kind) {
    case T_NEW:
        on_new(c, ev->success);
        return;                 /* on_new() dropped T_NEW's reference. */
    case T_RECV:
        on_recv(c, ev->success);
        break;
    case T_SEND:
        c->send_busy = false;
        break;
    case T_CLOSE:
        unref(c);               /* The call's own. */
        break;
    case T_DONE:
    case N_TAGS:
        break;
    }
    unref(c);
}

static int
drain(grpc_completion_queue *q)
{
    int n = 0;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            q, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
            return n;
        }
        on_event(&ev);
        n++;
    }
}

static void
on_signal(int sig)
{
    (void) sig;
    stop = 1;
}

int
main(int argc, char *argv[])
{
    char addr[128];

    if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: %s [ADDRESS:]PORT\n", argv[0]);
        return argc == 2 ? 0 : 2;
    }
    snprintf(addr, sizeof addr, "%s%s",
             strchr(argv[1], ':') ? "" : "127.0.0.1:", argv[1]);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    grpc_init();
    server = grpc_server_create(NULL, NULL);
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server, cq, NULL);

    grpc_completion_queue_attributes attr = {
        .version = GRPC_CQ_CURRENT_VERSION,
        .cq_completion_type = GRPC_CQ_NEXT,
        .cq_polling_type = GRPC_CQ_NON_POLLING,
    };
    for (int i = 0; i < N_CALL_CQS; i++) {
        call_cqs[i] = grpc_completion_queue_create(
            grpc_completion_queue_factory_lookup(&attr), &attr, NULL);
        grpc_server_register_completion_queue(server, call_cqs[i], NULL);
    }
    registered[M_REGISTER] = grpc_server_register_method(
        server, "/cats.v1.Agent/RegisterNode", NULL,
        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    registered[M_REPORTS] = grpc_server_register_method(
        server, "/cats.v1.Agent/StreamReports", NULL,
        GRPC_SRM_PAYLOAD_NONE, 0);

    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (!port) {
        fprintf(stderr, "grpc-floor: cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_start(server);
    for (int m = 0; m < N_METHODS; m++) {
        for (int i = 0; i < ARMED; i++) {
            arm(m);
        }
    }
    fprintf(stderr, "grpc-floor: listening on %s\n", addr);

    int64_t next_sweep = now_ns();
    int wait_ms = 1;
    while (!stop) {
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                             gpr_time_from_millis(wait_ms, GPR_TIMESPAN)),
            NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            on_event(&ev);
        }
        int n = 0;
        for (int i = 0; i < N_CALL_CQS; i++) {
            n += drain(call_cqs[i]);
        }
        wait_ms = n ? 1 : (wait_ms < 8 ? 2 * wait_ms : 8);

        int64_t now = now_ns();
        if (now >= next_sweep) {
            int64_t interval = ACK_INTERVAL_MS * INT64_C(1000000);

            next_sweep = now + interval;
            for (struct call *c = streams.next, *next; c != &streams;
                 c = next) {
                next = c->next;
                if (!c->send_busy && c->max_seq > c->acked_seq
                    && now - c->last_ack_ns >= interval) {
                    send_ack(c);
                }
            }
        }
    }

    /* A measuring tool: report and leave; the kernel closes the sockets. */
    printf("floor: reports=%" PRIu64 " acks=%" PRIu64 " registers=%" PRIu64
           "\n", n_reports, n_acks, n_registers);
    fflush(stdout);
    _exit(0);
}
