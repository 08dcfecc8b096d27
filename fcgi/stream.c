/* stream.c -- held event streams, on the event loop.
 *
 *   open: join the realm's channel, read the buffer (events.lua, which also
 *         checks the session and marks the realm held by this stream)
 *   first read: 401 / 503, or the 200 head and the buffered events
 *   then: events as published; keepalives; the end on "D sid" or expiry
 *
 * A stream knows the id of the last event it wrote (last_id). Events reach
 * it two ways: published on the realm channel ("E sid id event data"), and
 * read from the realm's buffer by events.lua. A published event that comes
 * right after last_id is written at once; anything else (a gap, a message
 * before the first read finished, a reconnected subscriber) makes the
 * stream read the buffer from last_id ("sync"), so nothing is written twice
 * and nothing is skipped while it is still in the buffer.
 *
 * The delivered cursor (the realm's "acked", where the next stream of the
 * session starts) moves once written bytes have left the queue: ack.lua
 * after a punch or a read of the buffer. A heartbeat_ack costs no write of
 * ours: heartbeat.lua moves the cursor itself while the realm is held
 * (see sql/heartbeat.lua). The stream lets go of the realm when it ends.
 *
 * One stream per session: the first read of a newer stream of the session
 * takes the realm's hold and publishes "H sid <the old hold token>"; the
 * stream with that token ends at once (or, if its own first read is still
 * on its way, right after the 200 head, writing no event). A stream whose
 * subscription was not live yet learns it on its next read of the buffer
 * (STORE_DISPLACED; one follows when the subscription goes live). A
 * session then cannot fill a worker's --max-held slots with its streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis.h"
#include "bus.h"
#include "conn.h"
#include "contract.h"
#include "hex.h"
#include "keys.h"
#include "list.h"
#include "log.h"
#include "loop.h"
#include "respond.h"
#include "sse.h"
#include "status.h"
#include "stream.h"

#define RETRY_MS 1000
#define HOLD_HEX 16
#define STREAM_SNDBUF (32 * 1024)      /* the kernel makes it 64 KiB */

enum stream_end { END_RESPONSE, END_GONE };

struct stream {
    struct conn_owner owner;
    struct bus_listener bl;
    struct list_link link;             /* in the loop's list */
    struct loop *loop;
    struct conn *c;
    uint64_t expire_at;                /* check the session from then on */
    uint64_t last_write;               /* for keepalives */
    long long last_id;                 /* last event written, -1 before the first read */
    long long after;                   /* Last-Event-ID given, or -1 */
    long long ack_sent, ack_want;
    unsigned pending;                  /* Redis calls holding this stream */
    unsigned reading : 1, reread : 1, need_sync : 1, acking : 1;
    unsigned opened : 1, joining : 1, dead : 1, held : 1, displaced : 1;
    char hold[HOLD_HEX + 1];           /* this stream's token in the realm's hold */
    char ip[RR_IP_STRLEN];             /* the client's IP: the realm's stream_ip */
    char sid[RR_SESSION_HEX + 1];
    char name[];
};

struct stream_list {
    struct list all;
};

static void stream_sync(struct stream *s);

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

/* Let go of the realm (and record the last event written): one write per
 * stream, nobody waits for the reply. */
static void stream_let_go(struct stream *s)
{
    char key[KEY_MAX], idbuf[24];
    if (!s->held)
        return;
    s->held = 0;
    key_for(KEY_REALM, s->name, key, sizeof(key));
    snprintf(idbuf, sizeof(idbuf), "%lld", s->ack_sent > s->last_id ? s->ack_sent : s->last_id);
    const char *keys[1] = { key };
    const char *args[3] = { s->sid, conn_drained(s->c) ? idbuf : "", s->hold };
    aredis_script(loop_redis(s->loop), SCRIPT_ACK, 1, keys, 3, args, NULL, NULL);
}

/* Take the stream out of everything; freed when no Redis call holds it.
 * END_RESPONSE ends the HTTP response (the connection may serve the next
 * request); END_GONE: the connection is already closed. */
static void stream_kill(struct stream *s, enum stream_end how)
{
    if (s->dead)
        return;
    s->dead = 1;
    bus_leave(loop_bus(s->loop), &s->bl);
    list_remove(&loop_streams(s->loop)->all, &s->link);
    if (how == END_RESPONSE && conn_alive(s->c))
        stream_let_go(s);
    if (how == END_RESPONSE && conn_alive(s->c))
        conn_finish(s->c, NULL, 0);
    conn_unhold(s->c);
    log_msg(LOG_DEBUG, "stream_closed", "realm=%s session=%s", s->name, log_sid(s->sid));
    stream_release(s);
}

static void on_gone(struct conn_owner *o)
{
    struct stream *s = (struct stream *)((char *)o - offsetof(struct stream, owner));
    stream_kill(s, END_GONE);
}

/* ---- writing ---- */

static int stream_put(struct stream *s, const char *buf, size_t len)
{
    if (conn_write(s->c, buf, len) == CONN_ERROR) {
        stream_kill(s, END_GONE);      /* closed by the write: peer gone or too slow */
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

/* Move the delivered cursor to the last event written once its bytes have
 * all left the queue: a stream dropped with events still queued must leave
 * them to the next stream. */
static void stream_delivered(struct stream *s)
{
    if (conn_drained(s->c) && s->ack_want > s->ack_sent)
        stream_ack(s, s->ack_want);
}

static void on_drained(struct conn_owner *o)
{
    struct stream *s = (struct stream *)((char *)o - offsetof(struct stream, owner));
    stream_delivered(s);
}

/* Write one event unless already written; heartbeat_ack moves the expiry.
 * must_ack: the cursor has to follow (a punch, or anything read from the
 * buffer); a published heartbeat_ack only if an ack is on its way anyway.
 * 0, or -1 if the stream died. */
static int stream_event(struct stream *s, long long id, const char *name, const char *data,
                        int must_ack)
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
    int hb = strcmp(name, "heartbeat_ack") == 0;
    if (hb)
        s->expire_at = loop_now_ms() + (uint64_t)loop_config(s->loop)->session_ttl * 1000;
    if (must_ack || !hb || s->acking)
        s->ack_want = id;
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
        rc = stream_event(s, strtoll(id, NULL, 10), name, data, 1);
    free(rec);
    return rc;
}

/* The first read answered: the response head, or the refusal. 0 if open. */
static int stream_first(struct stream *s, const struct aresult *res)
{
    if (res->err || res->n < 1 || !res->items[0].is_int) {
        log_msg(LOG_WARN, "store_unavailable", "error=\"events read failed\"");
        respond_unavailable(s->c);
        stream_kill(s, END_GONE);
        return -1;
    }
    if (res->items[0].i != STORE_OK || res->n < 3) {
        respond_error(s->c, 401, "invalid_token", "invalid or expired session");
        stream_kill(s, END_GONE);
        return -1;
    }
    s->opened = 1;
    s->held = 1;
    respond_account(s->c, 200, NULL);
    if (stream_put(s, SSE_OPEN, strlen(SSE_OPEN)) != 0)
        return -1;
    log_msg(LOG_DEBUG, "stream_opened", "realm=%s session=%s", s->name, log_sid(s->sid));
    if (s->displaced) {                /* a newer stream took over meanwhile */
        stream_kill(s, END_RESPONSE);
        return -1;
    }
    return 0;
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
    if (!s->opened && stream_first(s, res) != 0)
        return;
    if (res->err || res->n < 1 || !res->items[0].is_int) {
        s->need_sync = 1;          /* Redis trouble: try again on a tick */
        return;
    }
    if (res->items[0].i == STORE_DISPLACED)
        log_msg(LOG_DEBUG, "stream_displaced", "realm=%s session=%s", s->name, log_sid(s->sid));
    if (res->items[0].i != STORE_OK || res->n < 3) {
        stream_kill(s, END_RESPONSE);  /* bad session, or a newer stream took over */
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
    char key[KEY_MAX], ev[KEY_MAX], ch[KEY_MAX], after[24] = "";
    if (s->reading) {
        s->reread = 1;
        return;
    }
    long long from = s->last_id >= 0 ? s->last_id : s->after;
    if (from >= 0)
        snprintf(after, sizeof(after), "%lld", from);
    key_for(KEY_REALM, s->name, key, sizeof(key));
    key_for(KEY_EVENTS, s->name, ev, sizeof(ev));
    key_for(KEY_CHANNEL, s->name, ch, sizeof(ch));
    const char *keys[2] = { key, ev };
    const char *args[6] = { s->sid, after, s->opened ? "" : s->hold, s->ip, ch,
                            s->opened ? s->hold : "" };
    s->need_sync = 0;
    if (aredis_script(loop_redis(s->loop), SCRIPT_EVENTS, 2, keys, 6, args, on_events, s) != 0) {
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
    /* Already subscribed when the stream joined: the first read, sent
     * after this, sees everything published before the messages start. */
    if (!s->joining)
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
        if (!s->opened)
            return;                /* the first read will find no session: 401 */
        s->held = 0;               /* the realm is gone: nothing to let go of */
        stream_kill(s, END_RESPONSE);
        return;
    }
    if (f[0].s[0] == 'H' && n == 3 && bus_field_is(&f[2], s->hold)) {
        log_msg(LOG_DEBUG, "stream_displaced", "realm=%s session=%s", s->name, log_sid(s->sid));
        s->displaced = 1;          /* a newer stream of the session holds the realm */
        if (s->opened)
            stream_kill(s, END_RESPONSE);
        return;
    }
    if (f[0].s[0] != 'E' || n != 5 || s->displaced)
        return;
    long long id = strtoll(f[2].s, NULL, 10);
    if (id <= s->last_id && s->last_id >= 0)
        return;
    if (s->reading || !s->opened || s->last_id < 0 || id != s->last_id + 1) {
        stream_sync(s);
        return;
    }
    char *name = strndup(f[3].s, f[3].len), *data = strndup(f[4].s, f[4].len);
    if (name != NULL && data != NULL && stream_event(s, id, name, data, 0) == 0)
        stream_delivered(s);
    free(name);
    free(data);
}

/* ---- open, tick, close ---- */

void stream_open(struct loop *l, struct conn *c, const char *name, const char *sid,
                 const char *ip, long long after)
{
    size_t nlen = strlen(name);
    struct stream *s = calloc(1, sizeof(*s) + nlen + 1);
    if (s == NULL || hex_random(s->hold, HOLD_HEX / 2) != 0) {
        log_msg(LOG_ERROR, "stream_open_failed", "realm=%s error=\"entropy or memory\"", name);
        free(s);
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    s->loop = l;
    s->c = c;
    s->owner.on_gone = on_gone;
    s->owner.on_drained = on_drained;
    memcpy(s->name, name, nlen + 1);
    memcpy(s->sid, sid, sizeof(s->sid));
    snprintf(s->ip, sizeof(s->ip), "%s", ip);
    s->after = after;
    s->last_id = -1;
    s->last_write = loop_now_ms();
    s->expire_at = UINT64_MAX;
    s->bl.on_active = on_active;
    s->bl.on_message = on_message;
    conn_hold(c, &s->owner);
    conn_bound_sndbuf(c, STREAM_SNDBUF);
    list_append(&loop_streams(l)->all, &s->link);
    s->joining = 1;
    int joined = bus_join(loop_bus(l), s->name, &s->bl);
    s->joining = 0;
    stream_sync(s);
    if (joined != 0 || !s->reading) {
        respond_unavailable(c);
        stream_kill(s, END_GONE);
    }
}

void stream_tick(struct loop *l, uint64_t now)
{
    struct stream_list *sl = loop_streams(l);
    uint64_t ka = (uint64_t)loop_config(l)->keepalive * 1000;
    for (struct list_link *e = list_first(&sl->all), *next; e != NULL; e = next) {
        struct stream *s = list_entry(e, struct stream, link);
        next = list_next(&sl->all, e);
        if (!s->opened)
            continue;
        if (s->need_sync || (now >= s->expire_at && !s->reading)) {
            if (now >= s->expire_at)
                s->expire_at = now + RETRY_MS;     /* until the read answers */
            stream_sync(s);
        }
        if (!s->dead && now - s->last_write >= ka)
            stream_put(s, SSE_KEEPALIVE, strlen(SSE_KEEPALIVE));
        if (!s->dead && s->ack_want > s->ack_sent)
            stream_delivered(s);
    }
}

void stream_close_all(struct loop *l)
{
    struct stream_list *sl = loop_streams(l);
    struct list_link *e;
    while ((e = list_first(&sl->all)) != NULL) {
        struct stream *s = list_entry(e, struct stream, link);
        if (s->opened) {
            stream_kill(s, END_RESPONSE);
        } else {
            /* Not answered yet: closed unanswered, the proxy hands the
             * request to the next worker (fastcgi_next_upstream). */
            struct conn *c = s->c;
            conn_ref(c);
            stream_kill(s, END_GONE);
            conn_close(c);
            conn_unref(c);
        }
    }
}
