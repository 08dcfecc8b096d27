/* loop.c -- the event loop thread: parked requests, Redis replies, timers.
 *
 *   request threads (FCGX_Accept_r, answer short requests)
 *        |  loop_hand_stream / loop_hand_waiter: mutex-guarded queue + eventfd
 *        v
 *   +------------------------------- loop thread ---------------------------+
 *   | epoll over:                                                            |
 *   |   eventfd ............ take handed-over requests                       |
 *   |   parked sockets ..... peer gone (readable / RDHUP), EPOLLOUT flushes  |
 *   |   Redis commands ..... events/ack/connect_begin/connect_end replies    |
 *   |   Redis subscriber ... realm channels: E(vent), A(nswer), D(eregister) |
 *   | timers (epoll_wait timeout): connect deadlines (in arrival order),     |
 *   |   every second keepalives and session expiry, Redis reconnects         |
 *   +------------------------------------------------------------------------+
 *
 * Nothing here blocks: sockets are non-blocking, Redis is asynchronous.
 * An object freed during a turn (a stream whose session ended) may still
 * have an event later in the same epoll batch, so frees are deferred to the
 * end of the turn (loop_defer_free).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "aredis.h"
#include "bus.h"
#include "log.h"
#include "loop.h"
#include "stream.h"
#include "waiter.h"

#define TICK_MS 200
#define STREAM_TICK_MS 1000
#define BATCH 256

struct handoff {
    struct handoff *next;
    struct stream_start *stream;
    struct waiter_start *waiter;
};

struct deferred {
    void *p;
    void (*fn)(void *);
};

struct loop {
    const struct config *cfg;
    pthread_t thread;
    int epfd;
    struct loop_io wake;               /* eventfd */
    pthread_mutex_t mu;                /* guards queue and stopping */
    struct handoff *queue, *queue_tail;
    int stopping;
    struct aredis *cmd;
    struct bus *bus;
    struct stream_list *streams;
    struct waiter_list *waiters;
    uint64_t next_tick, next_stream_tick, wake_at;
    struct deferred *dead;
    size_t ndead, capdead;
};

uint64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
            fn(p);        /* no memory to defer: free now, as before */
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
struct aredis *loop_redis(const struct loop *l) { return l->cmd; }
struct bus *loop_bus(const struct loop *l) { return l->bus; }
struct stream_list *loop_streams(const struct loop *l) { return l->streams; }
struct waiter_list *loop_waiters(const struct loop *l) { return l->waiters; }

/* ---- hand-over from request threads ---- */

static int hand(struct loop *l, struct stream_start *s, struct waiter_start *w)
{
    uint64_t one = 1;
    struct handoff *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -1;
    h->stream = s;
    h->waiter = w;
    pthread_mutex_lock(&l->mu);
    if (l->stopping) {
        pthread_mutex_unlock(&l->mu);
        free(h);
        return -1;
    }
    if (l->queue_tail != NULL)
        l->queue_tail->next = h;
    else
        l->queue = h;
    l->queue_tail = h;
    pthread_mutex_unlock(&l->mu);
    if (write(l->wake.fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        log_msg(LOG_ERROR, "loop_wake_failed", "error=\"%s\"", strerror(errno));
    return 0;
}

int loop_hand_stream(struct loop *l, struct stream_start *s)
{
    return hand(l, s, NULL);
}

int loop_hand_waiter(struct loop *l, struct waiter_start *w)
{
    return hand(l, NULL, w);
}

/* Take the queue; returns whether the loop is asked to stop. */
static int take_queue(struct loop *l, struct handoff **out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->queue;
    l->queue = l->queue_tail = NULL;
    int stopping = l->stopping;
    pthread_mutex_unlock(&l->mu);
    return stopping;
}

static void on_wake(struct loop_io *io, uint32_t revents)
{
    uint64_t n;
    (void)revents;
    if (read(io->fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        log_msg(LOG_ERROR, "loop_wake_read_failed", "error=\"%s\"", strerror(errno));
}

static void open_handed(struct loop *l, struct handoff *h)
{
    while (h != NULL) {
        struct handoff *next = h->next;
        if (h->stream != NULL)
            stream_open(l, h->stream);
        else
            waiter_open(l, h->waiter);
        free(h);
        h = next;
    }
}

/* ---- the loop ---- */

static void run_timers(struct loop *l, uint64_t now)
{
    if (now >= l->next_tick) {
        l->next_tick = now + TICK_MS;
        aredis_tick(l->cmd, now);
        bus_tick(l->bus, now);
    }
    if (now >= l->next_stream_tick) {
        l->next_stream_tick = now + STREAM_TICK_MS;
        stream_tick(l, now);
    }
    l->wake_at = waiter_tick(l, now);
    loop_wake_at(l, l->next_tick);
}

static int turn(struct loop *l)
{
    struct epoll_event evs[BATCH];
    struct handoff *h;
    uint64_t now = loop_now_ms();
    int timeout = l->wake_at <= now ? 0 : (int)(l->wake_at - now > TICK_MS ? TICK_MS : l->wake_at - now);
    int n = epoll_wait(l->epfd, evs, BATCH, timeout);
    if (n < 0 && errno != EINTR) {
        log_msg(LOG_ERROR, "epoll_wait_failed", "error=\"%s\"", strerror(errno));
        return -1;
    }
    for (int k = 0; k < n; k++) {
        struct loop_io *io = evs[k].data.ptr;
        io->on_io(io, evs[k].events);
    }
    int stopping = take_queue(l, &h);
    open_handed(l, h);
    run_timers(l, loop_now_ms());
    free_deferred(l);
    return stopping ? -1 : 0;
}

static void shut_down(struct loop *l)
{
    stream_close_all(l);
    waiter_close_all(l);
    bus_free(l->bus);
    aredis_free(l->cmd);
    l->bus = NULL;
    l->cmd = NULL;
    free_deferred(l);
}

static void *loop_main(void *arg)
{
    struct loop *l = arg;
    while (turn(l) == 0)
        ;
    shut_down(l);
    return NULL;
}

static void on_cmd_ready(void *priv)
{
    (void)priv;
}

static int loop_init(struct loop *l, const struct config *cfg)
{
    struct aredis_hooks h = { on_cmd_ready, NULL, NULL, l };
    l->cfg = cfg;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wake.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    l->wake.on_io = on_wake;
    l->wake_at = UINT64_MAX;
    pthread_mutex_init(&l->mu, NULL);
    if (l->epfd < 0 || l->wake.fd < 0 || loop_io_set(l, &l->wake, EPOLLIN) != 0)
        return -1;
    l->streams = stream_list_new();
    l->waiters = waiter_list_new();
    l->cmd = aredis_new(l, &cfg->redis, AREDIS_COMMANDS, &h);
    if (l->streams == NULL || l->waiters == NULL || l->cmd == NULL)
        return -1;
    l->bus = bus_new(l, &cfg->redis, l->cmd);
    return l->bus == NULL ? -1 : 0;
}

static void loop_free(struct loop *l)
{
    struct handoff *h;
    take_queue(l, &h);
    while (h != NULL) {
        struct handoff *next = h->next;
        if (h->stream != NULL) {
            close(h->stream->fd);
            free(h->stream);
        } else {
            close(h->waiter->fd);
            waiter_start_free(h->waiter);
        }
        free(h);
        h = next;
    }
    bus_free(l->bus);
    aredis_free(l->cmd);
    free_deferred(l);
    stream_list_free(l->streams);
    waiter_list_free(l->waiters);
    free(l->dead);
    if (l->wake.fd >= 0)
        close(l->wake.fd);
    if (l->epfd >= 0)
        close(l->epfd);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

struct loop *loop_start(const struct config *cfg, char *err, size_t errlen)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->epfd = l->wake.fd = -1;
    if (loop_init(l, cfg) != 0) {
        snprintf(err, errlen, "cannot set up the event loop: %s", strerror(errno));
        loop_free(l);
        return NULL;
    }
    int rc = pthread_create(&l->thread, NULL, loop_main, l);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the event loop thread: %s", strerror(rc));
        loop_free(l);
        return NULL;
    }
    return l;
}

void loop_stop(struct loop *l)
{
    uint64_t one = 1;
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    pthread_mutex_unlock(&l->mu);
    if (write(l->wake.fd, &one, sizeof(one)) < 0)
        log_msg(LOG_ERROR, "loop_wake_failed", "error=\"%s\"", strerror(errno));
    pthread_join(l->thread, NULL);
    loop_free(l);
}
