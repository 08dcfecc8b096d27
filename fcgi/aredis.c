/* aredis.c -- asynchronous Redis connections on the event loop (loop thread only).
 *
 * The adapter: hiredis asks for read/write interest through five hooks
 * (addRead, delRead, addWrite, delWrite, cleanup); we keep the wanted mask
 * in a loop_io and give it to epoll. When epoll reports the socket, we call
 * redisAsyncHandleRead / redisAsyncHandleWrite.
 *
 * Life of a connection: IDLE (waiting to reconnect) -> CONNECTING (TCP or
 * unix connect in progress, then AUTH / SELECT / PING pipelined) -> READY
 * (the PING came back) -> IDLE again when hiredis reports a disconnect,
 * which it does after failing every pending callback with a NULL reply.
 * hiredis frees its context itself after the connect and disconnect
 * callbacks, so those only forget the pointer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "aredis.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sentinel.h"

#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 2000

enum conn_state { CONN_IDLE, CONN_CONNECTING, CONN_READY };

struct aredis {
    struct loop *loop;
    const struct redis_target *target;
    enum aredis_mode mode;
    struct aredis_hooks hooks;
    redisAsyncContext *ac;
    struct loop_io io;
    enum conn_state state;
    uint64_t retry_at;           /* when IDLE: next connect attempt */
    uint64_t retry_ms;           /* current back-off */
    unsigned pending;            /* calls sent and not yet answered */
    unsigned gen;                /* connection number: replies of older ones do not count */
    int want_write;              /* commands wait in hiredis's buffer (commands mode) */
    int drop_asked;              /* a fatal error reply: drop after this read */
    uint64_t last_attempt;       /* when the last connect started */
    int connected_before;        /* a later READY is a reconnect */
    uint64_t progress_at;        /* last reply, or the first call after a quiet spell */
    int logged_down;             /* "redis unreachable" said once per outage */
    struct sentinel *sentinel;   /* sentinel:// target: where to ask for the primary */
    char host[64];               /* sentinel:// target: the primary, as located */
    int port;
    int located;                 /* host:port is a fresh answer, not yet tried */
};

/* A call in flight: the owner's callback, and which connection sent it. */
struct call {
    struct aredis *a;
    aredis_fn *cb;
    void *priv;
    unsigned gen;                /* a->gen when sent */
    uint64_t sent_us;            /* for the round-trip gauge */
};

static void conn_schedule_retry(struct aredis *a);
static void conn_start(struct aredis *a);

static const char *mode_name(const struct aredis *a)
{
    static const char *const names[] = { "commands", "subscriber", "sentinel" };
    return names[a->mode];
}

/* Say once per outage that the server cannot be reached, and where. */
static void log_unreachable(struct aredis *a, const char *error)
{
    const struct redis_target *t = a->target;
    if (a->logged_down)
        return;
    a->logged_down = 1;
    if (a->sentinel == NULL && t->path != NULL)
        log_msg(LOG_WARN, "redis_unreachable", "mode=%s at=%s error=\"%s\"", mode_name(a), t->path, error);
    else
        log_msg(LOG_WARN, "redis_unreachable", "mode=%s at=%s:%d error=\"%s\"", mode_name(a),
                a->sentinel != NULL ? a->host : t->host, a->sentinel != NULL ? a->port : t->port, error);
}

/* ---- the adapter: five hooks onto loop_io ---- */

static void ev_update(struct aredis *a, uint32_t add, uint32_t del)
{
    uint32_t mask = (a->io.events & ~del) | add;
    if (mask != a->io.events)
        loop_io_set(a->loop, &a->io, mask);
}

static void ev_add_read(void *p) { ev_update(p, EPOLLIN, 0); }
static void ev_del_read(void *p) { ev_update(p, 0, EPOLLIN); }

/* A ready command connection writes at the end of the loop turn
 * (aredis_flush), so every call of the turn goes out in one write with no
 * epoll change; EPOLLOUT is asked for only when the socket is full. */
static void ev_add_write(void *p)
{
    struct aredis *a = p;
    if (a->mode == AREDIS_COMMANDS && a->state == CONN_READY)
        a->want_write = 1;
    else
        ev_update(a, EPOLLOUT, 0);
}

static void ev_del_write(void *p)
{
    struct aredis *a = p;
    a->want_write = 0;
    ev_update(a, 0, EPOLLOUT);
}

static void ev_cleanup(void *p)
{
    struct aredis *a = p;
    loop_io_set(a->loop, &a->io, 0);
    a->io.fd = -1;
    a->want_write = 0;
}

static void on_io(struct loop_io *io, uint32_t revents)
{
    struct aredis *a = (struct aredis *)((char *)io - offsetof(struct aredis, io));
    if (a->ac == NULL)
        return;
    if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
        redisAsyncHandleRead(a->ac);
    /* HandleRead may have freed the context (disconnect). */
    if (a->ac != NULL && (revents & EPOLLOUT))
        redisAsyncHandleWrite(a->ac);
    if (a->drop_asked)
        aredis_drop(a);
}

void aredis_flush(struct aredis *a)
{
    if (a == NULL || a->ac == NULL || !a->want_write)
        return;
    a->want_write = 0;
    redisAsyncHandleWrite(a->ac);
    if (a->ac != NULL && a->want_write)
        ev_update(a, EPOLLOUT, 0);     /* the socket is full: wait for it */
    if (a->drop_asked)
        aredis_drop(a);
}

static void adapter_attach(struct aredis *a)
{
    a->ac->ev.data = a;
    a->ac->ev.addRead = ev_add_read;
    a->ac->ev.delRead = ev_del_read;
    a->ac->ev.addWrite = ev_add_write;
    a->ac->ev.delWrite = ev_del_write;
    a->ac->ev.cleanup = ev_cleanup;
    a->io.fd = a->ac->c.fd;
    a->io.events = 0;
    a->io.on_io = on_io;
    a->want_write = 0;
    /* Writable means the non-blocking connect finished (or failed). */
    ev_update(a, EPOLLIN | EPOLLOUT, 0);
}

/* ---- results ---- */

static void result_from_reply(const redisReply *r, struct aresult *res,
                              struct aitem *one, struct aitem *many, size_t nmany)
{
    memset(res, 0, sizeof(*res));
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        res->err = 1;
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        one->is_int = r->type == REDIS_REPLY_INTEGER;
        one->i = r->integer;
        one->s = r->type == REDIS_REPLY_NIL || one->is_int ? NULL : r->str;
        one->len = one->s ? r->len : 0;
        res->n = 1;
        res->items = one;
        return;
    }
    size_t n = r->elements < nmany ? r->elements : nmany;
    for (size_t k = 0; k < n; k++) {
        const redisReply *e = r->element[k];
        many[k].is_int = e->type == REDIS_REPLY_INTEGER;
        many[k].i = e->integer;
        many[k].s = (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) ? e->str : NULL;
        many[k].len = many[k].s ? e->len : 0;
    }
    res->n = n;
    res->items = many;
}

/* ---- calls ---- */

/* Errors after which this connection is no use: a demoted primary
 * (READONLY), one still loading its data, a replica cut off from its
 * primary, or a Redis that lost our functions. Reconnecting (through DNS,
 * a virtual address or a moved socket path) finds the right one. */
static int is_fatal_error(const redisReply *r)
{
    static const char *const fatal[] = { "READONLY", "LOADING", "MASTERDOWN",
                                         "ERR Function not found", "NOSCRIPT" };
    if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return 0;
    for (size_t k = 0; k < sizeof(fatal) / sizeof(fatal[0]); k++)
        if (strncmp(r->str, fatal[k], strlen(fatal[k])) == 0)
            return 1;
    return 0;
}

static void call_done(redisAsyncContext *ac, void *reply, void *priv)
{
    struct call *c = priv;
    struct aredis *a = c->a;
    const redisReply *r = reply;
    (void)ac;

    if (c->gen == a->gen && a->pending > 0) {
        a->pending--;
        a->progress_at = loop_now_ms();
        if (r != NULL)
            metrics_redis_rtt(metrics_now_us() - c->sent_us);
    }
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        log_msg(LOG_WARN, "redis_error", "reply=\"%.*s\"", (int)r->len, r->str);
        if (is_fatal_error(r))
            a->drop_asked = 1;       /* after this read: hiredis is in a callback */
    }
    if (c->cb != NULL) {
        struct aresult res;
        struct aitem one, some[AREDIS_ITEMS_MAX], *many = some;
        size_t n = AREDIS_ITEMS_MAX;
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > n) {
            many = malloc(r->elements * sizeof(*many));
            n = many != NULL ? r->elements : 0;
            if (many == NULL) {
                log_msg(LOG_ERROR, "out_of_memory", "what=redis_reply elements=%zu", r->elements);
                r = NULL;        /* answered as a failure */
            }
        }
        result_from_reply(r, &res, &one, many, n);
        c->cb(c->priv, &res);
        if (many != some)
            free(many);
    }
    free(c);
}

static int call_send(struct aredis *a, int argc, const char **argv, const size_t *lens,
                     aredis_fn *cb, void *priv)
{
    /* Redis was away: a request tries it again now rather than wait for
     * the back-off (at most one attempt per RETRY_FIRST_MS). A Redis that
     * refuses fails the call at once; one that is back serves it after
     * the handshake. */
    if (a->state == CONN_IDLE && a->ac == NULL && a->mode == AREDIS_COMMANDS &&
        loop_now_ms() - a->last_attempt >= RETRY_FIRST_MS)
        conn_start(a);
    if (a->state == CONN_IDLE || a->ac == NULL)
        return -1;
    struct call *c = malloc(sizeof(*c));
    if (c == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=redis_call");
        return -1;
    }
    c->a = a;
    c->cb = cb;
    c->priv = priv;
    c->gen = a->gen;
    c->sent_us = metrics_now_us();
    if (redisAsyncCommandArgv(a->ac, call_done, c, argc, argv, lens) != REDIS_OK) {
        free(c);
        return -1;
    }
    if (a->pending++ == 0)
        a->progress_at = loop_now_ms();
    return 0;
}

int aredis_command(struct aredis *a, int argc, const char *const *argv,
                   aredis_fn *cb, void *priv)
{
    return call_send(a, argc, (const char **)argv, NULL, cb, priv);
}

int aredis_script(struct aredis *a, enum script_id id,
                  int nkeys, const char *const *keys,
                  int nargs, const char *const *args,
                  aredis_fn *cb, void *priv)
{
    const char *some[AREDIS_ARGS_MAX], **argv = some;
    char nk[16];
    int argc = 3 + nkeys + nargs;
    if (argc > AREDIS_ARGS_MAX && (argv = malloc((size_t)argc * sizeof(*argv))) == NULL)
        return -1;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "FCALL";
    argv[1] = scripts_get(id)->function;
    argv[2] = nk;
    for (int k = 0; k < nkeys; k++)
        argv[3 + k] = keys[k];
    for (int k = 0; k < nargs; k++)
        argv[3 + nkeys + k] = args[k];
    int rc = call_send(a, argc, argv, NULL, cb, priv);
    if (argv != some)
        free(argv);
    return rc;
}

/* ---- subscriber ---- */

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct aredis *a = priv;
    const redisReply *r = reply;
    (void)ac;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return;
    a->progress_at = loop_now_ms();
    const redisReply *p = r->element[2];
    a->hooks.on_push(a->hooks.priv, r->element[0]->str,
                     r->element[1]->str, r->element[1]->len,
                     p->type == REDIS_REPLY_STRING ? p->str : "",
                     p->type == REDIS_REPLY_STRING ? p->len : 0);
}

static int sub_command(struct aredis *a, const char *verb, const char *channel)
{
    const char *argv[2] = { verb, channel };
    if (a->state != CONN_READY || a->mode != AREDIS_SUBSCRIBER)
        return -1;
    return redisAsyncCommandArgv(a->ac, on_sub_reply, a, 2, argv, NULL) == REDIS_OK ? 0 : -1;
}

int aredis_subscribe(struct aredis *a, const char *channel)
{
    return sub_command(a, "SUBSCRIBE", channel);
}

int aredis_unsubscribe(struct aredis *a, const char *channel)
{
    return sub_command(a, "UNSUBSCRIBE", channel);
}

/* ---- connection life ---- */

static void conn_lost(struct aredis *a)
{
    int was_ready = a->state == CONN_READY;
    a->ac = NULL;
    a->pending = 0;
    conn_schedule_retry(a);
    if (was_ready && a->hooks.on_lost != NULL)
        a->hooks.on_lost(a->hooks.priv);
    else if (!was_ready && a->hooks.on_fail != NULL)
        a->hooks.on_fail(a->hooks.priv);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct aredis *a = ac->data;
    (void)status;
    if (a != NULL && a->ac == ac)
        conn_lost(a);
}

/* The type is hiredis's callback type: ac cannot be const. */
// cppcheck-suppress constParameter
static void on_handshake(redisAsyncContext *ac, void *reply, void *priv)
{
    struct aredis *a = priv;
    const redisReply *r = reply;
    if (ac != a->ac)
        return;              /* a connection already dropped */
    if (a->pending > 0)
        a->pending--;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        if (r != NULL) {
            log_msg(LOG_WARN, "redis_handshake_failed", "reply=\"%.*s\"", (int)r->len, r->str);
            a->drop_asked = 1;
        }
        return;
    }
    if (a->state != CONN_CONNECTING || a->drop_asked)
        return;              /* not the server we want: dropped after this read */
    a->state = CONN_READY;
    a->retry_ms = RETRY_FIRST_MS;
    if (a->connected_before)
        metrics_redis_reconnect();
    a->connected_before = 1;
    if (a->logged_down)
        log_msg(LOG_INFO, "redis_reconnected", "mode=%s", mode_name(a));
    a->logged_down = 0;
    if (a->hooks.on_ready != NULL)
        a->hooks.on_ready(a->hooks.priv);
}

static void handshake_send(struct aredis *a, int argc, const char **argv, const size_t *lens)
{
    if (redisAsyncCommandArgv(a->ac, on_handshake, a, argc, argv, lens) == REDIS_OK)
        a->pending++;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct aredis *a = ac->data;
    if (a == NULL || a->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        log_unreachable(a, ac->errstr);
        a->ac = NULL;
        a->state = CONN_IDLE;
        conn_schedule_retry(a);
        if (a->hooks.on_fail != NULL)
            a->hooks.on_fail(a->hooks.priv);
        return;
    }
    a->progress_at = loop_now_ms();
}

/* The type is hiredis's callback type: ac cannot be const. */
// cppcheck-suppress constParameter
static void on_role(redisAsyncContext *ac, void *reply, void *priv)
{
    struct aredis *a = priv;
    const redisReply *r = reply;
    if (ac != a->ac)
        return;
    if (a->pending > 0)
        a->pending--;
    if (r == NULL || (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                      r->element[0]->type == REDIS_REPLY_STRING &&
                      strcmp(r->element[0]->str, "master") == 0))
        return;
    log_msg(LOG_WARN, "redis_not_primary", "mode=%s host=%s port=%d", mode_name(a), a->host, a->port);
    a->drop_asked = 1;
}

/* AUTH, SELECT, our functions and a PING, queued in hiredis before the
 * connect completes: calls made meanwhile follow them in order. */
static void handshake_begin(struct aredis *a)
{
    if (a->target->password != NULL) {
        const char *argv[3] = { "AUTH", a->target->user ? a->target->user : a->target->password,
                                a->target->password };
        handshake_send(a, a->target->user ? 3 : 2, argv, NULL);
    }
    if (a->sentinel != NULL && redisAsyncCommand(a->ac, on_role, a, "ROLE") == REDIS_OK)
        a->pending++;        /* a server the Sentinels named must be the primary */
    if (a->target->db != 0 && a->mode == AREDIS_COMMANDS) {
        char db[16];
        snprintf(db, sizeof(db), "%d", a->target->db);
        const char *argv[2] = { "SELECT", db };
        handshake_send(a, 2, argv, NULL);
    }
    if (a->mode == AREDIS_COMMANDS) {
        /* Our functions, before any call: a Redis that lost its data (no
         * persistence) or was replaced gets them back here. */
        size_t len;
        const char *lib = scripts_library(&len);
        const char *argv[4] = { "FUNCTION", "LOAD", "REPLACE", lib };
        const size_t lens[4] = { 8, 4, 7, len };
        handshake_send(a, 4, argv, lens);
    }
    const char *ping[1] = { "PING" };
    handshake_send(a, 1, ping, NULL);
}

static void conn_start(struct aredis *a)
{
    const struct redis_target *t = a->target;
    a->last_attempt = loop_now_ms();
    if (a->sentinel != NULL && !a->located) {
        /* Ask where the primary is now; aredis_locate() connects. The
         * retry is a fallback in case no answer comes. */
        conn_schedule_retry(a);
        sentinel_want(a->sentinel);
        return;
    }
    a->located = 0;
    if (a->sentinel != NULL)
        a->ac = redisAsyncConnect(a->host, a->port);
    else
        a->ac = t->path != NULL ? redisAsyncConnectUnix(t->path)
                                : redisAsyncConnect(t->host, t->port);
    if (a->ac == NULL || a->ac->err) {
        log_unreachable(a, a->ac ? a->ac->errstr : "out of memory");
        if (a->ac != NULL)
            redisAsyncFree(a->ac);
        a->ac = NULL;
        conn_schedule_retry(a);
        if (a->hooks.on_fail != NULL)
            a->hooks.on_fail(a->hooks.priv);
        return;
    }
    a->ac->data = a;
    a->state = CONN_CONNECTING;
    a->pending = 0;
    a->gen++;
    a->drop_asked = 0;
    a->progress_at = loop_now_ms();
    adapter_attach(a);
    redisAsyncSetConnectCallback(a->ac, on_connect);
    redisAsyncSetDisconnectCallback(a->ac, on_disconnect);
    handshake_begin(a);
}

static void conn_schedule_retry(struct aredis *a)
{
    a->state = CONN_IDLE;
    a->retry_at = loop_now_ms() + a->retry_ms;
    a->retry_ms = a->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : a->retry_ms * 2;
    loop_wake_at(a->loop, a->retry_at);
}

struct aredis *aredis_new(struct loop *l, const struct redis_target *t,
                          enum aredis_mode mode, const struct aredis_hooks *h)
{
    struct aredis *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->loop = l;
    a->target = t;
    a->mode = mode;
    a->hooks = *h;
    a->io.fd = -1;
    a->retry_ms = RETRY_FIRST_MS;
    if (t->master_name != NULL) {
        a->sentinel = loop_sentinel(l);
        if (a->sentinel == NULL || sentinel_attach(a->sentinel, a) != 0) {
            free(a);
            return NULL;
        }
    }
    conn_start(a);
    return a;
}

void aredis_drop(struct aredis *a)
{
    a->drop_asked = 0;
    if (a->ac == NULL)
        return;
    log_msg(LOG_WARN, "redis_dropped", "mode=%s pending=%u", mode_name(a), a->pending);
    a->logged_down = 1;
    /* Fails every pending callback, then calls on_disconnect (if it had
     * connected) which forgets the context and schedules the retry. */
    redisAsyncContext *ac = a->ac;
    int connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    redisAsyncFree(ac);
    if (!connected || a->ac == ac)
        conn_lost(a);
}

void aredis_tick(struct aredis *a, uint64_t now)
{
    if (a->state == CONN_IDLE && a->ac == NULL && now >= a->retry_at) {
        conn_start(a);
        return;
    }
    if (a->state == CONN_CONNECTING && now - a->progress_at > AREDIS_CALL_TIMEOUT_MS) {
        aredis_drop(a);
        return;
    }
    if (a->state == CONN_READY && a->pending > 0 && now - a->progress_at > AREDIS_CALL_TIMEOUT_MS)
        aredis_drop(a);
}

int aredis_ready(const struct aredis *a)
{
    return a->state == CONN_READY;
}

void aredis_free(struct aredis *a)
{
    if (a == NULL)
        return;
    /* Pending callbacks get their error results now; no reconnect follows. */
    a->hooks.on_lost = NULL;
    a->hooks.on_fail = NULL;
    if (a->sentinel != NULL)
        sentinel_detach(a->sentinel, a);
    if (a->ac != NULL) {
        redisAsyncContext *ac = a->ac;
        int connected = (ac->c.flags & REDIS_CONNECTED) != 0;
        redisAsyncFree(ac);
        if (!connected)
            a->ac = NULL;
    }
    free(a);
}

void aredis_drop_soon(struct aredis *a)
{
    a->drop_asked = 1;
}

void aredis_retarget(struct aredis *a, const struct redis_target *t)
{
    a->target = t;
}

void aredis_locate(struct aredis *a, const char *host, int port)
{
    int same = a->port == port && strcmp(a->host, host) == 0;
    if (a->ac != NULL && same)
        return;                  /* connected, or connecting, there */
    snprintf(a->host, sizeof(a->host), "%s", host);
    a->port = port;
    a->located = 1;
    if (a->ac != NULL) {
        log_msg(LOG_INFO, "redis_primary_moved", "mode=%s host=%s port=%d", mode_name(a), host, port);
        aredis_drop(a);
    }
    if (a->ac == NULL) {
        a->retry_ms = RETRY_FIRST_MS;
        conn_start(a);
    }
}
