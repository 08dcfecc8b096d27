/* bus.c -- the worker's Redis subscriber: realm channels and who listens (loop thread).
 *
 * A channel moves IDLE (not sent: the subscriber is down) -> SUBSCRIBING ->
 * ACTIVE, and when its last listener leaves, ACTIVE -> UNSUBSCRIBING -> freed.
 * A listener that joins a channel still UNSUBSCRIBING waits for the
 * unsubscribe confirmation, then the channel is subscribed again: hiredis
 * 0.14 would otherwise drop the new subscription's callback when the old
 * unsubscribe reply arrives. The worker's own channel is always subscribed,
 * so the connection never leaves subscribe mode between realm channels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis.h"
#include "bus.h"
#include "hex.h"
#include "keys.h"
#include "log.h"
#include "loop.h"

#define PING_EVERY_MS 5000
#define BUCKETS_MIN 1024

enum chan_state { CH_IDLE, CH_SUBSCRIBING, CH_ACTIVE, CH_UNSUBSCRIBING };

struct bus_channel {
    struct bus_channel *hnext;        /* hash chain */
    struct bus_listener head;         /* list sentinel */
    enum chan_state state;
    size_t len;
    char name[];                      /* "hr:ch:{realm}" */
};

struct bus {
    struct loop *loop;
    struct aredis *sub;
    struct aredis *cmd;
    struct bus_channel **buckets;
    size_t nbuckets, count;
    char own[40];                     /* "hr:w:<16 hex>": liveness channel */
    char ping[24];                    /* token in flight, "" if none */
    uint64_t ping_at;                 /* when it was sent, or the next one is due */
};

/* ---- the map ---- */

static size_t hash(const char *s, size_t len)
{
    size_t h = 1469598103934665603ULL;    /* FNV-1a */
    for (size_t k = 0; k < len; k++)
        h = (h ^ (unsigned char)s[k]) * 1099511628211ULL;
    return h;
}

static struct bus_channel **slot(struct bus *b, const char *name, size_t len)
{
    struct bus_channel **p = &b->buckets[hash(name, len) & (b->nbuckets - 1)];
    while (*p != NULL && ((*p)->len != len || memcmp((*p)->name, name, len) != 0))
        p = &(*p)->hnext;
    return p;
}

static void grow(struct bus *b)
{
    size_t n = b->nbuckets * 2;
    struct bus_channel **nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return;      /* keep the longer chains */
    for (size_t k = 0; k < b->nbuckets; k++)
        for (struct bus_channel *c = b->buckets[k], *next; c != NULL; c = next) {
            next = c->hnext;
            struct bus_channel **p = &nb[hash(c->name, c->len) & (n - 1)];
            c->hnext = *p;
            *p = c;
        }
    free(b->buckets);
    b->buckets = nb;
    b->nbuckets = n;
}

static struct bus_channel *channel_new(struct bus *b, const char *name, size_t len)
{
    struct bus_channel *c = calloc(1, sizeof(*c) + len + 1);
    if (c == NULL)
        return NULL;
    memcpy(c->name, name, len);
    c->len = len;
    c->head.next = c->head.prev = &c->head;
    c->state = CH_IDLE;
    if (b->count + 1 > b->nbuckets)
        grow(b);
    struct bus_channel **p = slot(b, name, len);
    c->hnext = *p;
    *p = c;
    b->count++;
    return c;
}

static void channel_free(struct bus *b, struct bus_channel *c)
{
    struct bus_channel **p = slot(b, c->name, c->len);
    if (*p == c)
        *p = c->hnext;
    b->count--;
    free(c);
}

static int channel_empty(const struct bus_channel *c)
{
    return c->head.next == &c->head;
}

/* ---- subscribing ---- */

static void channel_subscribe(struct bus *b, struct bus_channel *c)
{
    if (aredis_subscribe(b->sub, c->name) == 0)
        c->state = CH_SUBSCRIBING;
    else
        c->state = CH_IDLE;          /* sent again when the subscriber is back */
}

static void channel_activate(struct bus_channel *c)
{
    c->state = CH_ACTIVE;
    /* A listener may leave (or others join) while being told. */
    for (struct bus_listener *l = c->head.next, *next; l != &c->head; l = next) {
        next = l->next;
        l->on_active(l);
    }
}

int bus_join(struct bus *b, const char *name, struct bus_listener *l)
{
    char chan[KEY_MAX];
    if (key_for(KEY_CHANNEL, name, chan, sizeof(chan)) != 0)
        return -1;
    size_t len = strlen(chan);
    struct bus_channel *c = *slot(b, chan, len);
    if (c == NULL && (c = channel_new(b, chan, len)) == NULL)
        return -1;
    l->ch = c;
    l->prev = c->head.prev;
    l->next = &c->head;
    c->head.prev->next = l;
    c->head.prev = l;
    if (c->state == CH_ACTIVE)
        l->on_active(l);
    else if (c->state == CH_IDLE)
        channel_subscribe(b, c);
    return 0;
}

void bus_leave(struct bus *b, struct bus_listener *l)
{
    struct bus_channel *c = l->ch;
    if (c == NULL)
        return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->ch = NULL;
    l->prev = l->next = NULL;
    if (!channel_empty(c))
        return;
    if (c->state == CH_ACTIVE && aredis_unsubscribe(b->sub, c->name) == 0)
        c->state = CH_UNSUBSCRIBING;
    else if (c->state == CH_IDLE)
        channel_free(b, c);
    /* SUBSCRIBING: unsubscribed when the confirmation comes. */
}

static void on_confirm(struct bus *b, struct bus_channel *c, int subscribed)
{
    if (subscribed) {
        if (!channel_empty(c)) {
            channel_activate(c);
            return;
        }
        if (aredis_unsubscribe(b->sub, c->name) == 0)
            c->state = CH_UNSUBSCRIBING;
        return;
    }
    if (channel_empty(c))
        channel_free(b, c);
    else
        channel_subscribe(b, c);     /* someone joined meanwhile */
}

static void on_message(struct bus *b, struct bus_channel *c, const char *msg, size_t len)
{
    if (c->state != CH_ACTIVE)
        return;
    for (struct bus_listener *l = c->head.next, *next; l != &c->head; l = next) {
        next = l->next;
        l->on_message(l, msg, len);
    }
    (void)b;
}

static void on_push(void *priv, const char *kind, const char *chan, size_t chlen,
                    const char *payload, size_t plen)
{
    struct bus *b = priv;
    if (chlen == strlen(b->own) && memcmp(chan, b->own, chlen) == 0) {
        if (strcmp(kind, "message") == 0 && b->ping[0] != '\0' &&
            plen == strlen(b->ping) && memcmp(payload, b->ping, plen) == 0) {
            b->ping[0] = '\0';
            b->ping_at = loop_now_ms() + PING_EVERY_MS;
        }
        return;
    }
    struct bus_channel *c = *slot(b, chan, chlen);
    if (c == NULL)
        return;
    if (strcmp(kind, "message") == 0)
        on_message(b, c, payload, plen);
    else if (strcmp(kind, "subscribe") == 0 && c->state == CH_SUBSCRIBING)
        on_confirm(b, c, 1);
    else if (strcmp(kind, "unsubscribe") == 0 && c->state == CH_UNSUBSCRIBING)
        on_confirm(b, c, 0);
}

/* The subscriber is (back) up: subscribe our own channel and every channel
 * someone listens on; forget the rest. */
static void on_ready(void *priv)
{
    struct bus *b = priv;
    aredis_subscribe(b->sub, b->own);
    b->ping[0] = '\0';
    b->ping_at = loop_now_ms() + PING_EVERY_MS;
    for (size_t k = 0; k < b->nbuckets; k++)
        for (struct bus_channel *c = b->buckets[k], *next; c != NULL; c = next) {
            next = c->hnext;
            if (channel_empty(c))
                channel_free(b, c);
            else
                channel_subscribe(b, c);
        }
}

static void on_lost(void *priv)
{
    struct bus *b = priv;
    for (size_t k = 0; k < b->nbuckets; k++)
        for (struct bus_channel *c = b->buckets[k]; c != NULL; c = c->hnext)
            c->state = CH_IDLE;
    b->ping[0] = '\0';
}

void bus_tick(struct bus *b, uint64_t now)
{
    aredis_tick(b->sub, now);
    if (!aredis_ready(b->sub))
        return;
    if (b->ping[0] != '\0') {
        if (now - b->ping_at > AREDIS_CALL_TIMEOUT_MS) {
            log_msg(LOG_WARN, "subscriber_silent", "channel=%s", b->own);
            aredis_drop(b->sub);
        }
        return;
    }
    if (now < b->ping_at || !aredis_ready(b->cmd))
        return;
    snprintf(b->ping, sizeof(b->ping), "%llu", (unsigned long long)now);
    const char *argv[3] = { "PUBLISH", b->own, b->ping };
    if (aredis_command(b->cmd, 3, argv, NULL, NULL) != 0)
        b->ping[0] = '\0';
    b->ping_at = now;
}

struct bus *bus_new(struct loop *l, const struct redis_target *t, struct aredis *cmd)
{
    struct bus *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->loop = l;
    b->cmd = cmd;
    b->nbuckets = BUCKETS_MIN;
    b->buckets = calloc(b->nbuckets, sizeof(*b->buckets));
    memcpy(b->own, "hr:w:", 5);
    if (b->buckets == NULL || hex_random(b->own + 5, 8) != 0) {
        free(b->buckets);
        free(b);
        return NULL;
    }
    struct aredis_hooks h = { on_ready, on_lost, on_push, b, NULL };
    b->sub = aredis_new(l, t, AREDIS_SUBSCRIBER, &h);
    if (b->sub == NULL) {
        free(b->buckets);
        free(b);
        return NULL;
    }
    return b;
}

void bus_free(struct bus *b)
{
    if (b == NULL)
        return;
    aredis_free(b->sub);
    for (size_t k = 0; k < b->nbuckets; k++)
        for (struct bus_channel *c = b->buckets[k], *next; c != NULL; c = next) {
            next = c->hnext;
            free(c);
        }
    free(b->buckets);
    free(b);
}

int bus_ready(const struct bus *b)
{
    return aredis_ready(b->sub);
}

size_t bus_channel_count(const struct bus *b)
{
    return b->count;
}

int bus_split(const char *msg, size_t len, struct bus_field *f, int n)
{
    int k = 0;
    size_t pos = 0;
    while (k < n && pos <= len) {
        const char *sp = k == n - 1 ? NULL : memchr(msg + pos, ' ', len - pos);
        size_t end = sp ? (size_t)(sp - msg) : len;
        f[k].s = msg + pos;
        f[k].len = end - pos;
        k++;
        if (sp == NULL)
            break;
        pos = end + 1;
    }
    return k;
}

int bus_field_is(const struct bus_field *f, const char *s)
{
    return strlen(s) == f->len && memcmp(f->s, s, f->len) == 0;
}
