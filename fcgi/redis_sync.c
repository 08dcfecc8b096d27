/* redis_sync.c -- one blocking connection to the Redis primary, for the
 * admin tool and the relay (see redis_sync.h). Every command has the
 * connection's timeout, so nothing here waits longer than timeout_ms per
 * step.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "number.h"
#include "redis_sync.h"
#include "scripts.h"

static struct timeval tv_of(int ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    return tv;
}

static redisContext *open_tcp_or_unix(const char *host, int port, const char *path, int ms,
                                      char *err, size_t errlen)
{
    redisContext *c = path ? redisConnectUnixWithTimeout(path, tv_of(ms))
                           : redisConnectWithTimeout(host, port, tv_of(ms));
    if (c == NULL || c->err) {
        snprintf(err, errlen, "cannot connect to %s%s%d: %s", path ? path : host,
                 path ? "" : ":", path ? 0 : port, c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv_of(ms)) != REDIS_OK) {
        snprintf(err, errlen, "cannot set the Redis timeout");
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Run one command; 0 if the reply is not an error (and, when want is not
 * NULL, is the status or string want). The reply is freed. */
static int command_ok(redisContext *c, int argc, const char **argv, const char *want,
                      const char *what, char *err, size_t errlen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int ok = r != NULL && r->type != REDIS_REPLY_ERROR &&
             (want == NULL || ((r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_STRING) &&
                               strcmp(r->str, want) == 0));
    if (!ok)
        snprintf(err, errlen, "%s failed: %s", what,
                 r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* AUTH [user] password, when the target has a password. */
static int authenticate(redisContext *c, const char *user, const char *password,
                        char *err, size_t errlen)
{
    if (password == NULL)
        return 0;
    const char *argv[3] = { "AUTH", user ? user : password, password };
    return command_ok(c, user ? 3 : 2, argv, NULL, "AUTH", err, errlen);
}

/* Ask the Sentinels in turn for the primary of t->master_name. */
static int ask_sentinels(const struct redis_target *t, int ms, char *host, size_t hostlen,
                         int *port, char *err, size_t errlen)
{
    for (size_t k = 0; k < t->nsentinels; k++) {
        const struct redis_node *n = &t->sentinels[k];
        redisContext *c = open_tcp_or_unix(n->host, n->port, NULL, ms, err, errlen);
        if (c == NULL)
            continue;
        redisReply *r = NULL;
        if (authenticate(c, NULL, t->sentinel_password, err, errlen) == 0)
            r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", t->master_name);
        int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_STRING &&
                 r->element[1]->type == REDIS_REPLY_STRING &&
                 strlen(r->element[0]->str) < hostlen;
        long p = 0;
        ok = ok && number_parse(r->element[1]->str, r->element[1]->len, 1, 65535, &p) == 0;
        if (ok) {
            snprintf(host, hostlen, "%s", r->element[0]->str);
            *port = (int)p;
        } else if (r != NULL) {
            snprintf(err, errlen, "Sentinel %s:%d does not know master %s", n->host, n->port,
                     t->master_name);
        }
        if (r != NULL)
            freeReplyObject(r);
        redisFree(c);
        if (ok)
            return 0;
    }
    return -1;
}

/* ROLE's first element is "master". */
static int check_primary(redisContext *c, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "ROLE");
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
             r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
    if (!ok)
        snprintf(err, errlen, "%s", r == NULL ? c->errstr : "the server is not a primary (ROLE)");
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

redisContext *redis_sync_connect(const struct redis_target *t, int timeout_ms,
                                 char *err, size_t errlen)
{
    char host[256];
    int port = t->port;
    if (t->master_name != NULL) {
        if (ask_sentinels(t, timeout_ms, host, sizeof(host), &port, err, errlen) != 0)
            return NULL;
    } else if (t->host != NULL) {
        snprintf(host, sizeof(host), "%s", t->host);
    }
    redisContext *c = open_tcp_or_unix(host, port, t->path, timeout_ms, err, errlen);
    if (c == NULL)
        return NULL;
    char db[16];
    snprintf(db, sizeof(db), "%d", t->db);
    const char *select[2] = { "SELECT", db };
    if (authenticate(c, t->user, t->password, err, errlen) != 0 ||
        (t->db != 0 && command_ok(c, 2, select, "OK", "SELECT", err, errlen) != 0) ||
        check_primary(c, err, errlen) != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int redis_sync_load_library(redisContext *c, char *err, size_t errlen)
{
    size_t len;
    const char *lib = scripts_library(&len);
    redisReply *r = redisCommand(c, "FUNCTION LOAD REPLACE %b", lib, len);
    int ok = r != NULL && r->type == REDIS_REPLY_STRING;
    if (!ok)
        snprintf(err, errlen, "FUNCTION LOAD failed: %s",
                 r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}
