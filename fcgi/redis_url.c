/* redis_url.c -- Redis URLs (redis://, unix://, sentinel://) into a redis_target.
 *
 * Errors say what is wrong in words and never quote the URL, which may
 * hold a password.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "number.h"
#include "redis_url.h"

#define URL_DB_MAX 2147483647L

/* Percent-decode the n bytes at s into a malloc'd string (no NUL allowed).
 * NULL if an escape is invalid or out of memory. */
static char *url_unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t i, o = 0;

    for (i = 0; out != NULL && i < n; i++) {
        int hi, lo;
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        hi = i + 1 < n ? hex_value(s[i + 1]) : -1;
        lo = i + 2 < n ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || hi + lo == 0) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    if (out != NULL)
        out[o] = '\0';
    return out;
}

/* The optional "[user]:password@" part (s is after the scheme): a Redis 6+
 * ACL user, or the default user with only a password. Sets t->user and
 * t->password and returns where the host starts, or NULL with err. The
 * '@' is the last one before any query ('@' and '?' in a password are
 * written %40 and %3F). */
static const char *url_parse_auth(const char *s, struct redis_target *t,
                                  char *err, size_t errlen)
{
    const char *at = memrchr(s, '@', strcspn(s, "?")), *colon;

    if (at == NULL)
        return s;
    colon = memchr(s, ':', (size_t)(at - s));
    if (colon == NULL) {
        snprintf(err, errlen, "missing ':' before the password (redis://user:password@host or redis://:password@host)");
        return NULL;
    }
    if (colon > s && (t->user = url_unescape(s, (size_t)(colon - s))) == NULL) {
        snprintf(err, errlen, "bad %%-escape in the user name");
        return NULL;
    }
    if (at > colon + 1) {
        t->password = url_unescape(colon + 1, (size_t)(at - colon - 1));
        if (t->password == NULL) {
            snprintf(err, errlen, "bad %%-escape in the password");
            return NULL;
        }
    }
    if (t->user != NULL && t->password == NULL) {
        snprintf(err, errlen, "a user name needs a password (redis://user:password@host)");
        return NULL;
    }
    return at + 1;
}

/* 1 if the n bytes at h are a plausible host: a name or IPv4 address, or
 * (bracketed) an IPv6 address. */
static int url_host_ok(const char *h, size_t n, int bracketed)
{
    const char *allowed = bracketed ? "0123456789abcdefABCDEF:."
        : "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
    size_t i;

    for (i = 0; i < n; i++)
        if (strchr(allowed, h[i]) == NULL)
            return 0;
    return n > 0;
}

/* The "host[:port]" or "[v6][:port]" part from s to end into n (the port
 * defaults to def_port; 0 means a port is required). 0 or -1. */
static int url_parse_hostport(const char *s, const char *end, long def_port,
                              struct redis_node *n, char *err, size_t errlen)
{
    int bracketed = s < end && *s == '[';
    const char *h = s + bracketed, *hend, *after;
    long port = def_port;

    hend = memchr(h, bracketed ? ']' : ':', (size_t)(end - h));
    if (hend == NULL && bracketed) {
        snprintf(err, errlen, "missing ']' after the IPv6 address");
        return -1;
    }
    if (hend == NULL)
        hend = end;
    after = hend + bracketed;
    if (!url_host_ok(h, (size_t)(hend - h), bracketed)) {
        snprintf(err, errlen, "bad host");
        return -1;
    }
    if (after < end && (*after != ':' ||
                        number_parse(after + 1, (size_t)(end - after - 1), 1, 65535, &port) != 0)) {
        snprintf(err, errlen, "bad port (1..65535)");
        return -1;
    }
    if (port == 0) {
        snprintf(err, errlen, "every Sentinel needs a port (host:port)");
        return -1;
    }
    n->port = (int)port;
    n->host = strndup(h, (size_t)(hend - h));
    if (n->host == NULL)
        snprintf(err, errlen, "out of memory");
    return n->host != NULL ? 0 : -1;
}

/* A database number from s to end ("" means 0) into t->db. 0 or -1. */
static int url_parse_db(const char *s, const char *end, struct redis_target *t,
                        char *err, size_t errlen)
{
    long db = 0;

    if (s < end && number_parse(s, (size_t)(end - s), 0, URL_DB_MAX, &db) != 0) {
        snprintf(err, errlen, "bad database number");
        return -1;
    }
    t->db = (int)db;
    return 0;
}

/* redis://[[user]:password@]host[:port][/db] (s is after "redis://"). 0 or -1. */
static int url_parse_redis(const char *s, struct redis_target *t, char *err, size_t errlen)
{
    const char *hp = url_parse_auth(s, t, err, errlen), *end;
    struct redis_node n = { NULL, 0 };

    if (hp == NULL)
        return -1;
    end = hp + strcspn(hp, "/?");
    if (*end == '?') {
        snprintf(err, errlen, "query parameters are not supported in redis:// URLs");
        return -1;
    }
    if (url_parse_hostport(hp, end, 6379, &n, err, errlen) != 0)
        return -1;
    t->host = n.host;
    t->port = n.port;
    if (*end == '/')
        end++;
    return url_parse_db(end, end + strlen(end), t, err, errlen);
}

/* unix:///path[?db=N] (s is after "unix://"). 0 or -1. */
static int url_parse_unix(const char *s, struct redis_target *t, char *err, size_t errlen)
{
    size_t n = strcspn(s, "?");

    if (s[0] != '/' || n < 2) {
        snprintf(err, errlen, "the socket path must be absolute (unix:///path)");
        return -1;
    }
    if (s[n] == '?' && strncmp(s + n, "?db=", 4) != 0) {
        snprintf(err, errlen, "the only query parameter is db=N");
        return -1;
    }
    if (s[n] == '?' && (s[n + 4] == '\0' ||
                        url_parse_db(s + n + 4, s + strlen(s), t, err, errlen) != 0)) {
        snprintf(err, errlen, "bad database number");
        return -1;
    }
    t->path = strndup(s, n);
    if (t->path == NULL)
        snprintf(err, errlen, "out of memory");
    return t->path != NULL ? 0 : -1;
}

/* "host:port,host:port..." from s to end into t->sentinels. 0 or -1. */
static int url_parse_sentinels(const char *s, const char *end, struct redis_target *t,
                               char *err, size_t errlen)
{
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *stop = comma != NULL ? comma : end;
        if (t->nsentinels == REDIS_SENTINELS_MAX) {
            snprintf(err, errlen, "at most %d Sentinels", REDIS_SENTINELS_MAX);
            return -1;
        }
        if (url_parse_hostport(s, stop, 0, &t->sentinels[t->nsentinels], err, errlen) != 0)
            return -1;
        t->nsentinels++;
        s = stop + 1;
    }
    return 0;
}

/* One "name=value" of a sentinel:// query (from s to end); *db_seen says
 * whether db= came before. 0 or -1. */
static int url_parse_param(const char *s, const char *end, struct redis_target *t,
                           int *db_seen, char *err, size_t errlen)
{
    static const char db[] = "db=", spw[] = "sentinel_password=";

    if ((size_t)(end - s) > strlen(db) && strncmp(s, db, strlen(db)) == 0 && !*db_seen) {
        *db_seen = 1;
        return url_parse_db(s + strlen(db), end, t, err, errlen);
    }
    if ((size_t)(end - s) > strlen(spw) && strncmp(s, spw, strlen(spw)) == 0 &&
        t->sentinel_password == NULL) {
        t->sentinel_password = url_unescape(s + strlen(spw), (size_t)(end - s) - strlen(spw));
        if (t->sentinel_password == NULL)
            snprintf(err, errlen, "bad %%-escape in sentinel_password");
        return t->sentinel_password != NULL ? 0 : -1;
    }
    snprintf(err, errlen, "the query parameters are db=N and sentinel_password=P, once each");
    return -1;
}

/* sentinel://[[user]:password@]host:port[,host:port...]/master[?params]
 * (s is after "sentinel://"). 0 or -1. */
static int url_parse_sentinel(const char *s, struct redis_target *t, char *err, size_t errlen)
{
    const char *hp = url_parse_auth(s, t, err, errlen), *slash, *name, *q;
    int db_seen = 0;

    if (hp == NULL)
        return -1;
    slash = strchr(hp, '/');
    if (slash == NULL) {
        snprintf(err, errlen, "missing /master-name after the Sentinels");
        return -1;
    }
    if (url_parse_sentinels(hp, slash, t, err, errlen) != 0)
        return -1;
    name = slash + 1;
    q = name + strcspn(name, "?");
    if (q == name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-") != (size_t)(q - name)) {
        snprintf(err, errlen, "bad master name (letters, digits, '.', '_', '-')");
        return -1;
    }
    if ((t->master_name = strndup(name, (size_t)(q - name))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while (*q == '?' || *q == '&') {
        const char *p = q + 1, *pend = p + strcspn(p, "&");
        if (url_parse_param(p, pend, t, &db_seen, err, errlen) != 0)
            return -1;
        q = pend;
    }
    return 0;
}

int redis_url_parse(const char *url, struct redis_target *t, char *err, size_t errlen)
{
    static const struct {
        const char *scheme;
        int (*parse)(const char *, struct redis_target *, char *, size_t);
    } schemes[] = {
        { "redis://", url_parse_redis },
        { "unix://", url_parse_unix },
        { "sentinel://", url_parse_sentinel },
    };
    char why[160] = "unknown scheme";
    int rc = -1;

    memset(t, 0, sizeof *t);
    for (size_t k = 0; url != NULL && k < sizeof schemes / sizeof schemes[0]; k++)
        if (strncmp(url, schemes[k].scheme, strlen(schemes[k].scheme)) == 0)
            rc = schemes[k].parse(url + strlen(schemes[k].scheme), t, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "invalid Redis URL: %s; expected %s", why, REDIS_URL_FORMS);
        redis_target_free(t);
    }
    return rc;
}

void redis_target_free(struct redis_target *t)
{
    if (t == NULL)
        return;
    free(t->host);
    free(t->path);
    free(t->user);
    free(t->password);
    free(t->master_name);
    free(t->sentinel_password);
    for (size_t k = 0; k < t->nsentinels; k++)
        free(t->sentinels[k].host);
    memset(t, 0, sizeof *t);
}

void redis_target_describe(const struct redis_target *t, char *buf, size_t len)
{
    const char *auth = t->password ? " auth=yes" : "", *acl = t->user ? " acl_user=yes" : "";

    if (t->path != NULL)
        snprintf(buf, len, "unix:%s/%d%s", t->path, t->db, auth);
    else if (t->master_name != NULL)
        snprintf(buf, len, "sentinel:%s/%d sentinels=%zu%s%s", t->master_name, t->db,
                 t->nsentinels, auth, acl);
    else
        snprintf(buf, len, "%s:%d/%d%s%s", t->host, t->port, t->db, auth, acl);
}
