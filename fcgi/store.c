/* store.c -- Redis state for the request threads: one C call per Lua script.
 *
 * Synchronous hiredis (the only file that includes it for synchronous use).
 * One struct store per thread: a hiredis context is not thread-safe. The
 * context is made on demand and dropped on any I/O error, so the next call
 * reconnects. Scripts run by EVALSHA; on NOSCRIPT they are sent once with
 * EVAL, which also puts them back in Redis's script cache.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "keys.h"
#include "scripts.h"
#include "store.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The most keys plus arguments any script takes, with room to spare. */
#define STORE_ARGV_MAX 24

struct store {
    redisContext *ctx;            /* NULL while disconnected */
    struct redis_target target;   /* own copy of the strings */
    char err[256];                /* last failure, for logs */
};

/* The per-realm key names and channel of one realm name. */
struct realm_keys {
    char realm[KEY_MAX];
    char ev[KEY_MAX];
    char att[KEY_MAX];
    char ans[KEY_MAX];
    char ch[KEY_MAX];
};

/* Record a printf-style failure description in s->err. */
static void store_error(struct store *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void store_error(struct store *s, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
}

/* Duplicate src into *dst (NULL stays NULL). 0, or -1 on out of memory. */
static int store_strdup(char **dst, const char *src)
{
    *dst = NULL;
    if (src == NULL)
        return 0;
    *dst = strdup(src);
    return *dst == NULL ? -1 : 0;
}

/* A store for target, holding its own copy of target's strings. */
struct store *store_new(const struct redis_target *target)
{
    struct store *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->target.port = target->port;
    s->target.db = target->db;
    if (store_strdup(&s->target.host, target->host) < 0
        || store_strdup(&s->target.path, target->path) < 0
        || store_strdup(&s->target.password, target->password) < 0) {
        store_free(s);
        return NULL;
    }
    return s;
}

/* Drop the connection of s, if any. */
static void store_disconnect(struct store *s)
{
    if (s->ctx != NULL) {
        redisFree(s->ctx);
        s->ctx = NULL;
    }
}

void store_free(struct store *s)
{
    if (s == NULL)
        return;
    store_disconnect(s);
    free(s->target.host);
    free(s->target.path);
    free(s->target.password);
    free(s);
}

const char *store_last_error(const struct store *s)
{
    return s->err;
}

/* Run one setup command (argc words of argv) on c, which is not yet s->ctx.
 * 0 on a non-error reply, else -1 with the reason in s->err. */
static int store_setup(struct store *s, redisContext *c, int argc,
                       const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int rc = 0;

    if (r == NULL) {
        store_error(s, "redis %s: %s", argv[0], c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        store_error(s, "redis %s: %s", argv[0], r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* Open a context to the target: timeouts, AUTH and SELECT as configured.
 * The context, or NULL with the reason in s->err. */
static redisContext *store_open(struct store *s)
{
    const struct timeval connect_tv = { 1, 0 };
    const struct timeval command_tv = { 2, 0 };
    const struct redis_target *t = &s->target;
    const char *auth[] = { "AUTH", t->password };
    char db[16];
    const char *select_cmd[] = { "SELECT", db };
    redisContext *c;

    if (t->path != NULL)
        c = redisConnectUnixWithTimeout(t->path, connect_tv);
    else
        c = redisConnectWithTimeout(t->host ? t->host : "127.0.0.1",
                                    t->port, connect_tv);
    if (c == NULL) {
        store_error(s, "redis connect: out of memory");
        return NULL;
    }
    if (c->err) {
        store_error(s, "redis connect: %s", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, command_tv) != REDIS_OK) {
        store_error(s, "redis timeout: %s", c->errstr);
        goto fail;
    }
    if (t->password != NULL && store_setup(s, c, 2, auth) < 0)
        goto fail;
    snprintf(db, sizeof(db), "%d", t->db);
    if (t->db != 0 && store_setup(s, c, 2, select_cmd) < 0)
        goto fail;
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* 1 if an idle connection is still usable. Redis sends nothing unasked on
 * a command connection, so anything readable (EOF after a Redis restart, an
 * error before a close) means it is gone: reconnect before sending rather
 * than fail the request. */
static int store_alive(const redisContext *c)
{
    struct pollfd p = { .fd = c->fd, .events = POLLIN };
    return poll(&p, 1, 0) == 0;
}

/* Send argv on the connection of s, connecting first if need be. The reply
 * (caller frees), or NULL with the context dropped and s->err set. */
static redisReply *store_command(struct store *s, int argc, const char **argv,
                                 const size_t *argvlen)
{
    redisReply *r;

    if (s->ctx != NULL && !store_alive(s->ctx))
        store_disconnect(s);
    if (s->ctx == NULL && (s->ctx = store_open(s)) == NULL)
        return NULL;
    r = redisCommandArgv(s->ctx, argc, argv, argvlen);
    if (r == NULL || s->ctx->err) {
        store_error(s, "redis: %s", s->ctx->errstr);
        freeReplyObject(r);
        store_disconnect(s);
        return NULL;
    }
    return r;
}

/* Run script id with nkeys keys and nargs args: EVALSHA, then EVAL once on
 * NOSCRIPT. The reply (caller frees), or NULL with s->err set on an I/O
 * failure or an error reply. */
static redisReply *store_script(struct store *s, enum script_id id,
                                const char *const *keys, size_t nkeys,
                                const char *const *args, size_t nargs)
{
    const struct script *sc = scripts_get(id);
    const char *argv[STORE_ARGV_MAX];
    size_t argvlen[STORE_ARGV_MAX];
    char numkeys[16];
    size_t i, argc = 3 + nkeys + nargs;
    redisReply *r;

    if (argc > STORE_ARGV_MAX) {
        store_error(s, "%s: too many arguments", sc->file);
        return NULL;
    }
    snprintf(numkeys, sizeof(numkeys), "%zu", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = sc->sha;
    argv[2] = numkeys;
    for (i = 0; i < nkeys; i++)
        argv[3 + i] = keys[i];
    for (i = 0; i < nargs; i++)
        argv[3 + nkeys + i] = args[i];
    for (i = 0; i < argc; i++)
        argvlen[i] = strlen(argv[i]);

    r = store_command(s, (int)argc, argv, argvlen);
    if (r != NULL && r->type == REDIS_REPLY_ERROR
        && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = sc->body;
        argvlen[0] = 4;
        argvlen[1] = sc->len;
        r = store_command(s, (int)argc, argv, argvlen);
    }
    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        store_error(s, "%s: %s", sc->file, r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* The status of a script's reply r (an integer, or an array whose first
 * element is one); on STORE_OK with an integer second element, *second gets
 * it if second is not NULL. Frees r; NULL r is STORE_UNAVAILABLE. */
static enum store_status store_result(struct store *s, redisReply *r,
                                      long long *second)
{
    const redisReply *first = r;
    enum store_status st = STORE_UNAVAILABLE;

    if (r == NULL)
        return STORE_UNAVAILABLE;
    if (r->type == REDIS_REPLY_ARRAY)
        first = r->elements > 0 ? r->element[0] : NULL;
    if (first == NULL || first->type != REDIS_REPLY_INTEGER
        || first->integer < STORE_OK || first->integer > STORE_NO_ATTEMPT) {
        store_error(s, "redis: unexpected script reply");
        goto out;
    }
    st = (enum store_status)first->integer;
    if (st == STORE_OK && second != NULL) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2
            || r->element[1]->type != REDIS_REPLY_INTEGER) {
            store_error(s, "redis: unexpected script reply");
            st = STORE_UNAVAILABLE;
            goto out;
        }
        *second = r->element[1]->integer;
    }
out:
    freeReplyObject(r);
    return st;
}

/* Fill k with the keys and channel of realm name. 0, or -1 with s->err set
 * if the name is too long for a key. */
static int store_keys(struct store *s, const char *name, struct realm_keys *k)
{
    if (key_for(KEY_REALM, name, k->realm, sizeof(k->realm)) < 0
        || key_for(KEY_EVENTS, name, k->ev, sizeof(k->ev)) < 0
        || key_for(KEY_ATTEMPTS, name, k->att, sizeof(k->att)) < 0
        || key_for(KEY_ANSWERS, name, k->ans, sizeof(k->ans)) < 0
        || key_for(KEY_CHANNEL, name, k->ch, sizeof(k->ch)) < 0) {
        store_error(s, "realm name too long for a key");
        return -1;
    }
    return 0;
}

enum store_status store_register(struct store *s, const char *name,
                                 const char *sid, const char *addrs_json,
                                 const char *ip, const struct store_limits *lim)
{
    struct realm_keys k;
    char ttl[24], max_realms[24], max_per_ip[24];

    if (store_keys(s, name, &k) < 0)
        return STORE_UNAVAILABLE;
    snprintf(ttl, sizeof(ttl), "%ld", lim->ttl_ms);
    snprintf(max_realms, sizeof(max_realms), "%ld", lim->max_realms);
    snprintf(max_per_ip, sizeof(max_per_ip), "%ld", lim->max_per_ip);
    const char *keys[] = { k.realm, k.ev, k.att, k.ans,
                           KEY_REALMS, KEY_REALMIP, KEY_BYIP };
    const char *args[] = { name, sid, addrs_json, ip,
                           ttl, max_realms, max_per_ip };
    return store_result(s, store_script(s, SCRIPT_REGISTER, keys, NELEM(keys),
                                        args, NELEM(args)), NULL);
}

enum store_status store_heartbeat(struct store *s, const char *name,
                                  const char *sid, const char *addrs_json,
                                  const char *event_json,
                                  const struct store_limits *lim)
{
    struct realm_keys k;
    char ttl[24];

    if (store_keys(s, name, &k) < 0)
        return STORE_UNAVAILABLE;
    snprintf(ttl, sizeof(ttl), "%ld", lim->ttl_ms);
    const char *keys[] = { k.realm, k.ev, KEY_REALMS };
    const char *args[] = { name, sid, addrs_json ? addrs_json : "", ttl,
                           event_json, k.ch };
    return store_result(s, store_script(s, SCRIPT_HEARTBEAT, keys, NELEM(keys),
                                        args, NELEM(args)), NULL);
}

enum store_status store_deregister(struct store *s, const char *name,
                                   const char *sid)
{
    struct realm_keys k;

    if (store_keys(s, name, &k) < 0)
        return STORE_UNAVAILABLE;
    const char *keys[] = { k.realm, k.ev, k.att, k.ans,
                           KEY_REALMS, KEY_REALMIP, KEY_BYIP };
    const char *args[] = { name, sid, k.ch };
    return store_result(s, store_script(s, SCRIPT_DEREGISTER, keys,
                                        NELEM(keys), args, NELEM(args)), NULL);
}

enum store_status store_session(struct store *s, const char *name,
                                const char *sid, long long *pttl_ms)
{
    struct realm_keys k;
    long long pttl = 0;
    enum store_status st;

    if (store_keys(s, name, &k) < 0)
        return STORE_UNAVAILABLE;
    const char *keys[] = { k.realm };
    const char *args[] = { sid };
    st = store_result(s, store_script(s, SCRIPT_SESSION, keys, NELEM(keys),
                                      args, NELEM(args)), &pttl);
    if (st == STORE_OK && pttl_ms != NULL)
        *pttl_ms = pttl;
    return st;
}

enum store_status store_connect_answer(struct store *s, const char *name,
                                       const char *sid, const char *nonce,
                                       const char *addrs_json)
{
    struct realm_keys k;

    if (store_keys(s, name, &k) < 0)
        return STORE_UNAVAILABLE;
    const char *keys[] = { k.realm, k.att, k.ans };
    const char *args[] = { sid, nonce, addrs_json, k.ch };
    return store_result(s, store_script(s, SCRIPT_CONNECT_ANSWER, keys,
                                        NELEM(keys), args, NELEM(args)), NULL);
}
