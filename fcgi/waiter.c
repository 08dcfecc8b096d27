/* waiter.c -- held connects, on the event loop.
 *
 *   open: join the channel and send connect_begin at once --> BEGINNING
 *   BEGINNING --connect_begin ok--> WAITING
 *   BEGINNING/WAITING --subscription confirmed after the begin--> peek
 *   WAITING --"A nonce addrs"--> answered at once (200, holder's addresses)
 *   WAITING --deadline--> ENDING --connect_end--> 200 stored addresses / 404
 *   any state --"D sid"--> 404 realm_not_found at once
 *
 * An answer may be published before connect_begin's reply reaches us (the
 * two come over different connections), so "A" is taken in BEGINNING too.
 * Waiters are kept in the order they arrived; all wait the same time, so
 * that is also the order of their deadlines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis.h"
#include "body.h"
#include "bus.h"
#include "conn.h"
#include "hex.h"
#include "keys.h"
#include "log.h"
#include "list.h"
#include "loop.h"
#include "metrics.h"
#include "relays.h"
#include "respond.h"
#include "status.h"
#include "waiter.h"

#define ATTEMPT_MARGIN_MS 5000

enum waiter_state { W_BEGINNING, W_WAITING, W_ENDING, W_DONE };

struct waiter {
    struct conn_owner owner;
    struct conn *c;
    struct bus_listener bl;
    struct list_link link;             /* in the loop's list */
    struct loop *loop;
    uint64_t deadline;
    enum waiter_state state;
    unsigned pending;            /* Redis calls holding this waiter */
    int dead;
    int joining;                 /* inside bus_join */
    int stop_asked;              /* the worker stops: end as at the deadline */
    int outcome;                 /* enum metrics_counter M_OUT_*, -1 until known */
    uint64_t begin_us;           /* when the punch was sent, for connect_duration */
    int recorded;                /* connect_begin succeeded: clean up the attempt */
    char nonce[RR_NONCE_HEX + 1];
    char key[RR_NONCE_HEX + 1];
    char obfs[RR_OBFS_HEX + 1];
    char *punch;
    char *relay;                 /* the attempt's relay addresses (JSON items), or NULL */
    char *client;                /* with a relay: the client's addresses (JSON) */
    char ip[RR_IP_STRLEN];       /* with a relay: the client's IP */
    char name[];
};

struct waiter_list {
    struct list all;
};

struct waiter_list *waiter_list_new(void)
{
    struct waiter_list *wl = calloc(1, sizeof(*wl));
    if (wl != NULL)
        list_init(&wl->all);
    return wl;
}

void waiter_list_free(struct waiter_list *wl)
{
    free(wl);
}

size_t waiter_count(const struct waiter_list *wl)
{
    return wl->all.count;
}

/* ---- life ---- */

static void waiter_free(void *p)
{
    struct waiter *w = p;
    free(w->punch);
    free(w->client);
    free(w->relay);
    free(w);
}

static void waiter_release(struct waiter *w)
{
    if (w->dead && w->pending == 0)
        loop_defer_free(w->loop, w, waiter_free);
}

/* Free the attempt's slot in Redis; nobody waits for the reply. */
static void attempt_forget(struct waiter *w)
{
    char key[KEY_MAX], att[KEY_MAX], ans[KEY_MAX];
    if (!w->recorded)
        return;
    w->recorded = 0;
    key_for(KEY_REALM, w->name, key, sizeof(key));
    key_for(KEY_ATTEMPTS, w->name, att, sizeof(att));
    key_for(KEY_ANSWERS, w->name, ans, sizeof(ans));
    const char *keys[3] = { key, att, ans };
    const char *args[1] = { w->key };
    aredis_script(loop_redis(w->loop), SCRIPT_CONNECT_END, 3, keys, 1, args, NULL, NULL);
}

static void waiter_kill(struct waiter *w)
{
    struct waiter_list *wl = loop_waiters(w->loop);
    if (w->dead)
        return;
    attempt_forget(w);
    bus_leave(loop_bus(w->loop), &w->bl);
    list_remove(&wl->all, &w->link);
    conn_unhold(w->c);
    metrics_count(w->outcome >= 0 ? (enum metrics_counter)w->outcome : M_OUT_ERROR);
    w->dead = 1;
    w->state = W_DONE;
    waiter_release(w);
}

/* Answer the connect (the connection sends it and goes on by itself). */
static void waiter_reply(struct waiter *w, int status, char *body)
{
    if (body == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=connect_reply");
        respond_error(w->c, 503, "internal", "out of memory, try again");
    } else {
        respond(w->c, status, NULL, body);
    }
    waiter_kill(w);
    free(body);
}

static void waiter_error(struct waiter *w, int status, const char *code, const char *msg)
{
    if (strcmp(code, "realm_not_found") == 0)
        w->outcome = w->state == W_BEGINNING ? M_OUT_NO_REALM : M_OUT_CANCELED;
    else if (strcmp(code, "rate_limited") == 0)
        w->outcome = M_OUT_RATE_LIMITED;
    else
        w->outcome = M_OUT_ERROR;
    log_msg(LOG_DEBUG, "connect_failed", "realm=%s status=%d error=%s", w->name, status, code);
    waiter_reply(w, status, body_error(code, msg));
}

static void waiter_answer(struct waiter *w, const char *addrs, const char *how)
{
    log_msg(LOG_DEBUG, "connect_answered", "realm=%s from=%s", w->name, how);
    if (strcmp(how, "answer") == 0) {
        w->outcome = M_OUT_DELIVERED;
        metrics_connect_duration((double)(metrics_now_us() - w->begin_us) / 1e6);
    } else {
        w->outcome = M_OUT_TIMEOUT;
    }
    attempt_forget(w);
    char *with_relay = w->relay ? relays_append(addrs, w->relay) : NULL;
    waiter_reply(w, 200, body_connect_reply(with_relay ? with_relay : addrs, w->nonce, w->obfs));
    free(with_relay);
}

/* The client went away. */
static void on_gone(struct conn_owner *o)
{
    struct waiter *w = (struct waiter *)((char *)o - offsetof(struct waiter, owner));
    if (w->outcome < 0)
        w->outcome = M_OUT_CLIENT_GAVE_UP;
    waiter_kill(w);
}

/* ---- Redis calls ---- */

/* Common start of a reply callback: 1 if the waiter still wants it. */
static int waiter_takes(struct waiter *w, enum waiter_state expect)
{
    w->pending--;
    if (w->dead) {
        waiter_release(w);
        return 0;
    }
    return w->state == expect;
}

static void waiter_end(struct waiter *w, int peek);

static void on_begin(void *priv, const struct aresult *res)
{
    struct waiter *w = priv;
    int ok = !res->err && res->n >= 1 && res->items[0].is_int &&
             res->items[0].i == STORE_OK;
    if (w->dead && ok) {
        w->recorded = 1;          /* the client left meanwhile */
        attempt_forget(w);
    }
    if (!waiter_takes(w, W_BEGINNING)) {
        if (ok && !w->dead && w->state == W_DONE) {
            w->recorded = 1;      /* answered before the reply came */
            attempt_forget(w);
        }
        return;
    }
    if (ok) {
        w->recorded = 1;
        w->state = W_WAITING;
        if (w->stop_asked)
            waiter_end(w, 0);       /* the worker stops: answer as at the deadline */
    } else if (res->err || res->n < 1 || !res->items[0].is_int)
        waiter_error(w, 503, "store_unavailable", "the state store is unavailable");
    else if (res->items[0].i == STORE_NO_REALM)
        waiter_error(w, 404, "realm_not_found", "realm not registered");
    else
        waiter_error(w, 503, "rate_limited", "too many connect attempts in flight");
}

static void waiter_keys(const struct waiter *w, char key[KEY_MAX], char ev[KEY_MAX],
                        char att[KEY_MAX], char ans[KEY_MAX])
{
    key_for(KEY_REALM, w->name, key, KEY_MAX);
    key_for(KEY_EVENTS, w->name, ev, KEY_MAX);
    key_for(KEY_ATTEMPTS, w->name, att, KEY_MAX);
    key_for(KEY_ANSWERS, w->name, ans, KEY_MAX);
}

static void waiter_begin(struct waiter *w)
{
    char key[KEY_MAX], ev[KEY_MAX], att[KEY_MAX], ans[KEY_MAX], chan[KEY_MAX];
    char life[24], max[24], obfs[RR_OBFS_HEX + 1];
    const struct config *cfg = loop_config(w->loop);
    waiter_keys(w, key, ev, att, ans);
    key_for(KEY_CHANNEL, w->name, chan, sizeof(chan));
    snprintf(life, sizeof(life), "%ld", cfg->connect_wait * 1000 + ATTEMPT_MARGIN_MS);
    snprintf(max, sizeof(max), "%d", RR_ATTEMPTS_MAX);
    hex_lower(obfs, w->obfs, RR_OBFS_HEX);
    const char *keys[6] = { key, ev, att, ans, KEY_RELAY_ATT, KEY_RELAY_EXP };
    const char *args[9] = { w->key, w->punch, chan, life, max, w->relay ? w->ip : "",
                            w->client ? w->client : "[]", obfs, w->name };
    if (aredis_script(loop_redis(w->loop), SCRIPT_CONNECT_BEGIN, 6, keys, 9, args,
                      on_begin, w) != 0) {
        waiter_error(w, 503, "store_unavailable", "the state store is unavailable");
        return;
    }
    w->state = W_BEGINNING;
    w->begin_us = metrics_now_us();
    w->pending++;
}

static void on_end(void *priv, const struct aresult *res)
{
    struct waiter *w = priv;
    if (!waiter_takes(w, W_ENDING))
        return;
    w->recorded = 0;             /* connect_end removed the attempt */
    if (res->err || res->n < 1 || !res->items[0].is_int)
        waiter_error(w, 503, "store_unavailable", "the state store is unavailable");
    else if (res->items[0].i != STORE_OK || res->n < 2 || res->items[1].s == NULL)
        waiter_error(w, 404, "realm_not_found", "realm not registered");
    else {
        char *addrs = strndup(res->items[1].s, res->items[1].len);
        if (addrs == NULL)
            waiter_kill(w);
        else
            waiter_answer(w, addrs, res->n >= 3 && res->items[2].s ? res->items[2].s : "stored");
        free(addrs);
    }
}

static void on_peek(void *priv, const struct aresult *res)
{
    struct waiter *w = priv;
    if (!waiter_takes(w, W_WAITING) || res->err || res->n < 1 || !res->items[0].is_int)
        return;          /* still waiting, or Redis trouble: the deadline decides */
    if (res->items[0].i == STORE_NO_REALM) {
        waiter_error(w, 404, "realm_not_found", "realm not registered");
    } else if (res->items[0].i == STORE_OK && res->n >= 2 && res->items[1].s != NULL) {
        char *addrs = strndup(res->items[1].s, res->items[1].len);
        w->recorded = 0;     /* connect_end removed the attempt */
        if (addrs != NULL)
            waiter_answer(w, addrs, "answer");
        free(addrs);
    }
}

/* connect_end.lua for this attempt: at the deadline (peek 0), or after a
 * resubscribe, to take an answer published while nobody listened (peek 1). */
static void waiter_end(struct waiter *w, int peek)
{
    char key[KEY_MAX], ev[KEY_MAX], att[KEY_MAX], ans[KEY_MAX];
    waiter_keys(w, key, ev, att, ans);
    const char *keys[3] = { key, att, ans };
    const char *args[2] = { w->key, "peek" };
    if (aredis_script(loop_redis(w->loop), SCRIPT_CONNECT_END, 3, keys, peek ? 2 : 1, args,
                      peek ? on_peek : on_end, w) != 0) {
        if (!peek)
            waiter_error(w, 503, "store_unavailable", "the state store is unavailable");
        return;
    }
    if (!peek)
        w->state = W_ENDING;
    w->pending++;
}

/* ---- the channel ---- */

static void on_active(struct bus_listener *l)
{
    struct waiter *w = (struct waiter *)((char *)l - offsetof(struct waiter, bl));
    /* Live only after the begin was sent (or resubscribed): an answer may
     * have been published while nobody listened. The peek follows the
     * begin on the same connection, so Redis runs it after. */
    if (!w->joining && (w->state == W_BEGINNING || w->state == W_WAITING))
        waiter_end(w, 1);
}

static void on_message(struct bus_listener *l, const char *msg, size_t len)
{
    struct waiter *w = (struct waiter *)((char *)l - offsetof(struct waiter, bl));
    struct bus_field f[3];
    int n = bus_split(msg, len, f, 3);
    if (n < 1 || f[0].len != 1 || w->state == W_DONE)
        return;
    if (f[0].s[0] == 'D') {
        w->recorded = 0;         /* deregister removed every attempt */
        waiter_error(w, 404, "realm_not_found", "realm deregistered");
        return;
    }
    if (f[0].s[0] != 'A' || n != 3 || !bus_field_is(&f[1], w->key) ||
        (w->state != W_WAITING && w->state != W_BEGINNING))
        return;
    char *addrs = strndup(f[2].s, f[2].len);
    if (addrs == NULL)
        return;
    if (w->state == W_BEGINNING)
        w->recorded = 1;         /* the begin reply will find it answered */
    waiter_answer(w, addrs, "answer");
    free(addrs);
}

/* ---- open, tick, close ---- */

/* The punch event's data: the client's addresses, then the relay's. */
static char *punch_data(const struct waiter *w, const char *json, const struct connect_body *cb)
{
    char *with_relay = w->relay ? relays_append(json, w->relay) : NULL;
    if (w->relay && with_relay == NULL)
        return NULL;
    char *punch = body_punch_event(with_relay ? with_relay : json, cb->nonce, cb->obfs);
    free(with_relay);
    return punch;
}

void waiter_open(struct loop *l, struct conn *c, const char *name, const char *ip,
                 int relay_ok, const struct connect_body *cb)
{
    size_t nlen = strlen(name);
    struct waiter *w = calloc(1, sizeof(*w) + nlen + 1);
    char *json = body_addresses_json(&cb->addrs);
    if (w != NULL && json != NULL) {
        const struct relay_set *rs = &loop_config(l)->relays;
        w->relay = relay_ok ? relays_for(rs, cb->nonce) : NULL;
        w->punch = relay_ok && rs->n > 0 && w->relay == NULL ? NULL : punch_data(w, json, cb);
        if (w->relay) {
            w->client = json;
            json = NULL;
            snprintf(w->ip, sizeof(w->ip), "%s", ip);
        }
    }
    free(json);
    if (w == NULL || w->punch == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=connect realm=%s", name);
        if (w != NULL)
            waiter_free(w);
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    w->loop = l;
    w->c = c;
    w->outcome = -1;
    w->owner.on_gone = on_gone;
    memcpy(w->name, name, nlen + 1);
    memcpy(w->nonce, cb->nonce, sizeof(w->nonce));
    hex_lower(w->key, cb->nonce, RR_NONCE_HEX);
    memcpy(w->obfs, cb->obfs, sizeof(w->obfs));
    w->deadline = loop_now_ms() + (uint64_t)loop_config(l)->connect_wait * 1000;
    w->bl.on_active = on_active;
    w->bl.on_message = on_message;
    conn_hold(c, &w->owner);
    list_append(&loop_waiters(l)->all, &w->link);
    loop_wake_at(l, w->deadline);
    log_msg(LOG_DEBUG, "punch", "realm=%s", w->name);
    metrics_count(M_CONNECT_REQUESTS);
    /* With Redis away the attempt cannot be recorded: say so now, not in 10 s. */
    w->joining = 1;
    int joined = aredis_ready(loop_redis(l)) && bus_ready(loop_bus(l))
                 ? bus_join(loop_bus(l), w->name, &w->bl) : -1;
    w->joining = 0;
    if (joined != 0) {
        waiter_error(w, 503, "store_unavailable", "the state store is unavailable");
        return;
    }
    waiter_begin(w);
}

uint64_t waiter_tick(struct loop *l, uint64_t now)
{
    struct waiter_list *wl = loop_waiters(l);
    for (struct list_link *e = list_first(&wl->all), *next; e != NULL; e = next) {
        struct waiter *w = list_entry(e, struct waiter, link);
        next = list_next(&wl->all, e);
        if (w->deadline > now)
            return w->deadline;
        if (w->state == W_WAITING)
            waiter_end(w, 0);
        else if (w->state == W_BEGINNING)
            waiter_error(w, 503, "store_unavailable", "the state store is unavailable");
    }
    return UINT64_MAX;
}

void waiter_stop_all(struct loop *l)
{
    struct waiter_list *wl = loop_waiters(l);
    for (struct list_link *e = list_first(&wl->all), *next; e != NULL; e = next) {
        struct waiter *w = list_entry(e, struct waiter, link);
        next = list_next(&wl->all, e);
        w->stop_asked = 1;
        if (w->state == W_WAITING)
            waiter_end(w, 0);
    }
}

void waiter_close_all(struct loop *l)
{
    struct waiter_list *wl = loop_waiters(l);
    struct list_link *e;
    while ((e = list_first(&wl->all)) != NULL) {
        struct waiter *w = list_entry(e, struct waiter, link);
        if (w->state != W_DONE)
            waiter_error(w, 503, "shutting_down", "the worker is stopping");
        waiter_kill(w);
    }
}
