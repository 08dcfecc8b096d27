/* route.c -- the route table: method and raw path to endpoint (pure).
 *
 * Any thread. The table lists every endpoint once with its method, the path
 * after "/v1/{id}", the kind of auth and whether the request parks in the
 * event loop. Rows with the same path must be adjacent and share "allow".
 * A row of an extension (ext != 0) is there only when the caller turns
 * that extension on; its path then allows allow_ext instead. */
#include <string.h>

#include "hex.h"
#include "route.h"

struct route_row {
    const char *method;
    const char *suffix;        /* path after "/v1/{id}"; "{nonce}" is a wildcard */
    enum route_endpoint ep;
    enum route_auth auth;
    int parks;
    const char *allow;         /* every method of rows with this suffix */
    unsigned ext;              /* ROUTE_EXT_* that adds this row, or 0 */
    const char *allow_ext;     /* "allow" with every extension of this suffix on */
};

static const struct route_row route_table[] = {
    { "GET", "", EP_STATUS, AUTH_TOKEN, 0, "POST, DELETE", ROUTE_EXT_STATUS, "GET, POST, DELETE" },
    { "POST", "", EP_REGISTER, AUTH_TOKEN, 0, "POST, DELETE", 0, "GET, POST, DELETE" },
    { "DELETE", "", EP_DEREGISTER, AUTH_SESSION, 0, "POST, DELETE", 0, "GET, POST, DELETE" },
    { "GET", "/events", EP_EVENTS, AUTH_SESSION, 1, "GET", 0, NULL },
    { "POST", "/heartbeat", EP_HEARTBEAT, AUTH_SESSION, 0, "POST", 0, NULL },
    { "POST", "/connect", EP_CONNECT, AUTH_TOKEN, 1, "POST", 0, NULL },
    { "POST", "/connects/{nonce}", EP_ANSWER, AUTH_SESSION, 0, "POST", 0, NULL },
};

#define ROUTE_PREFIX "/v1/"
#define ROUTE_NONCE "{nonce}"

enum route_decode { DECODE_OK = 0, DECODE_BAD = -1, DECODE_LONG = -2 };

/* Percent-decode the n bytes at src into out (room for cap bytes and a NUL);
 * *outlen gets the decoded length. DECODE_BAD for an invalid escape, an
 * encoded NUL or an encoded '/'; DECODE_LONG if it does not fit. */
static enum route_decode route_decode(const char *src, size_t n, char *out,
                                      size_t cap, size_t *outlen)
{
    size_t i = 0, o = 0;

    *outlen = 0;
    while (i < n) {
        char c = src[i++];
        if (c == '%') {
            int hi = i < n ? hex_value(src[i]) : -1;
            int lo = i + 1 < n ? hex_value(src[i + 1]) : -1;
            if (hi < 0 || lo < 0)
                return DECODE_BAD;
            c = (char)(hi * 16 + lo);
            if (c == '\0' || c == '/')
                return DECODE_BAD;
            i += 2;
        }
        if (o >= cap)
            return DECODE_LONG;
        out[o++] = c;
    }
    out[o] = '\0';
    *outlen = o;
    return DECODE_OK;
}

/* Decode the {id} segment (n bytes at seg) into m. */
static void route_set_name(struct route_match *m, const char *seg, size_t n)
{
    size_t len;
    enum route_decode d = route_decode(seg, n, m->name, RR_NAME_MAX, &len);

    m->name_len = d == DECODE_OK ? len : 0;
    m->name_too_long = d == DECODE_LONG;
    if (d != DECODE_OK)
        m->name[0] = '\0';
}

/* Decode the {nonce} segment (n bytes at seg) into m. */
static void route_set_nonce(struct route_match *m, const char *seg, size_t n)
{
    size_t len;

    m->nonce_bad = 0;
    if (route_decode(seg, n, m->nonce, sizeof m->nonce - 1, &len) != DECODE_OK) {
        m->nonce[0] = '\0';
        m->nonce_bad = 1;
    }
}

/* Length of the segment starting at s (up to the next '/' or end). */
static size_t route_seg_len(const char *s, const char *end)
{
    const char *slash = memchr(s, '/', (size_t)(end - s));

    return (size_t)((slash != NULL ? slash : end) - s);
}

/* 1 if the raw path from rest to end (everything after the {id} segment)
 * has the shape of suffix: literal segments equal once decoded, "{nonce}"
 * any one segment (decoded into m when m is not NULL). Else 0. */
static int route_suffix_match(const char *suffix, const char *rest,
                              const char *end, struct route_match *m)
{
    const char *send = suffix + strlen(suffix);
    char lit[32];
    size_t len;

    while (suffix < send && rest < end && *suffix == '/' && *rest == '/') {
        size_t s_n = route_seg_len(suffix + 1, send);
        size_t r_n = route_seg_len(rest + 1, end);

        if (s_n == strlen(ROUTE_NONCE) && memcmp(suffix + 1, ROUTE_NONCE, s_n) == 0) {
            if (m != NULL)
                route_set_nonce(m, rest + 1, r_n);
        } else if (route_decode(rest + 1, r_n, lit, sizeof lit - 1, &len) != DECODE_OK
                   || len != s_n || memcmp(lit, suffix + 1, len) != 0) {
            return 0;
        }
        suffix += 1 + s_n;
        rest += 1 + r_n;
    }
    return suffix == send && rest == end;
}

/* Fill m from table row r; method_ok says whether the method matched. */
static void route_take(struct route_match *m, const struct route_row *r, int method_ok,
                       unsigned ext)
{
    m->ep = r->ep;
    m->method_ok = method_ok;
    m->allow = ext != 0 && r->allow_ext != NULL ? r->allow_ext : r->allow;
    m->auth = r->auth;
    m->parks = r->parks;
}

/* The table row for method and the path after the {id} segment: the row
 * of that path and method, else the first row of that path (*method_ok 0),
 * else NULL. */
static const struct route_row *route_find(const char *method, const char *rest,
                                          const char *end, unsigned ext, int *method_ok)
{
    const struct route_row *known = NULL;
    size_t i;

    *method_ok = 0;
    for (i = 0; i < sizeof route_table / sizeof route_table[0]; i++) {
        const struct route_row *r = &route_table[i];
        if ((r->ext & ext) != r->ext || !route_suffix_match(r->suffix, rest, end, NULL))
            continue;
        if (method != NULL && strcmp(method, r->method) == 0) {
            *method_ok = 1;
            return r;
        }
        if (known == NULL)
            known = r;
    }
    return known;
}

/* Match method and the raw path (no query string) against the table.
 * m->ep == EP_NONE: 404; m->method_ok == 0: 405 with m->allow. */
void route_match(const char *method, const char *path, struct route_match *m)
{
    route_match_ext(method, path, 0, m);
}

void route_match_ext(const char *method, const char *path, unsigned ext, struct route_match *m)
{
    const struct route_row *r;
    const char *id, *rest, *end;
    int method_ok;

    memset(m, 0, sizeof *m);
    m->ep = EP_NONE;
    m->allow = "";
    if (path == NULL || strncmp(path, ROUTE_PREFIX, strlen(ROUTE_PREFIX)) != 0)
        return;
    id = path + strlen(ROUTE_PREFIX);
    end = strchr(id, '?');     /* defensive: the caller strips the query */
    if (end == NULL)
        end = id + strlen(id);
    rest = id + route_seg_len(id, end);
    r = route_find(method, rest, end, ext, &method_ok);
    if (r == NULL)
        return;
    route_take(m, r, method_ok, ext);
    (void)route_suffix_match(r->suffix, rest, end, m);   /* fills the nonce */
    route_set_name(m, id, (size_t)(rest - id));
}
