/* stream.c -- parked event streams, loop thread only.
 *
 * A stream knows the id of the last event it wrote (last_id). Events reach
 * it two ways: published on the realm channel ("E sid id event data"), and
 * read from the realm's buffer by events.lua. A published event that comes
 * right after last_id is written at once; anything else (a gap, a message
 * before the first read finished, a reconnected subscriber) makes the
 * stream read the buffer from last_id ("sync"), so nothing is written twice
 * and nothing is skipped while it is still in the buffer. After writing, the
 * stream moves the session's delivered cursor (ack.lua), so the next stream
 * of the session starts after what this one wrote.
 *
 * The session's end: "D sid" on the channel (deregister), or the expiry
 * time running out, after which a sync finds the session gone. A
 * heartbeat_ack event pushes the expiry time back by the session TTL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis.h"
#include "bus.h"
#include "keys.h"
#include "log.h"
#include "list.h"
#include "loop.h"
#include "park.h"
#include "sse.h"
#include "status.h"
#include "stream.h"

#define RETRY_MS 1000

struct stream {
    struct park park;
    struct bus_listener bl;
    struct list_link link;             /* in the loop's list */
    struct loop *loop;
    uint64_t expire_at;                /* check the session from then on */
    uint64_t last_write;               /* for keepalives */
    long long last_id;                 /* last event written, -1 before the first read */
    long long after;                   /* Last-Event-ID given, or -1 */
    long long ack_sent, ack_want;
    unsigned pending;                  /* Redis calls holding this stream */
    unsigned reading : 1, reread : 1, need_sync : 1, acking : 1;
    unsigned ending : 1, dead : 1;
    char sid[RR_SESSION_HEX + 1];
    char name[];
};

/* park_new() puts the park first. */
_Static_assert(offsetof(struct stream, park) == 0, "park first");

struct stream_list {
    struct list all;
};

static void stream_sync(struct stream *s);
static void stream_end(struct stream *s);

struct stream_start *stream_start_new(const char *name)
{
    size_t len = strlen(name);
    struct stream_start *s = calloc(1, sizeof(*s) + len + 1);
    if (s != NULL)
        memcpy(s->name, name, len + 1);
    return s;
}

struct stream_list *stream_list_new(void)
{
    struct stream_list *sl = calloc(1, sizeof(*sl));
    if (sl != NULL)
        list_init(&sl->all);
    return sl;
}

void stream_list_free(struct stream_list *sl)
{
    free(sl);
}

size_t stream_count(const struct stream_list *sl)
{
    return sl->all.count;
}

/* ---- life ---- */

static void stream_release(struct stream *s)
{
    if (s->dead && s->pending == 0)
        loop_defer_free(s->loop, s, free);
}

/* Take the stream out of everything; freed when no Redis call holds it. */
static void stream_kill(struct stream *s)
{
    struct stream_list *sl = loop_streams(s->loop);
    if (s->dead)
        return;
    bus_leave(loop_bus(s->loop), &s->bl);
    park_close(&s->park, s->loop);
    list_remove(&sl->all, &s->link);
    s->dead = 1;
    log_msg(LOG_DEBUG, "stream_closed", "realm=%s session=%s", s->name, log_sid(s->sid));
    stream_release(s);
}

static void stream_end(struct stream *s)
{
    if (s->ending || s->dead)
        return;
    s->ending = 1;
    if (park_end(&s->park, s->loop) != PARK_AGAIN)
        stream_kill(s);
}

static void stream_delivered(struct stream *s);

static void on_io(struct loop_io *io, uint32_t revents)
{
    struct stream *s = (struct stream *)((char *)io - offsetof(struct stream, park));
    enum park_rc rc = park_on_io(&s->park, s->loop, revents);
    if (rc == PARK_ERROR || (s->ending && park_drained(&s->park)))
        stream_kill(s);
    else if (rc == PARK_OK)
        stream_delivered(s);
}

/* ---- writing ---- */

static int stream_put(struct stream *s, const char *buf, size_t len)
{
    if (park_write(&s->park, s->loop, buf, len) == PARK_ERROR) {
        stream_kill(s);
        return -1;
    }
    s->last_write = loop_now_ms();
    return 0;
}

static void on_ack(void *priv, const struct aresult *res);

static void stream_ack(struct stream *s, long long id)
{
    char key[KEY_MAX], idbuf[24];
    if (id > s->ack_want)
        s->ack_want = id;
    if (s->acking || s->ack_want <= s->ack_sent)
        return;
    key_for(KEY_REALM, s->name, key, sizeof(key));
    snprintf(idbuf, sizeof(idbuf), "%lld", s->ack_want);
    const char *keys[1] = { key };
    const char *args[2] = { s->sid, idbuf };
    if (aredis_script(loop_redis(s->loop), SCRIPT_ACK, 1, keys, 2, args, on_ack, s) != 0)
        return;     /* the cursor lags; the next write or tick tries again */
    s->acking = 1;
    s->ack_sent = s->ack_want;
    s->pending++;
}

static void on_ack(void *priv, const struct aresult *res)
{
    struct stream *s = priv;
    s->pending--;
    s->acking = 0;
    if (s->dead) {
        stream_release(s);
        return;
    }
    if (res->err)
        s->ack_sent = 0;        /* resend the cursor later */
    else
        stream_ack(s, s->ack_want);
}

/* Move the session's delivered cursor to the last event written, once its
 * bytes have all left the queue: a stream dropped with events still queued
 * must leave them to the next stream. */
static void stream_delivered(struct stream *s)
{
    if (park_drained(&s->park) && s->last_id > s->ack_sent)
        stream_ack(s, s->last_id);
}

/* Write one event unless already written; heartbeat_ack moves the expiry. */
static int stream_event(struct stream *s, long long id, const char *name, const char *data)
{
    char idbuf[24];
    size_t len;
    if (id <= s->last_id)
        return 0;
    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    char *ev = sse_event(idbuf, name, data, &len);
    if (ev == NULL)
        return 0;      /* malformed record: skip it, never write it */
    int rc = stream_put(s, ev, len);
    free(ev);
    if (rc != 0)
        return -1;
    s->last_id = id;
    if (strcmp(name, "heartbeat_ack") == 0)
        s->expire_at = loop_now_ms() + (uint64_t)loop_config(s->loop)->session_ttl * 1000;
    log_msg(LOG_DEBUG, "event_sent", "realm=%s event=%s id=%lld", s->name, name, id);
    return 0;
}

/* ---- reading the buffer ---- */

/* A stored record "id event data": write it. -1 if the stream died. */
static int stream_record(struct stream *s, const struct aitem *it)
{
    char *id, *name, *data;
    if (it->s == NULL)
        return 0;
    char *rec = strndup(it->s, it->len);
    if (rec == NULL)
        return 0;
    int rc = 0;
    if (sse_parse_record(rec, &id, &name, &data) == 0)
        rc = stream_event(s, strtoll(id, NULL, 10), name, data);
    free(rec);
    return rc;
}

static void on_events(void *priv, const struct aresult *res)
{
    struct stream *s = priv;
    s->pending--;
    s->reading = 0;
    if (s->dead) {
        stream_release(s);
        return;
    }
    if (res->err || res->n < 1 || !res->items[0].is_int) {
        s->need_sync = 1;          /* Redis trouble: try again on a tick */
        return;
    }
    if (res->items[0].i == STORE_BAD_SESSION || res->n < 3) {
        stream_end(s);
        return;
    }
    long long pttl = res->items[1].i;
    s->expire_at = loop_now_ms() + (pttl > 0 ? (uint64_t)pttl : 0);
    if (s->last_id < res->items[2].i)
        s->last_id = res->items[2].i;      /* the cursor the read started from */
    for (size_t k = 3; k < res->n; k++)
        if (stream_record(s, &res->items[k]) != 0)
            return;
    stream_delivered(s);
    if (s->reread) {
        s->reread = 0;
        stream_sync(s);
    }
}

static void stream_sync(struct stream *s)
{
    char key[KEY_MAX], ev[KEY_MAX], after[24] = "";
    if (s->reading) {
        s->reread = 1;
        return;
    }
    long long from = s->last_id >= 0 ? s->last_id : s->after;
    if (from >= 0)
        snprintf(after, sizeof(after), "%lld", from);
    key_for(KEY_REALM, s->name, key, sizeof(key));
    key_for(KEY_EVENTS, s->name, ev, sizeof(ev));
    const char *keys[2] = { key, ev };
    const char *args[2] = { s->sid, after };
    s->need_sync = 0;
    if (aredis_script(loop_redis(s->loop), SCRIPT_EVENTS, 2, keys, 2, args, on_events, s) != 0) {
        s->need_sync = 1;
        return;
    }
    s->reading = 1;
    s->pending++;
}

/* ---- the channel ---- */

static void on_active(struct bus_listener *l)
{
    struct stream *s = (struct stream *)((char *)l - offsetof(struct stream, bl));
    stream_sync(s);
}

static void on_message(struct bus_listener *l, const char *msg, size_t len)
{
    struct stream *s = (struct stream *)((char *)l - offsetof(struct stream, bl));
    struct bus_field f[5];
    int n = bus_split(msg, len, f, 5);
    if (n < 2 || f[0].len != 1 || !bus_field_is(&f[1], s->sid))
        return;
    if (f[0].s[0] == 'D') {
        stream_end(s);
        return;
    }
    if (f[0].s[0] != 'E' || n != 5)
        return;
    long long id = strtoll(f[2].s, NULL, 10);
    if (id <= s->last_id && s->last_id >= 0)
        return;
    if (s->reading || s->last_id < 0 || id != s->last_id + 1) {
        stream_sync(s);
        return;
    }
    char *name = strndup(f[3].s, f[3].len), *data = strndup(f[4].s, f[4].len);
    if (name != NULL && data != NULL && stream_event(s, id, name, data) == 0)
        stream_delivered(s);
    free(name);
    free(data);
}

/* ---- open, tick, close ---- */

void stream_open(struct loop *l, struct stream_start *st)
{
    size_t nlen = strlen(st->name);
    struct stream *s = park_new(l, sizeof(*s) + nlen + 1, st->fd, st->request_id, on_io);
    if (s == NULL) {
        log_msg(LOG_ERROR, "stream_open_failed", "realm=%s", st->name);
        free(st);
        return;
    }
    struct stream_list *sl = loop_streams(l);
    s->loop = l;
    memcpy(s->name, st->name, nlen + 1);
    memcpy(s->sid, st->sid, sizeof(s->sid));
    s->after = st->after;
    s->last_id = -1;
    s->expire_at = loop_now_ms() + (st->pttl_ms > 0 ? (uint64_t)st->pttl_ms : 0);
    s->bl.on_active = on_active;
    s->bl.on_message = on_message;
    list_append(&sl->all, &s->link);
    free(st);
    /* nginx holds a response head until body bytes follow it: a comment
     * gets the head to the peer now, which waits for it. */
    if (stream_put(s, SSE_HEAD, strlen(SSE_HEAD)) != 0 ||
        stream_put(s, SSE_KEEPALIVE, strlen(SSE_KEEPALIVE)) != 0)
        return;
    log_msg(LOG_DEBUG, "stream_opened", "realm=%s session=%s", s->name, log_sid(s->sid));
    if (bus_join(loop_bus(l), s->name, &s->bl) != 0)
        stream_kill(s);
}

void stream_tick(struct loop *l, uint64_t now)
{
    struct stream_list *sl = loop_streams(l);
    uint64_t ka = (uint64_t)loop_config(l)->keepalive * 1000;
    for (struct list_link *e = list_first(&sl->all), *next; e != NULL; e = next) {
        struct stream *s = list_entry(e, struct stream, link);
        next = list_next(&sl->all, e);
        if (s->ending)
            continue;
        if (s->need_sync || (now >= s->expire_at && !s->reading)) {
            if (now >= s->expire_at)
                s->expire_at = now + RETRY_MS;     /* until the read answers */
            stream_sync(s);
        }
        if (!s->dead && now - s->last_write >= ka)
            stream_put(s, SSE_KEEPALIVE, strlen(SSE_KEEPALIVE));
        if (!s->dead && s->ack_want > s->ack_sent)
            stream_ack(s, s->ack_want);
    }
}

void stream_close_all(struct loop *l)
{
    struct stream_list *sl = loop_streams(l);
    struct list_link *e;
    while ((e = list_first(&sl->all)) != NULL) {
        struct stream *s = list_entry(e, struct stream, link);
        if (!s->ending)
            park_end(&s->park, l);
        stream_kill(s);
    }
}
