/* sentinel.c -- the primary's address from Redis Sentinel (loop thread only).
 *
 * Two connections to Sentinels, each an aredis of its own: "query" asks
 * SENTINEL get-master-addr-by-name when an attached connection wants the
 * primary; "watch" is subscribed to +switch-master. Each walks the
 * Sentinels of the URL in turn: one that cannot be reached, drops the
 * connection, or answers anything but an address is left for the next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aredis.h"
#include "bus.h"
#include "log.h"
#include "number.h"
#include "sentinel.h"

#define SWITCH_CHANNEL "+switch-master"

struct sentinel {
    struct loop *loop;
    const struct redis_target *t;
    /* One direct target per Sentinel: its host and port (borrowed from t)
     * and the Sentinels' password. */
    struct redis_target nodes[REDIS_SENTINELS_MAX];
    struct aredis *query, *watch;
    size_t qi, wi;                 /* the Sentinel each one talks to */
    int wanted;                    /* an attached connection waits for an address */
    int asking;                    /* a query is in flight */
    char host[64];                 /* the primary, as last reported */
    int port;
    struct aredis *attached[SENTINEL_ATTACHED_MAX];
    size_t nattached;
};

static void ask(struct sentinel *s);

/* ---- the primary ---- */

static void set_primary(struct sentinel *s, const char *host, size_t hlen, int port,
                        const char *via)
{
    if (hlen == 0 || hlen >= sizeof(s->host) || port <= 0 || port > 65535) {
        log_msg(LOG_WARN, "sentinel_bad_address", "via=%s", via);
        return;
    }
    if (strlen(s->host) != hlen || memcmp(s->host, host, hlen) != 0 || s->port != port) {
        memcpy(s->host, host, hlen);
        s->host[hlen] = '\0';
        s->port = port;
        log_msg(LOG_INFO, "redis_primary", "master=%s host=%s port=%d via=%s",
                s->t->master_name, s->host, s->port, via);
    }
    for (size_t k = 0; k < s->nattached; k++)
        aredis_locate(s->attached[k], s->host, s->port);
}

/* A port from n bytes of text, or -1. */
static int parse_port(const char *p, size_t n)
{
    long port;
    return number_parse(p, n, 1, 65535, &port) == 0 ? (int)port : -1;
}

/* ---- query: SENTINEL get-master-addr-by-name ---- */

static void on_answer(void *priv, const struct aresult *res)
{
    struct sentinel *s = priv;
    s->asking = 0;
    if (res->err || res->n != 2 || res->items[0].s == NULL || res->items[1].s == NULL) {
        /* An error, or nil: this Sentinel does not know the master (yet).
         * Try the next one; the reconnect asks again. */
        log_msg(LOG_WARN, "sentinel_no_primary", "sentinel=%s:%d master=%s",
                s->nodes[s->qi].host, s->nodes[s->qi].port, s->t->master_name);
        aredis_drop_soon(s->query);
        return;
    }
    s->wanted = 0;
    set_primary(s, res->items[0].s, res->items[0].len,
                parse_port(res->items[1].s, res->items[1].len), "query");
}

static void ask(struct sentinel *s)
{
    const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", s->t->master_name };
    if (!s->wanted || s->asking || s->query == NULL || !aredis_ready(s->query))
        return;
    if (aredis_command(s->query, 3, argv, on_answer, s) == 0)
        s->asking = 1;
}

static void query_ready(void *priv)
{
    ask(priv);
}

/* The query connection failed or went away: the next Sentinel. */
static void query_down(void *priv)
{
    struct sentinel *s = priv;
    s->asking = 0;
    if (s->query == NULL)
        return;
    s->qi = (s->qi + 1) % s->t->nsentinels;
    aredis_retarget(s->query, &s->nodes[s->qi]);
}

/* ---- watch: +switch-master "<name> <old ip> <old port> <new ip> <new port>" ---- */

static void watch_ready(void *priv)
{
    struct sentinel *s = priv;
    if (aredis_subscribe(s->watch, SWITCH_CHANNEL) != 0)
        aredis_drop_soon(s->watch);
    /* A switch may have happened while no Sentinel was watched. */
    sentinel_want(s);
}

static void watch_down(void *priv)
{
    struct sentinel *s = priv;
    if (s->watch == NULL)
        return;
    s->wi = (s->wi + 1) % s->t->nsentinels;
    aredis_retarget(s->watch, &s->nodes[s->wi]);
}

static void watch_push(void *priv, const char *kind, const char *channel, size_t chlen,
                       const char *payload, size_t plen)
{
    struct sentinel *s = priv;
    struct bus_field f[5];

    if (strcmp(kind, "message") != 0 || chlen != strlen(SWITCH_CHANNEL) ||
        memcmp(channel, SWITCH_CHANNEL, chlen) != 0)
        return;
    if (bus_split(payload, plen, f, 5) != 5 || !bus_field_is(&f[0], s->t->master_name))
        return;
    set_primary(s, f[3].s, f[3].len, parse_port(f[4].s, f[4].len), "switch");
}

/* ---- life ---- */

struct sentinel *sentinel_new(struct loop *l, const struct redis_target *t)
{
    struct sentinel *s = calloc(1, sizeof(*s));
    if (s == NULL || t->nsentinels == 0) {
        free(s);
        return NULL;
    }
    s->loop = l;
    s->t = t;
    for (size_t k = 0; k < t->nsentinels; k++) {
        s->nodes[k].host = t->sentinels[k].host;
        s->nodes[k].port = t->sentinels[k].port;
        s->nodes[k].password = t->sentinel_password;
    }
    /* The watch starts on another Sentinel than the query, where there is one. */
    s->wi = t->nsentinels > 1 ? 1 : 0;
    struct aredis_hooks qh = { query_ready, query_down, NULL, s, query_down };
    struct aredis_hooks wh = { watch_ready, watch_down, watch_push, s, watch_down };
    s->query = aredis_new(l, &s->nodes[s->qi], AREDIS_PLAIN, &qh);
    s->watch = aredis_new(l, &s->nodes[s->wi], AREDIS_SUBSCRIBER, &wh);
    if (s->query == NULL || s->watch == NULL) {
        sentinel_free(s);
        return NULL;
    }
    return s;
}

void sentinel_free(struct sentinel *s)
{
    if (s == NULL)
        return;
    struct aredis *q = s->query, *w = s->watch;
    s->query = s->watch = NULL;     /* their last on_lost finds nothing to do */
    aredis_free(q);
    aredis_free(w);
    free(s);
}

int sentinel_attach(struct sentinel *s, struct aredis *a)
{
    if (s->nattached == SENTINEL_ATTACHED_MAX)
        return -1;
    s->attached[s->nattached++] = a;
    return 0;
}

void sentinel_detach(struct sentinel *s, const struct aredis *a)
{
    for (size_t k = 0; k < s->nattached; k++)
        if (s->attached[k] == a) {
            s->attached[k] = s->attached[--s->nattached];
            return;
        }
}

void sentinel_want(struct sentinel *s)
{
    s->wanted = 1;
    ask(s);
}

void sentinel_tick(struct sentinel *s, uint64_t now)
{
    aredis_tick(s->query, now);
    aredis_tick(s->watch, now);
}
