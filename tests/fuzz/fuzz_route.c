/* fuzz_route.c -- libFuzzer harness for the route table (route.c):
 * route_match, and route_match_ext with ROUTE_EXT_STATUS on.
 *
 * Input: the method, then a NUL or newline byte, then the raw path (up to
 * the next NUL). With no separator the whole input is the path and the
 * method is NULL. Each part is copied into a heap buffer of exactly its
 * length plus the NUL, so ASan sees a read past the end. Every input is
 * matched three ways: route_match, route_match_ext with ext 0 (which must
 * give the same) and with ROUTE_EXT_STATUS. Checked for each:
 *   - ep is one of enum route_endpoint; EP_NONE leaves method_ok 0, allow
 *     "", name_len 0 and no nonce;
 *   - name is NUL-terminated within its array, strlen(name) == name_len <=
 *     RR_NAME_MAX, name_too_long only with name_len 0; nonce is
 *     NUL-terminated within its array, set only for EP_ANSWER, empty when
 *     nonce_bad;
 *   - method_ok, allow, auth and parks are those of the row (route.c's
 *     table, restated here), and allow lists the method when method_ok;
 *     EP_STATUS only with ROUTE_EXT_STATUS, where "/v1/{id}" allows
 *     "GET, POST, DELETE";
 *   - the whole result agrees with a second, plain reading of route.h
 *     (reference): "/v1/" {id} then "", "/events", "/heartbeat",
 *     "/connect" or "/connects/" {nonce}, each segment percent-decoded
 *     (a bad escape, an encoded NUL or '/' fails it), the query cut; a
 *     method no row of the path takes gets that path's first row;
 *   - the same input gives the same result again.
 * A broken check aborts (a crash libFuzzer reports). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_route: check failed at %s:%d: %s\n",       \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* What each endpoint must carry (route.c's table, restated). */
struct row {
    enum route_endpoint ep;
    const char *method;
    const char *allow;
    enum route_auth auth;
    int parks;
};

static const struct row rows[] = {
    { EP_STATUS, "GET", "GET, POST, DELETE", AUTH_TOKEN, 0 },
    { EP_REGISTER, "POST", "POST, DELETE", AUTH_TOKEN, 0 },
    { EP_DEREGISTER, "DELETE", "POST, DELETE", AUTH_SESSION, 0 },
    { EP_EVENTS, "GET", "GET", AUTH_SESSION, 1 },
    { EP_HEARTBEAT, "POST", "POST", AUTH_SESSION, 0 },
    { EP_CONNECT, "POST", "POST", AUTH_TOKEN, 1 },
    { EP_ANSWER, "POST", "POST", AUTH_SESSION, 0 },
};

static const struct row *row_of(enum route_endpoint ep)
{
    for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
        if (rows[k].ep == ep)
            return &rows[k];
    return NULL;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode n bytes at s into out (room for cap bytes and a NUL):
 * 0 ok, -1 bad escape, encoded NUL or '/', -2 longer than cap. */
static int decode(const char *s, size_t n, char *out, size_t cap, size_t *len)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || hexval((unsigned char)s[i + 1]) < 0
                || hexval((unsigned char)s[i + 2]) < 0)
                return -1;
            c = (unsigned char)(hexval((unsigned char)s[i + 1]) * 16
                                + hexval((unsigned char)s[i + 2]));
            if (c == 0 || c == '/')
                return -1;
            i += 2;
        }
        if (o >= cap)
            return -2;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    *len = o;
    return 0;
}

/* 1 if the n bytes at s decode to exactly the literal lit. */
static int seg_is(const char *s, size_t n, const char *lit)
{
    char buf[64];
    size_t len;

    if (decode(s, n, buf, sizeof buf - 1, &len) != 0)
        return 0;
    return len == strlen(lit) && memcmp(buf, lit, len) == 0;
}

/* The route as route.h describes it, into want (zeroed first). */
static void reference(const char *method, const char *path, unsigned ext,
                      struct route_match *want)
{
    const char *seg[4], *id, *end, *p;
    size_t seglen[4], nseg = 0, len;
    enum route_endpoint ep = EP_NONE;
    const struct row *r;

    memset(want, 0, sizeof *want);
    want->allow = "";
    if (path == NULL || strncmp(path, "/v1/", 4) != 0)
        return;
    id = path + 4;
    end = strchr(id, '?');
    if (end == NULL)
        end = id + strlen(id);
    /* Split into at most 4 segments after the id; more means no route. */
    p = memchr(id, '/', (size_t)(end - id));
    const char *id_end = p != NULL ? p : end;
    while (p != NULL) {
        const char *s = p + 1;
        const char *q = memchr(s, '/', (size_t)(end - s));
        if (nseg == 4)
            return;
        seg[nseg] = s;
        seglen[nseg] = (size_t)((q != NULL ? q : end) - s);
        nseg++;
        p = q;
    }
    if (nseg == 0) {
        /* The rows of "/v1/{id}" in table order; the first is the default. */
        ep = ext != 0 ? EP_STATUS : EP_REGISTER;
        if (method != NULL && strcmp(method, "POST") == 0)
            ep = EP_REGISTER;
        else if (method != NULL && strcmp(method, "DELETE") == 0)
            ep = EP_DEREGISTER;
    } else if (nseg == 1 && seg_is(seg[0], seglen[0], "events")) {
        ep = EP_EVENTS;
    } else if (nseg == 1 && seg_is(seg[0], seglen[0], "heartbeat")) {
        ep = EP_HEARTBEAT;
    } else if (nseg == 1 && seg_is(seg[0], seglen[0], "connect")) {
        ep = EP_CONNECT;
    } else if (nseg == 2 && seg_is(seg[0], seglen[0], "connects")) {
        ep = EP_ANSWER;
    } else {
        return;
    }
    r = row_of(ep);
    want->ep = ep;
    want->method_ok = method != NULL && strcmp(method, r->method) == 0;
    want->allow = nseg == 0 ? (ext != 0 ? "GET, POST, DELETE" : "POST, DELETE") : r->allow;
    want->auth = r->auth;
    want->parks = r->parks;
    if (ep == EP_ANSWER && decode(seg[1], seglen[1], want->nonce,
                                  sizeof want->nonce - 1, &len) != 0) {
        want->nonce[0] = '\0';
        want->nonce_bad = 1;
    }
    switch (decode(id, (size_t)(id_end - id), want->name, RR_NAME_MAX, &len)) {
    case 0:
        want->name_len = len;
        break;
    case -2:
        want->name_too_long = 1;
        /* fall through */
    default:
        want->name[0] = '\0';
        want->name_len = 0;
    }
}

static char *dup_n(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static void check_match(const char *method, const char *path, unsigned ext,
                        const struct route_match *m)
{
    struct route_match want, again;
    const struct row *r;

    CHECK(m->ep >= EP_NONE && m->ep <= EP_STATUS);
    CHECK(m->ep != EP_STATUS || ext != 0);
    CHECK(m->allow != NULL);
    CHECK(memchr(m->name, '\0', sizeof m->name) != NULL);
    CHECK(memchr(m->nonce, '\0', sizeof m->nonce) != NULL);
    CHECK(m->name_len <= RR_NAME_MAX);
    CHECK(strlen(m->name) == m->name_len);
    CHECK(!m->name_too_long || m->name_len == 0);
    CHECK(!m->nonce_bad || m->nonce[0] == '\0');
    CHECK(m->ep == EP_ANSWER || (m->nonce[0] == '\0' && !m->nonce_bad));
    if (m->ep == EP_NONE) {
        CHECK(!m->method_ok && m->allow[0] == '\0' && m->name_len == 0 && !m->name_too_long);
    } else {
        r = row_of(m->ep);
        CHECK(r != NULL);
        CHECK(path != NULL && strncmp(path, "/v1/", 4) == 0);
        CHECK(strcmp(m->allow, r->allow) == 0 || (ext != 0 && m->ep <= EP_DEREGISTER));
        CHECK(m->auth == r->auth && m->parks == r->parks);
        CHECK(m->method_ok == (method != NULL && strcmp(method, r->method) == 0));
        if (m->method_ok)
            CHECK(strstr(m->allow, method) != NULL);
    }

    reference(method, path, ext, &want);
    CHECK(m->ep == want.ep);
    CHECK(m->method_ok == want.method_ok);
    CHECK(strcmp(m->allow, want.allow) == 0);
    CHECK(m->name_len == want.name_len && m->name_too_long == want.name_too_long);
    CHECK(memcmp(m->name, want.name, m->name_len + 1) == 0);
    CHECK(m->nonce_bad == want.nonce_bad && strcmp(m->nonce, want.nonce) == 0);

    route_match_ext(method, path, ext, &again);
    CHECK(memcmp(m, &again, sizeof again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct route_match m, e;
    char *method = NULL, *path;
    size_t sep;

    for (sep = 0; sep < size && data[sep] != '\0' && data[sep] != '\n'; sep++)
        ;
    if (sep < size) {
        const uint8_t *p = data + sep + 1;
        size_t n = size - sep - 1;
        const uint8_t *nul = memchr(p, '\0', n);
        method = dup_n(data, sep);
        path = dup_n(p, nul != NULL ? (size_t)(nul - p) : n);
    } else {
        path = dup_n(data, size);
    }
    if (path == NULL || (sep < size && method == NULL))
        goto out;

    route_match(method, path, &m);
    check_match(method, path, 0, &m);
    route_match_ext(method, path, 0, &e);
    CHECK(memcmp(&m, &e, sizeof e) == 0);
    route_match_ext(method, path, ROUTE_EXT_STATUS, &e);
    check_match(method, path, ROUTE_EXT_STATUS, &e);
    route_match(method, NULL, &m);
    CHECK(m.ep == EP_NONE);
out:
    free(method);
    free(path);
    return 0;
}
