/* relay_feed.c -- the relay's Redis side (see relay_feed.h): a thread of
 * its own holds the subscriber and command connections, parses records
 * and adds counters; the relay's loop only takes the parsed records off a
 * queue. Blocking Redis calls happen on the feed thread only, so a Redis
 * that hangs never holds up a relayed datagram. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "redis_sync.h"
#include "relay_feed.h"
#include "relay_record.h"

#define FEED_CHANNEL "hr:relay"
#define FEED_HASH "hr:relay:att"
#define FEED_METRICS "hr:metrics"
#define FEED_TIMEOUT_MS 1000
#define FEED_BACKOFF_MIN_MS 100
#define FEED_BACKOFF_MAX_MS 2000
#define FEED_FLUSH_MS 1000             /* counters added to Redis this often */
#define FEED_SCAN_COUNT "512"
#define FEED_QUEUE_MAX 65536           /* records waiting for the loop */
#define FEED_FIELDS_MAX 64             /* distinct counter names */
#define FEED_FIELD_LEN 96

/* A parsed record on its way to the loop. */
struct feed_item {
    struct feed_item *next;
    struct relay_spec spec;
};

/* Counts not yet in Redis, by series name. */
struct feed_counts {
    size_t n;
    char names[FEED_FIELDS_MAX][FEED_FIELD_LEN];
    long long values[FEED_FIELDS_MAX];
};

struct relay_feed {
    const struct redis_target *target;
    int epfd;
    int wake_loop;                     /* eventfd: records queued (in the loop's epoll set) */
    int wake_feed;                     /* eventfd: stop */
    relay_feed_fn fn;
    void *ctx;
    pthread_t thread;
    int started;
    atomic_int stopping;

    pthread_mutex_t lock;              /* guards queue, queued, dropped, counts */
    struct feed_item *head, *tail;
    size_t queued;
    unsigned long dropped;
    struct feed_counts counts;

    /* the feed thread's own */
    redisContext *sub, *cmd;           /* both NULL while down */
    uint64_t next_try_ms, next_flush_ms;
    uint64_t backoff_ms;
    int outage_logged;                 /* redis_unreachable said for this outage */
    int ever_up;
};

static uint64_t feed_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the queue (feed thread -> loop) ---- */

/* Queue s for the loop and wake it; past FEED_QUEUE_MAX (or out of
 * memory), drop it and count it. */
static void feed_push(struct relay_feed *f, const struct relay_spec *s)
{
    struct feed_item *it = malloc(sizeof *it);
    uint64_t one = 1;

    pthread_mutex_lock(&f->lock);
    if (it == NULL || f->queued >= FEED_QUEUE_MAX) {
        f->dropped++;                  /* logged by the loop when it next takes the queue */
        pthread_mutex_unlock(&f->lock);
        free(it);
        if (write(f->wake_loop, &one, sizeof one) < 0 && errno != EAGAIN)
            log_msg(LOG_ERROR, "relay_wake_failed", "error=\"%s\"", strerror(errno));
        return;
    }
    it->spec = *s;
    it->next = NULL;
    if (f->tail != NULL)
        f->tail->next = it;
    else
        f->head = it;
    f->tail = it;
    f->queued++;
    pthread_mutex_unlock(&f->lock);
    if (write(f->wake_loop, &one, sizeof one) < 0 && errno != EAGAIN)
        log_msg(LOG_ERROR, "relay_wake_failed", "error=\"%s\"", strerror(errno));
}

void relay_feed_readable(struct relay_feed *f)
{
    uint64_t n;
    struct feed_item *it;

    if (read(f->wake_loop, &n, sizeof n) < 0 && errno != EAGAIN)
        log_msg(LOG_ERROR, "relay_wake_failed", "error=\"%s\"", strerror(errno));
    pthread_mutex_lock(&f->lock);
    it = f->head;
    f->head = f->tail = NULL;
    f->queued = 0;
    unsigned long dropped = f->dropped;
    f->dropped = 0;
    pthread_mutex_unlock(&f->lock);
    if (dropped > 0)
        log_msg(LOG_WARN, "relay_records_dropped", "count=%lu error=\"queue full or out of memory\"",
                dropped);
    while (it != NULL) {
        struct feed_item *next = it->next;
        f->fn(f->ctx, &it->spec);
        free(it);
        it = next;
    }
}

/* Parse the record r (a string reply) and queue it; bad ones are logged. */
static void feed_record(struct relay_feed *f, const redisReply *r)
{
    struct relay_spec s;
    char err[128];

    if (r->type != REDIS_REPLY_STRING) {
        log_msg(LOG_WARN, "relay_record_bad", "error=\"not a string\"");
        return;
    }
    if (relay_record_parse(r->str, r->len, &s, err, sizeof err) != 0) {
        log_msg(LOG_WARN, "relay_record_bad", "error=\"%s\"", err);
        return;
    }
    feed_push(f, &s);
}

/* ---- connections (feed thread) ---- */

/* Close both connections. */
static void feed_close(struct relay_feed *f)
{
    if (f->sub != NULL)
        redisFree(f->sub);
    if (f->cmd != NULL)
        redisFree(f->cmd);
    f->sub = f->cmd = NULL;
}

/* The connection is lost or could not be made (why): close, log once per
 * outage, retry after the backoff. */
static void feed_down(struct relay_feed *f, const char *why)
{
    int was_up = f->sub != NULL && f->cmd != NULL;
    char text[256];

    snprintf(text, sizeof text, "%s", why);            /* why may be in f->sub */
    feed_close(f);
    if (!f->outage_logged) {
        log_msg(LOG_WARN, "redis_unreachable", "error=\"%s\"", text);
        f->outage_logged = 1;
    }
    if (was_up)
        f->backoff_ms = FEED_BACKOFF_MIN_MS;
    f->next_try_ms = feed_now_ms() + f->backoff_ms;
    if (!was_up)
        f->backoff_ms = f->backoff_ms * 2 > FEED_BACKOFF_MAX_MS ? FEED_BACKOFF_MAX_MS
                                                               : f->backoff_ms * 2;
}

/* Queue every reply already read on the subscriber. 0, or -1 if the
 * stream is broken. */
static int feed_replies(struct relay_feed *f)
{
    void *v;

    for (;;) {
        if (redisGetReplyFromReader(f->sub, &v) != REDIS_OK)
            return -1;
        if (v == NULL)
            return 0;
        redisReply *r = v;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 3
            && r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "message") == 0)
            feed_record(f, r->element[2]);
        freeReplyObject(r);
    }
}

/* SUBSCRIBE on f->sub and wait for its confirmation. 0 or -1 (err). */
static int feed_subscribe(struct relay_feed *f, char *err, size_t errlen)
{
    void *v = NULL;
    int ok;

    if (redisAppendCommand(f->sub, "SUBSCRIBE %s", FEED_CHANNEL) != REDIS_OK
        || redisGetReply(f->sub, &v) != REDIS_OK) {
        snprintf(err, errlen, "SUBSCRIBE: %s", f->sub->errstr);
        return -1;
    }
    redisReply *r = v;
    ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3
         && r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "subscribe") == 0;
    if (!ok)
        snprintf(err, errlen, "SUBSCRIBE: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Read every record of the hash (HSCAN) on f->cmd. 0 or -1 (err). */
static int feed_scan(struct relay_feed *f, char *err, size_t errlen)
{
    char cursor[32] = "0";

    do {
        redisReply *r = redisCommand(f->cmd, "HSCAN %s %s COUNT %s", FEED_HASH, cursor,
                                     FEED_SCAN_COUNT);
        int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2
                 && r->element[0]->type == REDIS_REPLY_STRING
                 && r->element[1]->type == REDIS_REPLY_ARRAY && r->element[0]->len < sizeof cursor;
        if (!ok) {
            snprintf(err, errlen, "HSCAN: %s", r == NULL ? f->cmd->errstr
                     : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            if (r != NULL)
                freeReplyObject(r);
            return -1;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        for (size_t k = 1; k < r->element[1]->elements; k += 2)
            feed_record(f, r->element[1]->element[k]);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Connect both, subscribe, read the hash. 0 or -1 (err). */
static int feed_connect(struct relay_feed *f, char *err, size_t errlen)
{
    f->sub = redis_sync_connect(f->target, FEED_TIMEOUT_MS, err, errlen);
    if (f->sub == NULL || feed_subscribe(f, err, errlen) != 0)
        return -1;
    f->cmd = redis_sync_connect(f->target, FEED_TIMEOUT_MS, err, errlen);
    if (f->cmd == NULL || feed_scan(f, err, errlen) != 0)
        return -1;
    if (feed_replies(f) != 0) {                        /* what came with the confirmation */
        snprintf(err, errlen, "subscriber: %s", f->sub->errstr);
        return -1;
    }
    return 0;
}

/* Connect when down and the backoff has passed. */
static void feed_try(struct relay_feed *f)
{
    char err[256], where[256];

    if (f->sub != NULL || feed_now_ms() < f->next_try_ms)
        return;
    err[0] = '\0';
    if (feed_connect(f, err, sizeof err) != 0) {
        feed_close(f);
        feed_down(f, err);
        return;
    }
    redis_target_describe(f->target, where, sizeof where);
    log_msg(LOG_INFO, "redis_ready", "redis=%s%s", where, f->ever_up ? " reconnected=1" : "");
    f->ever_up = 1;
    f->outage_logged = 0;
    f->backoff_ms = FEED_BACKOFF_MIN_MS;
}

/* ---- counters ---- */

/* Add n counts to c (a name seen before adds up). */
static void counts_add(struct feed_counts *c, size_t n, const char *const *fields,
                       const long long *values)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = 0;
        while (i < c->n && strcmp(c->names[i], fields[k]) != 0)
            i++;
        if (i == c->n) {
            if (c->n == FEED_FIELDS_MAX || strlen(fields[k]) >= FEED_FIELD_LEN)
                continue;                              /* not one of the relay's series */
            snprintf(c->names[c->n++], FEED_FIELD_LEN, "%s", fields[k]);
            c->values[i] = 0;
        }
        c->values[i] += values[k];
    }
}

void relay_feed_incr(struct relay_feed *f, size_t n, const char *const *fields,
                     const long long *values)
{
    pthread_mutex_lock(&f->lock);
    counts_add(&f->counts, n, fields, values);
    pthread_mutex_unlock(&f->lock);
}

/* Read n replies on c; 0 if none is an error (the last, EXEC's, an array). */
static int feed_pipeline_ok(redisContext *c, size_t n)
{
    int ok = 1;

    for (size_t k = 0; k < n; k++) {
        void *v = NULL;
        if (redisGetReply(c, &v) != REDIS_OK)
            return -1;
        redisReply *r = v;
        if (r->type == REDIS_REPLY_ERROR || (k + 1 == n && r->type != REDIS_REPLY_ARRAY))
            ok = 0;
        freeReplyObject(r);
    }
    return ok ? 0 : -1;
}

/* HINCRBY the counts not yet in Redis, in one MULTI/EXEC; kept for the
 * next time if that fails. */
static void feed_flush(struct relay_feed *f)
{
    static struct feed_counts c;       /* the feed thread's only */
    int rc = 0;

    pthread_mutex_lock(&f->lock);
    c = f->counts;
    f->counts.n = 0;
    pthread_mutex_unlock(&f->lock);
    if (c.n == 0)
        return;
    rc |= redisAppendCommand(f->cmd, "MULTI");
    for (size_t k = 0; k < c.n; k++)
        rc |= redisAppendCommand(f->cmd, "HINCRBY %s %s %lld", FEED_METRICS, c.names[k], c.values[k]);
    rc |= redisAppendCommand(f->cmd, "EXEC");
    if (rc != REDIS_OK || feed_pipeline_ok(f->cmd, c.n + 2) != 0) {
        const char *names[FEED_FIELDS_MAX];
        for (size_t k = 0; k < c.n; k++)
            names[k] = c.names[k];
        pthread_mutex_lock(&f->lock);
        counts_add(&f->counts, c.n, names, c.values);
        pthread_mutex_unlock(&f->lock);
        feed_down(f, f->cmd->errstr[0] ? f->cmd->errstr : "HINCRBY failed");
    }
}

/* ---- the feed thread ---- */

/* Wait up to ms for the subscriber (when up) or a stop. 1 if the
 * subscriber is readable. */
static int feed_wait(struct relay_feed *f, int ms)
{
    struct pollfd p[2] = { { .fd = f->wake_feed, .events = POLLIN },
                           { .fd = f->sub != NULL ? f->sub->fd : -1, .events = POLLIN } };

    if (poll(p, 2, ms) <= 0)
        return 0;
    return (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

static void *feed_main(void *arg)
{
    struct relay_feed *f = arg;

    f->next_flush_ms = feed_now_ms() + FEED_FLUSH_MS;
    while (!atomic_load(&f->stopping)) {
        feed_try(f);
        uint64_t now = feed_now_ms(), until = f->sub != NULL ? f->next_flush_ms : f->next_try_ms;
        if (until > f->next_flush_ms)
            until = f->next_flush_ms;
        if (feed_wait(f, until > now ? (int)(until - now) : 0) && f->sub != NULL
            && (redisBufferRead(f->sub) != REDIS_OK || feed_replies(f) != 0))
            feed_down(f, f->sub->errstr[0] ? f->sub->errstr : "subscriber stream broken");
        if (feed_now_ms() >= f->next_flush_ms) {
            if (f->cmd != NULL)
                feed_flush(f);
            f->next_flush_ms = feed_now_ms() + FEED_FLUSH_MS;
        }
    }
    if (f->cmd != NULL)
        feed_flush(f);                                 /* the last counts, at the stop */
    feed_close(f);
    return NULL;
}

struct relay_feed *relay_feed_new(const struct redis_target *target, int epfd, uint32_t tag,
                                  relay_feed_fn fn, void *ctx)
{
    struct relay_feed *f = calloc(1, sizeof *f);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

    if (f == NULL)
        return NULL;
    f->target = target;
    f->epfd = epfd;
    f->fn = fn;
    f->ctx = ctx;
    f->backoff_ms = FEED_BACKOFF_MIN_MS;
    f->wake_loop = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    f->wake_feed = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int rc = pthread_mutex_init(&f->lock, NULL);
    if (rc != 0) {
        if (f->wake_loop >= 0)
            close(f->wake_loop);
        if (f->wake_feed >= 0)
            close(f->wake_feed);
        free(f);
        errno = rc;
        return NULL;
    }
    if (f->wake_loop < 0 || f->wake_feed < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, f->wake_loop, &ev) != 0)
        rc = errno;
    else
        rc = pthread_create(&f->thread, NULL, feed_main, f);
    if (rc != 0) {
        relay_feed_free(f);
        errno = rc;
        return NULL;
    }
    f->started = 1;
    return f;
}

void relay_feed_free(struct relay_feed *f)
{
    uint64_t one = 1;

    if (f == NULL)
        return;
    if (f->started) {
        atomic_store(&f->stopping, 1);
        if (write(f->wake_feed, &one, sizeof one) < 0)
            log_msg(LOG_ERROR, "relay_wake_failed", "error=\"%s\"", strerror(errno));
        pthread_join(f->thread, NULL);
    }
    for (struct feed_item *it = f->head, *next; it != NULL; it = next) {
        next = it->next;
        free(it);
    }
    if (f->wake_loop >= 0) {
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, f->wake_loop, NULL);
        close(f->wake_loop);
    }
    if (f->wake_feed >= 0)
        close(f->wake_feed);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
