/* loop.c -- the worker's one event loop: sockets, Redis replies, timers, signals.
 *
 *   +------------------------------ one thread, one epoll set --------------------+
 *   | listening socket ... accept4 -> conn (paused while out of descriptors)      |
 *   | FastCGI conns ...... records read incrementally (fcgi_reader), requests     |
 *   |                      dispatched (handlers), replies written non-blocking    |
 *   |                      (keep-alive: the next request follows on the same conn)|
 *   | Redis commands ..... every request's FCALL pipelined on one connection      |
 *   | Redis subscriber ... realm channels: E(vent), A(nswer), D(eregister)        |
 *   | signalfd ........... SIGTERM / SIGINT: stop accepting, end requests, exit;  |
 *   |                      SIGHUP: read the token file again                      |
 *   | timers (epoll_wait timeout): connect deadlines, FastCGI read timeouts,      |
 *   |   Redis deadlines and reconnects, every second keepalives and expiry       |
 *   +-----------------------------------------------------------------------------+
 *
 * A short request (register, heartbeat, ...) is read, sent to Redis and
 * answered in the same few turns; an event stream or a waiting connect
 * stays on its connection as a few hundred bytes. Redis commands written
 * during a turn go out together before the loop sleeps again.
 *
 * An object freed during a turn (a stream whose session ended) may still
 * have an event later in the same epoll batch, so frees are deferred to the
 * end of the turn (loop_defer_free).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "aredis.h"
#include "sentinel.h"
#include "durable.h"
#include "bus.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "stream.h"
#include "waiter.h"

#define TICK_MS 200
#define STREAM_TICK_MS 1000
#define BATCH 256
#define STOP_GRACE_MS 3000
#define START_WAIT_MS 1000           /* at most, for Redis before accepting */

struct deferred {
    void *p;
    void (*fn)(void *);
};

struct loop {
    struct config *cfg;                /* the token changes on SIGHUP */
    const struct name_matcher *names;
    int epfd;
    struct loop_io sig;                /* signalfd */
    int stopping;
    uint64_t stop_deadline;
    struct sentinel *sentinel;         /* sentinel:// only */
    struct aredis *cmd;
    struct durable *durable;           /* --redis-wait only */
    struct bus *bus;
    struct listener *listener;
    struct conn_list *conns;
    struct stream_list *streams;
    struct waiter_list *waiters;
    uint64_t next_tick, next_stream_tick, wake_at;
    uint64_t accept_by;                /* start accepting then at the latest; 0: started */
    struct deferred *dead;
    size_t ndead, capdead;
};

static uint64_t now_cached;

static uint64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t loop_now_ms(void)
{
    return now_cached ? now_cached : clock_ms();
}

int loop_io_set(struct loop *l, struct loop_io *io, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = io };
    int op = io->events == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (io->fd < 0 || (io->events == 0 && events == 0))
        return io->fd < 0 ? -1 : 0;
    if (epoll_ctl(l->epfd, op, io->fd, &ev) != 0) {
        log_msg(LOG_ERROR, "epoll_ctl_failed", "fd=%d error=\"%s\"", io->fd, strerror(errno));
        return -1;
    }
    io->events = events;
    return 0;
}

void loop_defer_free(struct loop *l, void *p, void (*fn)(void *))
{
    if (l->ndead == l->capdead) {
        size_t cap = l->capdead ? l->capdead * 2 : 64;
        struct deferred *d = realloc(l->dead, cap * sizeof(*d));
        if (d == NULL) {
            /* No memory to defer: leak rather than free what an event of
             * this turn may still point at. Logged: it should never happen. */
            log_msg(LOG_ERROR, "out_of_memory", "what=deferred_free");
            return;
        }
        l->dead = d;
        l->capdead = cap;
    }
    l->dead[l->ndead].p = p;
    l->dead[l->ndead].fn = fn;
    l->ndead++;
}

static void free_deferred(struct loop *l)
{
    /* A free may defer another (a conn released by its stream). */
    for (size_t k = 0; k < l->ndead; k++)
        l->dead[k].fn(l->dead[k].p);
    l->ndead = 0;
}

void loop_wake_at(struct loop *l, uint64_t at)
{
    if (at < l->wake_at)
        l->wake_at = at;
}

const struct config *loop_config(const struct loop *l) { return l->cfg; }
const struct name_matcher *loop_names(const struct loop *l) { return l->names; }
struct aredis *loop_redis(const struct loop *l) { return l->cmd; }
struct sentinel *loop_sentinel(const struct loop *l) { return l->sentinel; }
struct durable *loop_durable(const struct loop *l) { return l->durable; }
struct bus *loop_bus(const struct loop *l) { return l->bus; }
struct stream_list *loop_streams(const struct loop *l) { return l->streams; }
struct waiter_list *loop_waiters(const struct loop *l) { return l->waiters; }
struct conn_list *loop_conns(const struct loop *l) { return l->conns; }
struct listener *loop_listener(const struct loop *l) { return l->listener; }
int loop_stopping(const struct loop *l) { return l->stopping; }

size_t loop_held(const struct loop *l)
{
    return stream_count(l->streams) + waiter_count(l->waiters);
}

/* ---- signals ---- */

static void begin_stop(struct loop *l, int sig)
{
    if (l->stopping)
        return;
    log_msg(LOG_INFO, "stopping", "signal=%d", sig);
    l->stopping = 1;
    l->stop_deadline = clock_ms() + STOP_GRACE_MS;
    listener_stop(l->listener);
    stream_close_all(l);
    waiter_stop_all(l);
    conn_close_idle(l);
}

/* SIGHUP: read the token file again; a bad file keeps the old token. */
static void reload_token(struct loop *l)
{
    char err[256], *token;
    if (l->cfg->token_file == NULL) {
        log_msg(LOG_INFO, "sighup_ignored", "reason=\"no --token-file\"");
        return;
    }
    if (config_read_token(l->cfg->token_file, &token, err, sizeof(err)) != 0) {
        log_msg(LOG_ERROR, "token_reload_failed", "error=\"%s\"", err);
        return;
    }
    int same = strcmp(token, l->cfg->token) == 0;
    explicit_bzero(l->cfg->token, strlen(l->cfg->token));
    free(l->cfg->token);
    l->cfg->token = token;
    log_msg(LOG_INFO, "token_reloaded", "changed=%s", same ? "no" : "yes");
}

static void on_signal(struct loop_io *io, uint32_t revents)
{
    struct loop *l = (struct loop *)((char *)io - offsetof(struct loop, sig));
    struct signalfd_siginfo si;
    (void)revents;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGHUP)
            reload_token(l);
        else
            begin_stop(l, (int)si.ssi_signo);
    }
}

/* ---- the loop ---- */

/* A starting worker accepts once its Redis connections are up (a worker
 * restarted in a rolling restart then answers its first requests), or
 * after START_WAIT_MS without them (then 503 at once, not a hang). */
static void maybe_start_accepting(struct loop *l, uint64_t now)
{
    if (l->accept_by == 0 || l->stopping)
        return;
    if ((aredis_ready(l->cmd) && bus_ready(l->bus)) || now >= l->accept_by) {
        l->accept_by = 0;
        if (listener_start(l->listener) != 0)
            log_msg(LOG_ERROR, "listen_failed", "error=\"cannot watch the listening socket\"");
    } else {
        loop_wake_at(l, now + 20);
    }
}

static void run_timers(struct loop *l, uint64_t now)
{
    maybe_start_accepting(l, now);
    if (now >= l->next_tick) {
        l->next_tick = now + TICK_MS;
        if (l->sentinel != NULL)
            sentinel_tick(l->sentinel, now);
        aredis_tick(l->cmd, now);
        if (l->durable != NULL)
            durable_tick(l->durable, now);
        bus_tick(l->bus, now);
        conn_tick(l, now);
        listener_tick(l->listener, now);
    }
    if (now >= l->next_stream_tick) {
        l->next_stream_tick = now + STREAM_TICK_MS;
        stream_tick(l, now);
        metrics_tick(l);
    }
    l->wake_at = waiter_tick(l, now);
    loop_wake_at(l, l->next_tick);
}

static int turn(struct loop *l)
{
    struct epoll_event evs[BATCH];
    uint64_t now = clock_ms();
    int timeout = l->wake_at <= now ? 0 : (int)(l->wake_at - now > TICK_MS ? TICK_MS : l->wake_at - now);
    now_cached = 0;
    int n = epoll_wait(l->epfd, evs, BATCH, timeout);
    if (n < 0 && errno != EINTR) {
        log_msg(LOG_ERROR, "epoll_wait_failed", "error=\"%s\"", strerror(errno));
        return -1;
    }
    now_cached = clock_ms();
    for (int k = 0; k < n; k++) {
        struct loop_io *io = evs[k].data.ptr;
        io->on_io(io, evs[k].events);
    }
    run_timers(l, now_cached);
    free_deferred(l);
    /* Everything this turn asked of Redis goes out in one write. */
    aredis_flush(l->cmd);
    durable_flush(l->durable);
    now_cached = 0;
    return 0;
}

/* Done stopping: nothing held, and the short requests answered (or the
 * grace time is over). */
static int stopped(const struct loop *l)
{
    return l->stopping && (conn_count(l->conns) == 0 || clock_ms() >= l->stop_deadline);
}

int loop_run(struct loop *l)
{
    while (!stopped(l))
        if (turn(l) != 0)
            return -1;
    return 0;
}

static int loop_init(struct loop *l, int listen_fd, int listen_shared)
{
    sigset_t sigs;
    struct aredis_hooks h = { NULL, NULL, NULL, l, NULL };
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    l->wake_at = UINT64_MAX;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->sig.fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    l->sig.on_io = on_signal;
    if (l->epfd < 0 || l->sig.fd < 0 || loop_io_set(l, &l->sig, EPOLLIN) != 0)
        return -1;
    l->streams = stream_list_new();
    l->waiters = waiter_list_new();
    l->conns = conn_list_new();
    if (l->cfg->redis.master_name != NULL &&
        (l->sentinel = sentinel_new(l, &l->cfg->redis)) == NULL)
        return -1;
    l->cmd = aredis_new(l, &l->cfg->redis, AREDIS_COMMANDS, &h);
    if (l->streams == NULL || l->waiters == NULL || l->conns == NULL || l->cmd == NULL)
        return -1;
    if (l->cfg->redis_wait > 0 &&
        (l->durable = durable_new(l, &l->cfg->redis, l->cfg->redis_wait,
                                  l->cfg->redis_wait_timeout, l->cfg->redis_wait_strict)) == NULL)
        return -1;
    l->bus = bus_new(l, &l->cfg->redis, l->cmd);
    if (l->bus == NULL)
        return -1;
    l->listener = listener_new(l, listen_fd, listen_shared);
    l->accept_by = clock_ms() + START_WAIT_MS;
    return l->listener == NULL ? -1 : 0;
}

struct loop *loop_new(struct config *cfg, const struct name_matcher *names,
                      int listen_fd, int listen_shared, char *err, size_t errlen)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->cfg = cfg;
    l->names = names;
    l->epfd = l->sig.fd = -1;
    if (loop_init(l, listen_fd, listen_shared) != 0) {
        snprintf(err, errlen, "cannot set up the event loop: %s", strerror(errno));
        loop_free(l);
        return NULL;
    }
    return l;
}

void loop_free(struct loop *l)
{
    if (l == NULL)
        return;
    if (l->streams != NULL)
        stream_close_all(l);
    if (l->waiters != NULL)
        waiter_close_all(l);
    free_deferred(l);
    if (l->conns != NULL)
        conn_close_all(l);
    free_deferred(l);
    listener_free(l->listener);
    bus_free(l->bus);
    aredis_free(l->cmd);
    durable_free(l->durable);
    sentinel_free(l->sentinel);
    free_deferred(l);
    stream_list_free(l->streams);
    waiter_list_free(l->waiters);
    conn_list_free(l->conns);
    free(l->dead);
    if (l->sig.fd >= 0)
        close(l->sig.fd);
    if (l->epfd >= 0)
        close(l->epfd);
    free(l);
}
