/*
 * ovs-cats: the agent API server.  See grpc-server.h for the contract and
 * proto/README.md for how the gRPC core C API is used (and misused).
 *
 * Threads.  The completion-queue thread ("cats_grpc") runs every gRPC
 * completion: new calls, received messages, finished sends.  It decodes
 * and validates messages and appends valid ones to 'queue'; the main
 * thread takes them in cats_grpc_server_recv() and answers through the
 * reply functions, which start batches on the call
 * (grpc_call_start_batch() is thread-safe).
 *
 * Calls.  A call's state is 'struct cats_grpc_call', reference counted:
 * one reference for the call itself (dropped when RECV_CLOSE_ON_SERVER
 * completes, i.e. when the call is over for gRPC), one per batch in
 * flight, one per event queued to the main loop, one while parked.  Tags
 * handed to gRPC point into the call.  A call's send side ('send_busy',
 * pending ack, final status) is under its mutex, because the thread (rate
 * refusals, finished sends) and the main loop (acks) both send.
 *
 * gRPC allows one batch in flight per kind of operation on a call: so one
 * RECV_MESSAGE at a time (the next one is started once the previous
 * message was handled), and one SEND_MESSAGE at a time (acks that arrive
 * meanwhile are merged into one pending ack).
 */

#include <config.h>

#include "grpc-server.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cats/catalog.h"
#include "cats/timer-wheel.h"
#include "hash.h"
#include "latch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/vlog.h"
#include "random.h"
#include "ovs-atomic.h"
#include "ovs-thread.h"
#include "sset.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cats_grpc);

/* Requests armed per method, so that a burst of new calls does not wait
 * for re-arming. */
#define ARMED_PER_METHOD 16

/* Completion queues the calls are spread over (see cq_thread()): the
 * polling one first, filled up to CALL_CQ_FIRST matched calls, then
 * non-polling ones, each filled up to CALL_CQ_SPILL before the next is
 * used.  N_CALL_CQS fits 16,000 calls at that; beyond, each new call goes
 * to the least loaded queue. */
#define N_CALL_CQS 256
#define CALL_CQ_FIRST 512
#define CALL_CQ_SPILL 64

/* How long the thread lets gRPC poll before it drains the calls' queues:
 * the first wait after completions were found, and the longest one once
 * they stop coming. */
#define CALL_CQ_WAIT_MIN_MS 1
#define CALL_CQ_WAIT_MAX_MS 8

/* Held acks sent per main-loop iteration at most (about 20 us each), so
 * that a burst of due acks does not hold back the reports queued behind
 * it.  ovs-appctl cats/agent-ack-batch shows and changes it. */
#define ACKS_PER_RUN 32

/* Slots of the held acks' timing wheel, one per ms: longer than the
 * default ack interval, so that held acks are placed at once (longer
 * intervals work too, looked at once per revolution until due). */
#define DEFERRED_SLOTS 2048

enum method {
    M_REGISTER,
    M_REPORTS,
    M_TELEMETRY,
    M_LIST,
    N_METHODS
};

static const struct {
    const char *path;
    bool unary;
} methods[N_METHODS] = {
    [M_REGISTER] = { "/cats.v1.Agent/RegisterNode", true },
    [M_REPORTS] = { "/cats.v1.Agent/StreamReports", false },
    [M_TELEMETRY] = { "/cats.v1.Telemetry/StreamTelemetry", false },
    [M_LIST] = { "/cats.v1.Query/ListServices", true },
};

enum tag_kind {
    T_NEW,          /* A request matched a call (or failed: shutdown). */
    T_UNARY,        /* Unary reply sent. */
    T_SINIT,        /* Stream initial metadata sent. */
    T_RECV,         /* Stream message received (or end, or failure). */
    T_SEND,         /* Stream ack sent. */
    T_STATUS,       /* Stream status sent. */
    T_CLOSE,        /* The call is over. */
    N_TAGS
};

struct tag {
    enum tag_kind kind;
    struct cats_grpc_call *call;
};

/* The policy snapshot. */
struct policy_node {
    struct hmap_node hmap_node;
    char *id;
    char *token;                        /* NULL: none needed. */
    struct cats_report_policy policy;   /* Its prefixes. */
};

struct cats_grpc_policy {
    struct ovs_refcount ref;
    struct sset services;
    struct cats_report_policy decode;   /* Service check, no prefixes. */
    struct cats_report_policy dflt;     /* Default prefixes. */
    bool restricted;                    /* An access list is in force. */
    struct hmap nodes;                  /* Of policy_node, by id. */
    struct policy_node *any;            /* '*' or NULL. */
};

enum status_state {
    STATUS_NONE,
    STATUS_DEFERRED,            /* After the send in flight. */
    STATUS_SENT,
};

struct cats_grpc_call {
    struct cats_grpc_server *server;
    enum method m;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    int cancelled;
    struct ovs_refcount ref;
    struct tag tags[N_TAGS];
    atomic_bool over;                   /* RECV_CLOSE_ON_SERVER done. */
    unsigned int cq_index;              /* In server's 'call_cqs'. */
    bool bound;                         /* Matched: counted in 'bound'. */

    /* Completion-queue thread only. */
    char *token;                        /* Presented bearer token. */
    struct sset cert_names;             /* Under mutual TLS. */
    char node_id[CATS_ID_MAX + 1];      /* Stream bound to; "" if not. */
    double tokens;                      /* Rate limit bucket. */
    long long int tokens_ns;
    struct ovs_list parked_node;        /* In server's 'parked'. */

    /* Main thread only. */
    bool deferred;                      /* In server's 'deferred'. */
    struct cats_timer_node deferred_node;

    /* Send side, under 'mutex'. */
    struct ovs_mutex mutex;
    bool send_busy;
    bool ack_pending;
    long long int next_ack_ms;          /* A plain ack is due from then. */
    struct cats_report_ack pending;     /* 'error_message' owned. */
    enum status_state status;
    grpc_status_code final_code;
    char *final_message;
    grpc_byte_buffer *send_bb;
    grpc_slice status_details;
};

struct cats_grpc_server {
    struct cats_grpc_server_options opts;
    grpc_server *server;
    grpc_completion_queue *cq;          /* Polling: new calls, shutdown. */
    grpc_completion_queue *call_cqs[N_CALL_CQS];  /* [0] is 'cq'. */
    atomic_count bound[N_CALL_CQS];     /* Matched calls alive, per queue. */
    atomic_count spilled;               /* Sum of 'bound[1...]'. */
    void *registered[N_METHODS];
    pthread_t thread;
    atomic_bool shutting_down;
    atomic_bool shutdown_done;
    struct tag shutdown_tag;
    atomic_count live_calls;            /* Call structs alive. */

    struct ovs_mutex policy_mutex;
    struct cats_grpc_policy *policy;

    /* Events for the main loop. */
    struct ovs_mutex queue_mutex;
    struct ovs_list queue;
    size_t queue_len;
    struct ovs_list parked;             /* Calls waiting for room. */
    struct ovs_list done;               /* Handled, for the thread to free
                                         * (cats_grpc_server_done()). */
    struct latch latch;
    bool wake_main;                     /* Thread only: events queued since
                                         * the queue was empty, and the
                                         * latch not set (see enqueue()). */

    struct ovs_mutex stats_mutex;
    struct cats_grpc_stats stats;

    /* Main thread only: streams with an ack held back by the ack
     * interval, by due time (see defer()), and when the earliest is. */
    struct cats_timer_wheel deferred;
    long long int next_flush;
    unsigned int acks_per_run;          /* ACKS_PER_RUN unless changed. */
};

static void call_unref(struct cats_grpc_call *);

static bool
flag_get(atomic_bool *flag)
{
    bool value;

    atomic_read(flag, &value);
    return value;
}
static void start_recv(struct cats_grpc_call *);
static void policy_unref(struct cats_grpc_policy *);

long long int
cats_grpc_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long int
now_ms(void)
{
    return cats_grpc_now_ns() / 1000000;
}

void
cats_grpc_server_options_init(struct cats_grpc_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:50051";
    o->max_message = CATS_REPORT_MAX_SIZE;
    o->queue_limit = CATS_GRPC_QUEUE_LIMIT;
    o->max_stream_rate = CATS_GRPC_MAX_STREAM_RATE;
    o->ack_interval_ms = CATS_GRPC_ACK_INTERVAL_MS;
}

const char *
cats_grpc_reason_name(enum cats_grpc_reason r)
{
    switch (r) {
    case CATS_GRPC_R_DECODE:
        return "decode";
    case CATS_GRPC_R_AUTH:
        return "auth";
    case CATS_GRPC_R_RATE:
        return "rate";
    case CATS_GRPC_R_BUSY:
        return "busy";
    case CATS_GRPC_R_STORE:
        return "store";
    case CATS_GRPC_N_REASONS:
        break;
    }
    return "unknown";
}

/* Statistics. */

static void
count_refusal(struct cats_grpc_server *s, enum cats_grpc_reason reason,
              int error, const char *message, const struct cats_grpc_call *c)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
    enum cats_grpc_status code = cats_report_grpc_status(error);
    const char *method = c ? methods[c->m].path : "";

    ovs_mutex_lock(&s->stats_mutex);
    s->stats.by_reason[reason]++;
    s->stats.by_code[code < CATS_GRPC_N_CODES ? code : CATS_GRPC_UNKNOWN]++;
    snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s: %s: %s",
             method, cats_grpc_status_name(code), message);
    ovs_mutex_unlock(&s->stats_mutex);
    VLOG_INFO_RL(&rl, "%s: refused (%s): %s", method,
                 cats_grpc_status_name(code), message);
}

void
cats_grpc_server_count_refusal(struct cats_grpc_server *s, int error,
                               const char *message)
{
    count_refusal(s, CATS_GRPC_R_STORE, error, message, NULL);
}

void
cats_grpc_server_get_stats(struct cats_grpc_server *s,
                           struct cats_grpc_stats *stats)
{
    ovs_mutex_lock(&s->stats_mutex);
    *stats = s->stats;
    ovs_mutex_unlock(&s->stats_mutex);
    ovs_mutex_lock(&s->queue_mutex);
    stats->queue_len = s->queue_len;
    ovs_mutex_unlock(&s->queue_mutex);
}

/* Policy snapshots. */

static bool
policy_has_service(const char *name, const void *policy_)
{
    const struct cats_grpc_policy *policy = policy_;

    return sset_contains(&policy->services, name);
}

static void
copy_limits(struct cats_report_policy *dst,
            const struct cats_report_policy *src)
{
    dst->max_size = src->max_size;
    dst->max_decoded_size = src->max_decoded_size;
    dst->max_instances = src->max_instances;
    dst->max_links = src->max_links;
}

static void
copy_prefixes(struct cats_report_policy *dst,
              const struct cats_report_policy *src)
{
    dst->n_prefixes = src->n_prefixes;
    dst->prefixes = (src->n_prefixes
                     ? xmemdup(src->prefixes,
                               src->n_prefixes * sizeof *src->prefixes)
                     : NULL);
}

static struct policy_node *
policy_node_create(struct cats_grpc_policy *p, const struct cats_acl_node *n)
{
    struct policy_node *pn = xzalloc(sizeof *pn);

    pn->id = xstrdup(n->id);
    pn->token = nullable_xstrdup(n->token);
    cats_report_policy_init(&pn->policy);
    copy_limits(&pn->policy, &p->dflt);
    if (n->n_prefixes) {
        cats_acl_node_apply(n, &pn->policy);
    } else {
        copy_prefixes(&pn->policy, &p->dflt);
    }
    return pn;
}

struct cats_grpc_policy *
cats_grpc_policy_create(const struct cats_catalog *catalog,
                        const struct cats_acl *acl,
                        const struct cats_report_policy *defaults)
{
    struct cats_grpc_policy *p = xzalloc(sizeof *p);
    const struct cats_service *svc;

    ovs_refcount_init(&p->ref);
    sset_init(&p->services);
    HMAP_FOR_EACH (svc, node, &catalog->services) {
        sset_add(&p->services, svc->name);
    }

    cats_report_policy_init(&p->decode);
    copy_limits(&p->decode, defaults);
    p->decode.service_exists = policy_has_service;
    p->decode.aux = p;

    cats_report_policy_init(&p->dflt);
    copy_limits(&p->dflt, defaults);
    copy_prefixes(&p->dflt, defaults);

    hmap_init(&p->nodes);
    if (acl && !cats_acl_is_empty(acl)) {
        const struct cats_acl_node *n;

        p->restricted = true;
        HMAP_FOR_EACH (n, hmap_node, &acl->nodes) {
            struct policy_node *pn = policy_node_create(p, n);
            hmap_insert(&p->nodes, &pn->hmap_node, hash_string(pn->id, 0));
        }
        if (acl->any) {
            p->any = policy_node_create(p, acl->any);
        }
    }
    return p;
}

static void
policy_node_destroy(struct policy_node *pn)
{
    if (pn) {
        free(pn->id);
        free(pn->token);
        cats_report_policy_destroy(&pn->policy);
        free(pn);
    }
}

static void
policy_unref(struct cats_grpc_policy *p)
{
    if (p && ovs_refcount_unref(&p->ref) == 1) {
        struct policy_node *pn;

        sset_destroy(&p->services);
        cats_report_policy_destroy(&p->decode);
        cats_report_policy_destroy(&p->dflt);
        HMAP_FOR_EACH_POP (pn, hmap_node, &p->nodes) {
            policy_node_destroy(pn);
        }
        hmap_destroy(&p->nodes);
        policy_node_destroy(p->any);
        free(p);
    }
}

static struct cats_grpc_policy *
get_policy(struct cats_grpc_server *s)
{
    struct cats_grpc_policy *p;

    ovs_mutex_lock(&s->policy_mutex);
    p = s->policy;
    ovs_refcount_ref(&p->ref);
    ovs_mutex_unlock(&s->policy_mutex);
    return p;
}

void
cats_grpc_server_set_policy(struct cats_grpc_server *s,
                            struct cats_grpc_policy *p)
{
    struct cats_grpc_policy *old;

    ovs_mutex_lock(&s->policy_mutex);
    old = s->policy;
    s->policy = p;
    ovs_mutex_unlock(&s->policy_mutex);
    policy_unref(old);
}

/* Compares without a data-dependent early exit. */
static bool
token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < lb; i++) {
        diff |= (unsigned char) b[i] ^ (unsigned char) (i < la ? a[i] : 0);
    }
    return !diff;
}

/* Checks that call 'c' may act as node 'id'.  Returns the prefixes that
 * the node may announce (within 'p'), or NULL with '*errorp' set. */
static const struct cats_report_policy *
authorize(const struct cats_grpc_server *s, const struct cats_grpc_policy *p,
          const struct cats_grpc_call *c, const char *id, char **errorp)
{
    const struct cats_report_policy *prefixes = &p->dflt;

    if (p->restricted) {
        const struct policy_node *pn = NULL, *n;

        HMAP_FOR_EACH_WITH_HASH (n, hmap_node, hash_string(id, 0),
                                 &p->nodes) {
            if (!strcmp(n->id, id)) {
                pn = n;
                break;
            }
        }
        if (!pn) {
            pn = p->any;
        }
        if (!pn) {
            *errorp = xasprintf("node '%s' is not in the access list", id);
            return NULL;
        }
        if (pn->token && (!c->token || !token_equal(c->token, pn->token))) {
            *errorp = xasprintf("node '%s': %s bearer token", id,
                                c->token ? "wrong" : "missing");
            return NULL;
        }
        prefixes = &pn->policy;
    }
    if (s->stats.mutual_tls && !sset_contains(&c->cert_names, id)) {
        struct ds names = DS_EMPTY_INITIALIZER;
        const char *name;

        SSET_FOR_EACH (name, &c->cert_names) {
            ds_put_format(&names, "%s%s", names.length ? ", " : "", name);
        }
        *errorp = xasprintf("node '%s' does not match the client "
                            "certificate (%s)", id,
                            names.length ? ds_cstr(&names) : "no names");
        ds_destroy(&names);
        return NULL;
    }
    return prefixes;
}

/* Checks instance addresses against 'prefixes'. */
static int
check_prefixes(const struct cats_report_policy *prefixes,
               const struct cats_report_key *key, size_t i,
               const char *node, char **errorp)
{
    if (!cats_report_policy_allows(prefixes, key->ip)) {
        *errorp = xasprintf("field 'instances[%"PRIuSIZE"].ip': "IP_FMT
                            " is outside the prefixes node '%s' may "
                            "announce", i, IP_ARGS(key->ip), node);
        return EPERM;
    }
    return 0;
}

/* Calls. */

static void
call_unref(struct cats_grpc_call *c)
{
    if (ovs_refcount_unref(&c->ref) == 1) {
        struct cats_grpc_server *s = c->server;

        if (c->call) {
            grpc_call_unref(c->call);
        }
        grpc_metadata_array_destroy(&c->md);
        if (c->payload) {
            grpc_byte_buffer_destroy(c->payload);
        }
        if (c->send_bb) {
            grpc_byte_buffer_destroy(c->send_bb);
        }
        grpc_slice_unref(c->status_details);
        free(CONST_CAST(char *, c->pending.error_message));
        free(c->final_message);
        free(c->token);
        sset_destroy(&c->cert_names);
        ovs_mutex_destroy(&c->mutex);
        if (c->bound) {
            atomic_count_dec(&s->bound[c->cq_index]);
            if (c->cq_index) {
                atomic_count_dec(&s->spilled);
            }
        }
        free(c);
        atomic_count_dec(&s->live_calls);
    }
}

static bool
batch(struct cats_grpc_call *c, const grpc_op *ops, size_t n,
      enum tag_kind kind)
{
    grpc_call_error e;

    ovs_refcount_ref(&c->ref);
    e = grpc_call_start_batch(c->call, ops, n, &c->tags[kind], NULL);
    if (e != GRPC_CALL_OK) {
        VLOG_DBG("%s: batch %d refused (call error %d)", methods[c->m].path,
                 kind, e);
        call_unref(c);
        return false;
    }
    return true;
}

/* The first queue with room, else the least loaded one. */
static unsigned int
pick_call_cq(struct cats_grpc_server *s)
{
    unsigned int best = 0, best_n = UINT_MAX;

    for (unsigned int i = 0; i < N_CALL_CQS; i++) {
        unsigned int n = atomic_count_get(&s->bound[i]);
        if (n < (i ? CALL_CQ_SPILL : CALL_CQ_FIRST)) {
            return i;
        } else if (n < best_n) {
            best = i;
            best_n = n;
        }
    }
    return best;
}

static void
arm(struct cats_grpc_server *s, enum method m)
{
    struct cats_grpc_call *c;
    grpc_call_error e;

    if (flag_get(&s->shutting_down)) {
        return;
    }
    c = xzalloc(sizeof *c);
    c->server = s;
    c->m = m;
    ovs_refcount_init(&c->ref);         /* The call's own reference. */
    ovs_refcount_ref(&c->ref);          /* The T_NEW tag's. */
    atomic_init(&c->over, false);
    for (int i = 0; i < N_TAGS; i++) {
        c->tags[i].kind = i;
        c->tags[i].call = c;
    }
    grpc_metadata_array_init(&c->md);
    c->status_details = grpc_empty_slice();
    sset_init(&c->cert_names);
    ovs_mutex_init(&c->mutex);
    c->tokens = s->opts.max_stream_rate;
    c->tokens_ns = cats_grpc_now_ns();
    atomic_count_inc(&s->live_calls);
    c->cq_index = pick_call_cq(s);

    e = grpc_server_request_registered_call(
        s->server, s->registered[m], &c->call, &c->deadline, &c->md,
        methods[m].unary ? &c->payload : NULL, s->call_cqs[c->cq_index],
        s->cq, &c->tags[T_NEW]);
    if (e != GRPC_CALL_OK) {
        VLOG_ERR("%s: cannot wait for calls (call error %d)",
                 methods[m].path, e);
        call_unref(c);
        call_unref(c);
    }
}

/* The bytes of received message 'bb', valid while 'bb' is: in place when
 * they are one uncompressed slice, as a small message's are; else copied
 * into 'stub' (of 'stub_size' bytes) or into a malloc'd block returned in
 * '*heap' as well, for the caller to free.  In place saves a copy and an
 * allocation per report. */
static const uint8_t *
payload_bytes(grpc_byte_buffer *bb, uint8_t *stub, size_t stub_size,
              size_t *len, uint8_t **heap)
{
    const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    grpc_byte_buffer_reader r;
    grpc_slice slice;
    uint8_t *p;

    *heap = NULL;
    if (bb->type == GRPC_BB_RAW
        && bb->data.raw.compression == GRPC_COMPRESS_NONE
        && sb->count == 1) {
        *len = GRPC_SLICE_LENGTH(sb->slices[0]);
        return GRPC_SLICE_START_PTR(sb->slices[0]);
    }

    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        *len = 0;
        return NULL;
    }
    slice = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(slice);
    p = *len <= stub_size ? stub : (*heap = xmalloc(*len));
    memcpy(p, GRPC_SLICE_START_PTR(slice), *len);
    grpc_slice_unref(slice);
    return p;
}

static grpc_byte_buffer *
byte_buffer_from(const void *p, size_t len)
{
    grpc_slice slice = grpc_slice_from_copied_buffer(p, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);

    grpc_slice_unref(slice);
    return bb;
}

/* Identity of the peer: bearer token and certificate names. */
static void
read_identity(struct cats_grpc_call *c)
{
    static const char prefix[] = "Bearer ";

    for (size_t i = 0; i < c->md.count; i++) {
        const grpc_metadata *md = &c->md.metadata[i];
        size_t klen = GRPC_SLICE_LENGTH(md->key);
        size_t vlen = GRPC_SLICE_LENGTH(md->value);
        const char *v = (const char *) GRPC_SLICE_START_PTR(md->value);

        if (klen == 13
            && !memcmp(GRPC_SLICE_START_PTR(md->key), "authorization", 13)
            && vlen > sizeof prefix - 1 && vlen <= 1024
            && !memcmp(v, prefix, sizeof prefix - 1)
            && !memchr(v, '\0', vlen)) {
            free(c->token);
            c->token = xmemdup0(v + sizeof prefix - 1,
                                vlen - (sizeof prefix - 1));
        }
    }

    if (c->server->stats.mutual_tls) {
        grpc_auth_context *ctx = grpc_call_auth_context(c->call);

        if (ctx) {
            grpc_auth_property_iterator it;
            const grpc_auth_property *prop;

            it = grpc_auth_context_peer_identity(ctx);
            while ((prop = grpc_auth_property_iterator_next(&it))) {
                if (prop->value_length <= CATS_ID_MAX
                    && !memchr(prop->value, '\0', prop->value_length)) {
                    char *name = xmemdup0(prop->value, prop->value_length);
                    sset_add_and_free(&c->cert_names, name);
                }
            }
            grpc_auth_context_release(ctx);
        }
    }
}

/* The queue to the main loop. */

static struct cats_grpc_event *
event_create(struct cats_grpc_call *c, enum cats_grpc_event_type type,
             long long int recv_ns)
{
    struct cats_grpc_event *ev = xzalloc(sizeof *ev);

    ev->type = type;
    ev->call = c;
    ev->recv_ns = recv_ns;
    ovs_refcount_ref(&c->ref);
    return ev;
}

/* Events queued before the main loop is woken, at most, while the thread
 * has more completions to run. */
#define WAKE_BATCH 64

/* Thread only: wakes the main loop if events wait for it unannounced. */
static void
wake_main(struct cats_grpc_server *s)
{
    if (s->wake_main) {
        s->wake_main = false;
        latch_set(&s->latch);
    }
}

/* Appends 'ev'.  Returns false if the queue is full after it: the caller
 * (a stream) should stop receiving.
 *
 * The main loop is woken (the latch) once WAKE_BATCH events wait, or when
 * the thread runs out of completions to run (cq_thread()), whichever comes
 * first, not for the first event of every batch: the main loop ran one
 * iteration per wake-up, about 7,000 a second at 100,000 reports/s, each
 * with its fixed costs (then also an accept() per listener, 9% of the
 * controller's CPU, perf; the main loop now polls its listeners at most
 * every 10 ms while busy). */
static bool
enqueue(struct cats_grpc_server *s, struct cats_grpc_event *ev)
{
    struct ovs_list done = OVS_LIST_INITIALIZER(&done);
    struct cats_grpc_event *old;
    bool room;

    ovs_mutex_lock(&s->queue_mutex);
    ovs_list_push_back(&s->queue, &ev->list_node);
    if (!s->queue_len++) {
        s->wake_main = true;
    }
    if (s->wake_main && s->queue_len >= WAKE_BATCH) {
        wake_main(s);
    }
    room = s->queue_len < s->opts.queue_limit;
    if (!ovs_list_is_empty(&s->done)) {
        ovs_list_splice(&done, s->done.next, &s->done);
    }
    ovs_mutex_unlock(&s->queue_mutex);

    LIST_FOR_EACH_POP (old, list_node, &done) {
        cats_grpc_event_destroy(old);
    }

    ovs_mutex_lock(&s->stats_mutex);
    s->stats.events++;
    if (s->queue_len > s->stats.queue_high) {
        s->stats.queue_high = s->queue_len;
    }
    ovs_mutex_unlock(&s->stats_mutex);
    return room;
}

static bool
queue_full(struct cats_grpc_server *s)
{
    bool full;

    ovs_mutex_lock(&s->queue_mutex);
    full = s->queue_len >= s->opts.queue_limit;
    ovs_mutex_unlock(&s->queue_mutex);
    return full;
}

/* Holds stream 'c' until the queue drains (the main loop restarts it). */
static void
park(struct cats_grpc_call *c)
{
    struct cats_grpc_server *s = c->server;

    ovs_refcount_ref(&c->ref);
    ovs_mutex_lock(&s->queue_mutex);
    ovs_list_push_back(&s->parked, &c->parked_node);
    ovs_mutex_unlock(&s->queue_mutex);
    ovs_mutex_lock(&s->stats_mutex);
    s->stats.parked++;
    ovs_mutex_unlock(&s->stats_mutex);
}

size_t
cats_grpc_server_recv(struct cats_grpc_server *s, struct ovs_list *events,
                      size_t max)
{
    struct ovs_list unparked = OVS_LIST_INITIALIZER(&unparked);
    struct cats_grpc_call *c;
    size_t n = 0;

    latch_poll(&s->latch);
    ovs_mutex_lock(&s->queue_mutex);
    while (n < max && !ovs_list_is_empty(&s->queue)) {
        ovs_list_push_back(events, ovs_list_pop_front(&s->queue));
        n++;
    }
    s->queue_len -= n;
    if (s->queue_len <= s->opts.queue_limit / 2) {
        ovs_list_splice(&unparked, s->parked.next, &s->parked);
    }
    ovs_mutex_unlock(&s->queue_mutex);

    LIST_FOR_EACH_POP (c, parked_node, &unparked) {
        start_recv(c);
        call_unref(c);
    }
    return n;
}

void
cats_grpc_server_done(struct cats_grpc_server *s, struct ovs_list *events)
{
    if (!ovs_list_is_empty(events)) {
        ovs_mutex_lock(&s->queue_mutex);
        ovs_list_splice(&s->done, events->next, events);
        ovs_mutex_unlock(&s->queue_mutex);
    }
}

void
cats_grpc_server_wait(struct cats_grpc_server *s)
{
    bool pending;

    ovs_mutex_lock(&s->queue_mutex);
    pending = s->queue_len > 0;
    ovs_mutex_unlock(&s->queue_mutex);
    if (pending) {
        poll_immediate_wake();
    } else {
        latch_wait(&s->latch);
    }
    if (cats_timer_wheel_count(&s->deferred)) {
        /* poll_timer_wait_until() counts in time_msec(), another clock. */
        poll_timer_wait(MAX(0, s->next_flush - now_ms()));
    }
}

void
cats_grpc_event_destroy(struct cats_grpc_event *ev)
{
    if (ev) {
        switch (ev->type) {
        case CATS_GRPC_EV_REGISTER:
            cats_report_registration_destroy(&ev->reg);
            break;
        case CATS_GRPC_EV_REPORT:
            cats_report_load_destroy(&ev->load);
            break;
        case CATS_GRPC_EV_TELEMETRY:
            cats_report_telemetry_destroy(&ev->telemetry);
            break;
        case CATS_GRPC_EV_LIST_SERVICES:
        case CATS_GRPC_EV_END:
            break;
        }
        call_unref(ev->call);
        free(ev);
    }
}

/* Sending. */

static grpc_status_code
to_grpc_code(int error)
{
    return (grpc_status_code) cats_report_grpc_status(error);
}

static void
unary_finish(struct cats_grpc_call *c, int error, const char *message,
             const void *reply, size_t len)
{
    grpc_op ops[3];
    size_t n = 0;

    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (!error) {
        c->send_bb = byte_buffer_from(reply, len);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->send_bb;
    }
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_string(message ? message
                                                      : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = to_grpc_code(error);
    ops[n++].data.send_status_from_server.status_details
        = message ? &c->status_details : NULL;
    batch(c, ops, n, T_UNARY);
}

void
cats_grpc_reply_register(struct cats_grpc_call *c, int error,
                         const char *message, uint64_t session,
                         uint32_t lease_ms, uint32_t report_interval_ms)
{
    uint64_t stub[8];
    struct ofpbuf out;

    ovs_assert(c->m == M_REGISTER);
    ofpbuf_use_stub(&out, stub, sizeof stub);
    if (!error) {
        cats_report_encode_register_reply(session, lease_ms,
                                          report_interval_ms, &out);
    }
    unary_finish(c, error, message, out.data, out.size);
    ofpbuf_uninit(&out);
}

void
cats_grpc_reply_query(struct cats_grpc_call *c, int error,
                      const char *message, const struct ofpbuf *reply)
{
    ovs_assert(c->m == M_LIST);
    unary_finish(c, error, message, reply ? reply->data : NULL,
                 reply ? reply->size : 0);
}

/* How long until a stream's next plain ack: the ack interval plus up to a
 * quarter of it, at random.  Streams that started together (agents after
 * a controller restart, a burst of registrations) would otherwise come due
 * together on every interval, and their acks, about 20 us each on the main
 * loop, arrive as one burst that holds up the reports behind it (measured:
 * 10,000 streams, stalls of 30-75 ms once a second).  The jitter spreads
 * them within a few intervals.  It is added, not taken off: the interval
 * is the least time between two plain acks, as its name says, and a
 * stream is acked every 1.125 intervals on average (0.875 when the
 * jitter was taken off: 22% more acks, each a write). */
static long long int
ack_period(const struct cats_grpc_server *s)
{
    long long int interval = s->opts.ack_interval_ms;

    return interval + (interval > 3 ? random_range(interval / 4 + 1) : 0);
}

/* Sends the pending ack.  Caller holds c->mutex; nothing is being sent. */
static void
send_ack_locked(struct cats_grpc_call *c)
    OVS_REQUIRES(c->mutex)
{
    uint64_t stub[32];
    struct ofpbuf out;
    grpc_op op;

    ofpbuf_use_stub(&out, stub, sizeof stub);
    if (c->m == M_TELEMETRY) {
        cats_report_encode_telemetry_ack(&c->pending, &out);
    } else {
        cats_report_encode_ack(&c->pending, &out);
    }
    free(CONST_CAST(char *, c->pending.error_message));
    c->pending.error_message = NULL;
    c->pending.error = 0;
    c->pending.error_seq = 0;
    c->ack_pending = false;

    if (c->send_bb) {
        grpc_byte_buffer_destroy(c->send_bb);
    }
    c->send_bb = byte_buffer_from(out.data, out.size);
    ofpbuf_uninit(&out);

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = c->send_bb;
    c->send_busy = batch(c, &op, 1, T_SEND);
    c->next_ack_ms = now_ms() + ack_period(c->server);

    ovs_mutex_lock(&c->server->stats_mutex);
    c->server->stats.acks++;
    ovs_mutex_unlock(&c->server->stats_mutex);
}

static void
send_status_locked(struct cats_grpc_call *c)
    OVS_REQUIRES(c->mutex)
{
    grpc_op op;

    c->status = STATUS_SENT;
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_slice_from_copied_string(
        c->final_message ? c->final_message : "");
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op.data.send_status_from_server.status = c->final_code;
    op.data.send_status_from_server.status_details = &c->status_details;
    batch(c, &op, 1, T_STATUS);
}

/* True if the pending ack should leave now: it carries an error, or the
 * ack interval since the previous one has passed. */
static bool
ack_due_locked(const struct cats_grpc_call *c, long long int now)
    OVS_REQUIRES(c->mutex)
{
    return (c->pending.error
            || now >= c->next_ack_ms);
}

/* Main thread: (re)inserts deferred stream 'c' to be looked at 'due'.
 * A timing wheel, not a heap: at 10,000 streams the heap's O(log n)
 * cache misses per insert and removal were 3% of the controller's CPU
 * (perf: float_down). */
static void
defer(struct cats_grpc_call *c, long long int due)
{
    struct cats_grpc_server *s = c->server;

    cats_timer_wheel_insert(&s->deferred, &c->deferred_node, due);
    s->next_flush = MIN(s->next_flush, due);
}

/* Merges 'ack' into the pending one and sends it if nothing is in flight
 * and it is due.  'from_main': called by the main thread, which then
 * keeps a stream whose ack waits in its deferred list. */
static void
ack(struct cats_grpc_call *c, const struct cats_report_ack *a,
    bool from_main)
{
    long long int due = 0;
    bool held = false;

    if (flag_get(&c->over)) {
        return;
    }
    ovs_mutex_lock(&c->mutex);
    if (c->status == STATUS_NONE) {
        struct cats_report_ack *p = &c->pending;

        p->seq = MAX(p->seq, a->seq);
        p->lease_ms = a->lease_ms;
        p->report_interval_ms = a->report_interval_ms;
        if (a->error) {
            free(CONST_CAST(char *, p->error_message));
            p->error = a->error;
            p->error_message = nullable_xstrdup(a->error_message);
            p->error_seq = a->error_seq;
        }
        c->ack_pending = true;
        if (!c->send_busy && ack_due_locked(c, now_ms())) {
            send_ack_locked(c);
        } else {
            held = true;
            due = c->next_ack_ms;
        }
    }
    ovs_mutex_unlock(&c->mutex);

    if (held && from_main && !c->deferred) {
        c->deferred = true;
        ovs_refcount_ref(&c->ref);
        defer(c, due);
    }
}

unsigned int
cats_grpc_server_get_ack_batch(const struct cats_grpc_server *s)
{
    return s->acks_per_run;
}

int
cats_grpc_server_set_ack_batch(struct cats_grpc_server *s, unsigned int n)
{
    if (n < 1 || n > CATS_GRPC_ACK_BATCH_MAX) {
        return EINVAL;
    }
    s->acks_per_run = n;
    return 0;
}

void
cats_grpc_ack(struct cats_grpc_call *c, const struct cats_report_ack *a)
{
    ovs_assert(c->m == M_REPORTS || c->m == M_TELEMETRY);
    ack(c, a, true);
}

void
cats_grpc_server_run(struct cats_grpc_server *s)
{
    long long int now = now_ms();
    struct cats_grpc_call *c;

    if (now < s->next_flush) {
        return;
    }
    /* Only the streams that are due: the others stay in the wheel, so a
     * flush costs O(due), not a walk over every stream.  One put back is
     * due after 'now', so this flush does not see it again. */
    struct ovs_list due_list = OVS_LIST_INITIALIZER(&due_list);
    struct cats_timer_node *node;
    size_t n_sent = 0, n_carried = 0;

    cats_timer_wheel_expire(&s->deferred, now, &due_list);
    LIST_FOR_EACH_POP (node, list_node, &due_list) {
        long long int due = 0;

        c = CONTAINER_OF(node, struct cats_grpc_call, deferred_node);
        if (n_sent >= s->acks_per_run) {
            /* Due already: back in the wheel, for the next iteration. */
            defer(c, now);
            n_carried++;
            continue;
        }
        ovs_mutex_lock(&c->mutex);
        if (c->ack_pending && c->status == STATUS_NONE
            && !flag_get(&c->over)) {
            if (c->send_busy) {
                /* A send in flight: its completion does not send held
                 * acks, so look again soon. */
                due = now + 1;
            } else if (!ack_due_locked(c, now)) {
                due = c->next_ack_ms;
            } else {
                send_ack_locked(c);
                n_sent++;
            }
        }
        ovs_mutex_unlock(&c->mutex);
        if (due) {
            defer(c, due);
        } else {
            c->deferred = false;
            call_unref(c);
        }
    }
    s->next_flush = cats_timer_wheel_next(&s->deferred);
    if (n_carried) {
        ovs_mutex_lock(&s->stats_mutex);
        s->stats.acks_carried += n_carried;
        ovs_mutex_unlock(&s->stats_mutex);
    }
}

static void
end(struct cats_grpc_call *c, int error, const char *message)
{
    ovs_mutex_lock(&c->mutex);
    if (c->status == STATUS_NONE) {
        c->final_code = to_grpc_code(error);
        c->final_message = nullable_xstrdup(message);
        if (c->send_busy || c->ack_pending) {
            c->status = STATUS_DEFERRED;
            if (!c->send_busy) {
                send_ack_locked(c);
            }
        } else {
            send_status_locked(c);
        }
    }
    ovs_mutex_unlock(&c->mutex);
}

void
cats_grpc_end(struct cats_grpc_call *c, int error, const char *message)
{
    ovs_assert(c->m == M_REPORTS || c->m == M_TELEMETRY);
    end(c, error, message);
}

/* Completion-queue thread. */

static void
start_recv(struct cats_grpc_call *c)
{
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    batch(c, &op, 1, T_RECV);
}

/* Token bucket: 'max_stream_rate' per second, bursts as large. */
static bool
rate_ok(struct cats_grpc_call *c, long long int now_ns)
{
    double rate = c->server->opts.max_stream_rate;

    c->tokens = MIN(rate, c->tokens + (now_ns - c->tokens_ns) * 1e-9 * rate);
    c->tokens_ns = now_ns;
    if (c->tokens >= 1.0) {
        c->tokens -= 1.0;
        return true;
    }
    return false;
}

/* A unary request: decode, authorize, queue or refuse. */
static void
handle_unary(struct cats_grpc_call *c, const uint8_t *buf, size_t len,
             long long int now_ns)
{
    struct cats_grpc_server *s = c->server;
    struct cats_grpc_policy *p = get_policy(s);
    enum cats_grpc_reason reason = CATS_GRPC_R_DECODE;
    struct cats_grpc_event *ev;
    char *error_msg = NULL;
    int error = 0;

    ev = event_create(c, c->m == M_REGISTER ? CATS_GRPC_EV_REGISTER
                      : CATS_GRPC_EV_LIST_SERVICES, now_ns);
    if (queue_full(s)) {
        error = EBUSY;
        error_msg = xstrdup("controller busy: too many messages waiting, "
                            "retry later");
        reason = CATS_GRPC_R_BUSY;
    } else if (c->m == M_REGISTER) {
        if (!len) {
            /* protobuf-c decodes 0 bytes as a valid empty message. */
            error = EINVAL;
            error_msg = xstrdup("empty RegisterRequest");
        } else {
            error = cats_report_decode_registration(buf, len, &p->decode,
                                                    &ev->reg, &error_msg);
        }
        if (!error) {
            const struct cats_report_policy *prefixes;

            prefixes = authorize(s, p, c, ev->reg.node_id, &error_msg);
            if (!prefixes) {
                error = EPERM;
                reason = CATS_GRPC_R_AUTH;
            }
            for (size_t i = 0; !error && i < ev->reg.n_instances; i++) {
                error = check_prefixes(prefixes, &ev->reg.instances[i].key,
                                       i, ev->reg.node_id, &error_msg);
                reason = CATS_GRPC_R_AUTH;
            }
        }
    } else {
        error = cats_report_decode_list_services(buf, len, &p->decode,
                                                 ev->service, &error_msg);
    }
    policy_unref(p);

    if (error) {
        count_refusal(s, reason, error, error_msg, c);
        unary_finish(c, error, error_msg, NULL, 0);
        free(error_msg);
        cats_grpc_event_destroy(ev);
    } else {
        enqueue(s, ev);
    }
}

/* A stream message.  Returns true to receive the next one. */
static bool
handle_stream_message(struct cats_grpc_call *c, const uint8_t *buf,
                      size_t len, long long int now_ns)
{
    struct cats_grpc_server *s = c->server;
    enum cats_grpc_reason reason = CATS_GRPC_R_DECODE;
    struct cats_grpc_event *ev;
    struct cats_grpc_policy *p;
    char *error_msg = NULL;
    const char *node;
    uint64_t seq = 0;
    int error = 0;
    bool fatal = false;

    if (!rate_ok(c, now_ns)) {
        struct cats_report_ack a = {
            .error = EBUSY,
            .error_message = "more reports per second than the stream "
                             "rate limit; report refused",
        };
        count_refusal(s, CATS_GRPC_R_RATE, EBUSY, a.error_message, c);
        ack(c, &a, false);
        return true;
    }

    p = get_policy(s);
    if (c->m == M_REPORTS) {
        ev = event_create(c, CATS_GRPC_EV_REPORT, now_ns);
        error = cats_report_decode_load(buf, len, &p->decode, &ev->load,
                                        &error_msg);
        node = ev->load.node_id;
        seq = ev->load.seq;
    } else {
        ev = event_create(c, CATS_GRPC_EV_TELEMETRY, now_ns);
        error = cats_report_decode_telemetry(buf, len, &p->decode,
                                             &ev->telemetry, &error_msg);
        node = ev->telemetry.source_id;
        seq = ev->telemetry.seq;
    }
    if (error == EBADMSG || error == EMSGSIZE) {
        fatal = true;           /* Not a client of this protocol. */
    } else if (!error) {
        if (c->node_id[0] && strcmp(c->node_id, node)) {
            error_msg = xasprintf("this stream belongs to '%s', not '%s'",
                                  c->node_id, node);
            error = EPERM;
            fatal = true;
            reason = CATS_GRPC_R_AUTH;
        } else {
            const struct cats_report_policy *prefixes;

            prefixes = authorize(s, p, c, node, &error_msg);
            if (!prefixes) {
                error = EPERM;
                fatal = true;
                reason = CATS_GRPC_R_AUTH;
            } else if (c->m == M_REPORTS) {
                for (size_t i = 0; !error && i < ev->load.n_instances; i++) {
                    error = check_prefixes(prefixes,
                                           &ev->load.instances[i].key, i,
                                           node, &error_msg);
                    reason = CATS_GRPC_R_AUTH;
                }
            }
            if (!error && !c->node_id[0]) {
                ovs_strlcpy(c->node_id, node, sizeof c->node_id);
            }
        }
    }
    policy_unref(p);

    if (!error) {
        if (enqueue(s, ev)) {
            return true;
        }
        park(c);                /* The queue is full: hold this stream. */
        return false;
    }

    count_refusal(s, reason, error, error_msg, c);
    cats_grpc_event_destroy(ev);
    if (fatal) {
        end(c, error, error_msg);
        free(error_msg);
        return false;
    }
    struct cats_report_ack a = {
        .error = error,
        .error_message = error_msg,
        .error_seq = seq,
    };
    ack(c, &a, false);
    free(error_msg);
    return true;
}

static void
on_new_call(struct cats_grpc_call *c, bool success)
{
    struct cats_grpc_server *s = c->server;
    grpc_op op;

    if (!success) {
        /* Shutdown: the request never matched a call. */
        call_unref(c);
        return;
    }
    c->bound = true;
    atomic_count_inc(&s->bound[c->cq_index]);
    if (c->cq_index) {
        atomic_count_inc(&s->spilled);
    }
    arm(s, c->m);

    ovs_mutex_lock(&s->stats_mutex);
    s->stats.calls++;
    s->stats.calls_active++;
    if (!methods[c->m].unary) {
        s->stats.streams_active++;
    }
    ovs_mutex_unlock(&s->stats_mutex);

    read_identity(c);

    /* Completes when the call is over for any reason: the place where the
     * call's own reference goes. */
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (!batch(c, &op, 1, T_CLOSE)) {
        call_unref(c);
        return;
    }

    if (methods[c->m].unary) {
        uint8_t stub[1024], *heap = NULL;
        const uint8_t *buf = NULL;
        size_t len = 0;

        if (c->payload) {
            buf = payload_bytes(c->payload, stub, sizeof stub, &len, &heap);
        }
        ovs_mutex_lock(&s->stats_mutex);
        s->stats.messages++;
        ovs_mutex_unlock(&s->stats_mutex);
        handle_unary(c, buf, len, cats_grpc_now_ns());
        if (c->payload) {
            grpc_byte_buffer_destroy(c->payload);
            c->payload = NULL;
        }
        free(heap);
    } else {
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_INITIAL_METADATA;
        batch(c, &op, 1, T_SINIT);
        start_recv(c);
    }
}

static void
on_recv(struct cats_grpc_call *c, bool success)
{
    struct cats_grpc_server *s = c->server;

    if (success && c->payload) {
        long long int now_ns = cats_grpc_now_ns();
        grpc_byte_buffer *bb = c->payload;  /* The next receive's slot. */
        uint8_t stub[1024], *heap;
        const uint8_t *buf;
        size_t len;

        c->payload = NULL;
        buf = payload_bytes(bb, stub, sizeof stub, &len, &heap);
        ovs_mutex_lock(&s->stats_mutex);
        s->stats.messages++;
        ovs_mutex_unlock(&s->stats_mutex);
        if (handle_stream_message(c, buf, len, now_ns)) {
            start_recv(c);
        }
        grpc_byte_buffer_destroy(bb);
        free(heap);
    } else if (success) {
        /* The client half-closed: end the stream once the main loop has
         * acknowledged what came before. */
        enqueue(s, event_create(c, CATS_GRPC_EV_END, cats_grpc_now_ns()));
    }
    /* !success: the call is broken or cancelled; T_CLOSE cleans up. */
}

static void
on_send_done(struct cats_grpc_call *c, bool success)
{
    ovs_mutex_lock(&c->mutex);
    c->send_busy = false;
    if (success && c->ack_pending
        && (c->status == STATUS_DEFERRED || c->pending.error)) {
        /* A final or error ack goes at once; a plain one waits for the
         * main loop's flush (the ack interval). */
        send_ack_locked(c);
    } else if (c->status == STATUS_DEFERRED) {
        send_status_locked(c);
    }
    ovs_mutex_unlock(&c->mutex);
}

static void
on_event(struct cats_grpc_server *s, const grpc_event *ev)
{
    struct tag *t = ev->tag;
    struct cats_grpc_call *c;

    if (t == &s->shutdown_tag) {
        atomic_store(&s->shutdown_done, true);
        return;
    }
    c = t->call;
    switch (t->kind) {
    case T_NEW:
        on_new_call(c, ev->success);
        break;
    case T_RECV:
        on_recv(c, ev->success);
        break;
    case T_SEND:
        on_send_done(c, ev->success);
        break;
    case T_CLOSE:
        atomic_store(&c->over, true);
        ovs_mutex_lock(&s->stats_mutex);
        s->stats.calls_active--;
        if (!methods[c->m].unary) {
            s->stats.streams_active--;
        }
        ovs_mutex_unlock(&s->stats_mutex);
        call_unref(c);          /* The call's own reference. */
        break;
    case T_UNARY:
    case T_SINIT:
    case T_STATUS:
    case N_TAGS:
        break;
    }
    call_unref(c);              /* The batch's (or T_NEW's) reference. */
}

/* Runs what 'cq' holds, without waiting.  Returns the number of
 * completions, or -1 once 'cq' is shut down and empty. */
static int
drain(struct cats_grpc_server *s, grpc_completion_queue *cq)
{
    int n = 0;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            on_event(s, &ev);
            n++;
        } else {
            return ev.type == GRPC_QUEUE_SHUTDOWN ? -1 : n;
        }
    }
}

/* Runs what the non-polling queues hold until each is shut down and
 * empty. */
static void
drain_call_cqs_to_shutdown(struct cats_grpc_server *s)
{
    for (int i = 1; i < N_CALL_CQS; i++) {
        while (drain(s, s->call_cqs[i]) >= 0) {
            continue;
        }
    }
}

/* The completion-queue thread.
 *
 * Why the calls are spread over several queues: a build of libgrpc
 * without NDEBUG (Debian's) checks every completion against a linear list
 * of the queue's outstanding operations, two per open stream; at 10,000
 * streams on one queue that scan was 40% of the controller's CPU (make
 * bench-agent, perf).  So a queue takes a bounded number of calls before
 * the next is used (pick_call_cq()).  The first is the polling queue
 * 's->cq' (new calls, shutdown), where gRPC does its I/O and the thread
 * waits; it takes CALL_CQ_FIRST calls.  The others are non-polling:
 * cheap to look at when empty, but nothing wakes their reader, so they
 * take only CALL_CQ_SPILL calls each: shorter scans (at 10,000 streams,
 * 64 per queue took 97-101k reports/s where 512 took 89-99k, alternating
 * runs of make bench-agent).  While any of them holds a call, the thread
 * waits on 's->cq' only a short while, CALL_CQ_WAIT_MIN_MS after
 * completions were found and longer (up to CALL_CQ_WAIT_MAX_MS) while none
 * come, then runs what they hold.  Below CALL_CQ_FIRST calls none does,
 * and the thread waits for as long as it takes: no cost when idle. */
static void *
cq_thread(void *s_)
{
    struct cats_grpc_server *s = s_;
    int wait_ms = CALL_CQ_WAIT_MIN_MS;
    gpr_timespec next_drain = gpr_inf_past(GPR_CLOCK_MONOTONIC);

    for (;;) {
        unsigned int bound = atomic_count_get(&s->spilled);
        gpr_timespec deadline = (bound ? next_drain
                                 : gpr_inf_future(GPR_CLOCK_MONOTONIC));
        grpc_event ev;

        if (s->wake_main) {
            /* Events wait unannounced: wake the main loop unless more
             * completions are ready now. */
            ev = grpc_completion_queue_next(
                s->cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type == GRPC_QUEUE_TIMEOUT) {
                wake_main(s);
                ev = grpc_completion_queue_next(s->cq, deadline, NULL);
            }
        } else {
            ev = grpc_completion_queue_next(s->cq, deadline, NULL);
        }
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        } else if (ev.type == GRPC_OP_COMPLETE) {
            on_event(s, &ev);
        }

        /* On schedule, not after every completion of 's->cq'. */
        gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
        if (!bound || gpr_time_cmp(now, next_drain) < 0) {
            continue;
        }
        int n = 0;
        for (int i = 1; i < N_CALL_CQS; i++) {
            if (atomic_count_get(&s->bound[i])) {
                n += MAX(drain(s, s->call_cqs[i]), 0);
            }
        }
        wake_main(s);
        wait_ms = n ? CALL_CQ_WAIT_MIN_MS : MIN(2 * wait_ms,
                                                CALL_CQ_WAIT_MAX_MS);
        next_drain = gpr_time_add(now, gpr_time_from_millis(wait_ms,
                                                            GPR_TIMESPAN));
    }

    /* cats_grpc_server_destroy() shut the calls' queues down first. */
    drain_call_cqs_to_shutdown(s);
    return NULL;
}

/* Start-up. */

static void
create_call_cqs(struct cats_grpc_server *s)
{
    grpc_completion_queue_attributes attr = {
        .version = GRPC_CQ_CURRENT_VERSION,
        .cq_completion_type = GRPC_CQ_NEXT,
        .cq_polling_type = GRPC_CQ_NON_POLLING,
    };
    const grpc_completion_queue_factory *f
        = grpc_completion_queue_factory_lookup(&attr);

    s->call_cqs[0] = s->cq;
    atomic_count_init(&s->bound[0], 0);
    atomic_count_init(&s->spilled, 0);
    for (int i = 1; i < N_CALL_CQS; i++) {
        s->call_cqs[i] = grpc_completion_queue_create(f, &attr, NULL);
        grpc_server_register_completion_queue(s->server, s->call_cqs[i],
                                              NULL);
        atomic_count_init(&s->bound[i], 0);
    }
}

static void
shutdown_call_cqs(struct cats_grpc_server *s)
{
    for (int i = 1; i < N_CALL_CQS; i++) {
        grpc_completion_queue_shutdown(s->call_cqs[i]);
    }
}

static void
destroy_call_cqs(struct cats_grpc_server *s)
{
    for (int i = 1; i < N_CALL_CQS; i++) {
        grpc_completion_queue_destroy(s->call_cqs[i]);
    }
}

static char *
read_pem(const char *what, const char *file, char **contents)
{
    size_t size;
    char *data;
    FILE *f;

    *contents = NULL;
    f = fopen(file, "r");
    if (!f) {
        return xasprintf("%s %s: %s", what, file, ovs_strerror(errno));
    }
    data = xmalloc(1024 * 1024 + 1);
    size = fread(data, 1, 1024 * 1024 + 1, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(data);
        return xasprintf("%s %s: %s", what, file, ovs_strerror(e));
    }
    fclose(f);
    if (size > 1024 * 1024) {
        free(data);
        return xasprintf("%s %s: larger than 1 MB", what, file);
    }
    data[size] = '\0';
    if (!strstr(data, "-----BEGIN ")) {
        free(data);
        return xasprintf("%s %s: not a PEM file", what, file);
    }
    *contents = data;
    return NULL;
}

/* Checks with OpenSSL what gRPC would only reject without a reason. */
static char *
check_tls_files(const char *cert_pem, const char *key_pem,
                const char *ca_pem, const struct cats_grpc_server_options *o)
{
    char *error = NULL;
    BIO *bio;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;

    bio = BIO_new_mem_buf(cert_pem, -1);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    bio = BIO_new_mem_buf(key_pem, -1);
    key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!cert) {
        error = xasprintf("TLS certificate %s: no X.509 certificate in it",
                          o->tls_cert);
    } else if (!key) {
        error = xasprintf("TLS key %s: no private key in it (or it is "
                          "encrypted)", o->tls_key);
    } else if (X509_check_private_key(cert, key) != 1) {
        error = xasprintf("TLS key %s does not match certificate %s",
                          o->tls_key, o->tls_cert);
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!error && ca_pem) {
        X509 *ca;

        bio = BIO_new_mem_buf(ca_pem, -1);
        ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!ca) {
            error = xasprintf("TLS CA %s: no X.509 certificate in it",
                              o->tls_ca);
        }
        X509_free(ca);
    }
    ERR_clear_error();
    return error;
}

/* True if 'listen' names a loopback address or a unix socket. */
static bool
is_local_address(const char *listen)
{
    return (!strncmp(listen, "unix:", 5)
            || !strncmp(listen, "127.", 4)
            || !strncmp(listen, "localhost:", 10)
            || !strncmp(listen, "[::1]:", 6));
}

static int
make_credentials(const struct cats_grpc_server_options *o,
                 grpc_server_credentials **credsp, bool *mutual,
                 char **errorp)
{
    char *cert = NULL, *key = NULL, *ca = NULL;
    char *error = NULL;

    *credsp = NULL;
    *mutual = false;
    if (!o->tls_cert && !o->tls_key) {
        if (o->tls_ca) {
            *errorp = xstrdup("a client CA (mutual TLS) needs a server "
                              "certificate and key too");
            return EINVAL;
        }
        if (!o->allow_insecure && !is_local_address(o->listen)) {
            *errorp = xasprintf("refusing to serve the agent API in "
                                "plaintext on %s: give a TLS certificate "
                                "and key, listen on loopback, or allow "
                                "plaintext explicitly", o->listen);
            return EPERM;
        }
        *credsp = grpc_insecure_server_credentials_create();
        return 0;
    }
    if (!o->tls_cert || !o->tls_key) {
        *errorp = xstrdup("TLS needs both a certificate and a key");
        return EINVAL;
    }
    error = read_pem("TLS certificate", o->tls_cert, &cert);
    if (!error) {
        error = read_pem("TLS key", o->tls_key, &key);
    }
    if (!error && o->tls_ca) {
        error = read_pem("TLS CA", o->tls_ca, &ca);
    }
    if (!error) {
        error = check_tls_files(cert, key, ca, o);
    }
    if (!error) {
        grpc_ssl_pem_key_cert_pair pair = { key, cert };

        *credsp = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            (ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
             : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE), NULL);
        *mutual = ca != NULL;
        if (!*credsp) {
            error = xstrdup("TLS credentials refused by gRPC");
        }
    }
    free(cert);
    if (key) {
        explicit_bzero(key, strlen(key));
    }
    free(key);
    free(ca);
    if (error) {
        *errorp = error;
        return EINVAL;
    }
    return 0;
}

/* Turns off Abseil's mutex deadlock detection, which libgrpc's mutexes
 * pay for on every lock in a build of Abseil without NDEBUG (Debian's):
 * each lock and unlock records the thread's held locks in a global graph.
 * That was 3.6% of the controller's CPU at 100,000 reports/s (perf:
 * GraphCycles::GetId and its callers).  The detector only reports; the
 * locking is the same without it.
 *
 * The function is C++ (absl::SetMutexDeadlockDetectionMode(
 * OnDeadlockCycle::kIgnore), kIgnore being 0), in an inline namespace that
 * depends on how Abseil was built, so it is looked up by its mangled names
 * at run time; if none is found, nothing changes but one log line. */
static void
absl_deadlock_detection_off(void)
{
    static const char *const names[] = {
        /* Debian 12's libabsl20220623. */
        "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
        /* Upstream's default for that release. */
        "_ZN4absl12lts_2022062329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
    };

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);

        if (sym) {
            void (*set_mode)(int);

            memcpy(&set_mode, &sym, sizeof set_mode);
            set_mode(0);
            VLOG_DBG("Abseil mutex deadlock detection off");
            return;
        }
    }
    VLOG_INFO("Abseil's mutex deadlock detection left on: its setter is "
              "not in this build of Abseil under a known name (it costs "
              "a few percent of CPU at high report rates, nothing else)");
}

int
cats_grpc_server_start(const struct cats_grpc_server_options *opts,
                       struct cats_grpc_policy *policy,
                       struct cats_grpc_server **sp, char **errorp)
{
    struct cats_grpc_server *s;
    grpc_server_credentials *creds;
    bool mutual;
    int error;

    *sp = NULL;
    *errorp = NULL;
    error = make_credentials(opts, &creds, &mutual, errorp);
    if (error) {
        policy_unref(policy);
        return error;
    }

    absl_deadlock_detection_off();
    grpc_init();
    s = xzalloc(sizeof *s);
    s->opts = *opts;
    s->opts.listen = xstrdup(opts->listen);
    if (!s->opts.queue_limit) {
        s->opts.queue_limit = CATS_GRPC_QUEUE_LIMIT;
    }
    if (s->opts.max_stream_rate <= 0) {
        s->opts.max_stream_rate = CATS_GRPC_MAX_STREAM_RATE;
    }
    s->policy = policy;
    ovs_mutex_init(&s->policy_mutex);
    ovs_mutex_init(&s->queue_mutex);
    ovs_mutex_init(&s->stats_mutex);
    ovs_list_init(&s->queue);
    ovs_list_init(&s->parked);
    ovs_list_init(&s->done);
    cats_timer_wheel_init(&s->deferred, DEFERRED_SLOTS, now_ms());
    s->next_flush = LLONG_MAX;
    s->acks_per_run = ACKS_PER_RUN;
    latch_init(&s->latch);
    atomic_count_init(&s->live_calls, 0);
    atomic_init(&s->shutting_down, false);
    atomic_init(&s->shutdown_done, false);
    s->stats.tls = creds && (opts->tls_cert != NULL);
    s->stats.mutual_tls = mutual;

    grpc_arg args[] = {
        {
            .type = GRPC_ARG_INTEGER,
            .key = CONST_CAST(char *, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH),
            .value.integer = MIN(opts->max_message, INT_MAX),
        },
    };
    grpc_channel_args chargs = { ARRAY_SIZE(args), args };
    s->server = grpc_server_create(&chargs, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    create_call_cqs(s);
    for (int m = 0; m < N_METHODS; m++) {
        s->registered[m] = grpc_server_register_method(
            s->server, methods[m].path, NULL,
            (methods[m].unary ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
             : GRPC_SRM_PAYLOAD_NONE), 0);
    }
    s->stats.port = grpc_server_add_http2_port(s->server, s->opts.listen,
                                               creds);
    grpc_server_credentials_release(creds);
    if (!s->stats.port) {
        *errorp = xasprintf("cannot listen on %s for the agent API (bad "
                            "address, or address in use)", s->opts.listen);
        /* Never started: destroy without the shutdown dance. */
        grpc_server_destroy(s->server);
        shutdown_call_cqs(s);
        drain_call_cqs_to_shutdown(s);
        grpc_completion_queue_shutdown(s->cq);
        while (grpc_completion_queue_next(s->cq,
                                          gpr_inf_future(GPR_CLOCK_REALTIME),
                                          NULL).type != GRPC_QUEUE_SHUTDOWN) {
            continue;
        }
        destroy_call_cqs(s);
        grpc_completion_queue_destroy(s->cq);
        latch_destroy(&s->latch);
        policy_unref(s->policy);
        free(CONST_CAST(char *, s->opts.listen));
        free(s);
        grpc_shutdown();
        return EADDRNOTAVAIL;
    }
    if (!strncmp(s->opts.listen, "unix:", 5)) {
        s->stats.port = 0;
    }
    grpc_server_start(s->server);
    for (int m = 0; m < N_METHODS; m++) {
        for (int i = 0; i < ARMED_PER_METHOD; i++) {
            arm(s, m);
        }
    }
    s->thread = ovs_thread_create("cats_grpc", cq_thread, s);
    VLOG_INFO("agent API listening on %s (%s)", s->opts.listen,
              s->stats.mutual_tls ? "mutual TLS"
              : s->stats.tls ? "TLS" : "plaintext");
    *sp = s;
    return 0;
}

void
cats_grpc_server_destroy(struct cats_grpc_server *s)
{
    struct ovs_list held = OVS_LIST_INITIALIZER(&held);
    struct cats_timer_node *node;
    struct cats_grpc_event *ev;
    struct cats_grpc_call *c;

    if (!s) {
        return;
    }
    atomic_store(&s->shutting_down, true);
    cats_timer_wheel_expire(&s->deferred, LLONG_MAX - 1, &held);
    LIST_FOR_EACH_POP (node, list_node, &held) {
        c = CONTAINER_OF(node, struct cats_grpc_call, deferred_node);
        c->deferred = false;
        call_unref(c);
    }
    cats_timer_wheel_destroy(&s->deferred);
    s->shutdown_tag.kind = N_TAGS;
    s->shutdown_tag.call = NULL;
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    grpc_server_cancel_all_calls(s->server);

    /* Release what the main loop and the parked list hold, until the
     * thread has seen every call end. */
    for (;;) {
        struct ovs_list events = OVS_LIST_INITIALIZER(&events);

        ovs_mutex_lock(&s->queue_mutex);
        ovs_list_splice(&events, s->queue.next, &s->queue);
        ovs_list_splice(&events, s->done.next, &s->done);
        s->queue_len = 0;
        struct ovs_list parked = OVS_LIST_INITIALIZER(&parked);
        ovs_list_splice(&parked, s->parked.next, &s->parked);
        ovs_mutex_unlock(&s->queue_mutex);

        LIST_FOR_EACH_POP (ev, list_node, &events) {
            cats_grpc_event_destroy(ev);
        }
        LIST_FOR_EACH_POP (c, parked_node, &parked) {
            call_unref(c);
        }
        if (flag_get(&s->shutdown_done)
            && !atomic_count_get(&s->live_calls)) {
            break;
        }
        xnanosleep(1000000);
    }

    grpc_server_destroy(s->server);
    shutdown_call_cqs(s);
    grpc_completion_queue_shutdown(s->cq);
    xpthread_join(s->thread, NULL);
    destroy_call_cqs(s);
    grpc_completion_queue_destroy(s->cq);
    grpc_shutdown();

    latch_destroy(&s->latch);
    policy_unref(s->policy);
    ovs_mutex_destroy(&s->policy_mutex);
    ovs_mutex_destroy(&s->queue_mutex);
    ovs_mutex_destroy(&s->stats_mutex);
    free(CONST_CAST(char *, s->opts.listen));
    free(s);
}
