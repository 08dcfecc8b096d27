/* body.c -- JSON request bodies in, JSON response bodies out.
 *
 * The only file that includes json-c. Pure and thread-safe: every call has
 * its own tokener and objects. Parsing is strict JSON (no comments, no
 * trailing commas), nesting at most BODY_DEPTH, one value per body. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "body.h"
#include "hex.h"

#define BODY_DEPTH 32

/* 1 for the white space JSON allows between tokens. */
static int body_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 1 if the len bytes at buf are all white space (or len is 0). */
static int body_is_blank(const char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (!body_is_ws(buf[i]))
            return 0;
    return 1;
}

/* 1 if the body starts with the JSON literal null (after white space). */
static int body_is_null(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!body_is_ws(buf[i]))
            return len - i >= 4 && memcmp(buf + i, "null", 4) == 0;
    return 0;
}

/* 1 if the body is "{}" with only white space around and between. */
static int body_is_empty_object(const char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && body_is_ws(buf[i]))
        i++;
    if (i == len || buf[i++] != '{')
        return 0;
    while (i < len && body_is_ws(buf[i]))
        i++;
    if (i == len || buf[i++] != '}')
        return 0;
    return body_is_blank(buf + i, len - i);
}

/* What json-c's error code means, for a 400 message. */
static const char *body_json_error(enum json_tokener_error e)
{
    if (e == json_tokener_continue)
        return "unexpected end of data";
    return json_tokener_error_desc(e);
}

/* Parse the len bytes at buf as exactly one JSON value (white space may
 * follow). The value, or NULL with a reason in err. */
static struct json_object *body_parse_value(const char *buf, size_t len,
                                            char *err, size_t errlen,
                                            enum body_result *fail)
{
    struct json_tokener *tok;
    struct json_object *v = NULL;
    enum json_tokener_error e;

    *fail = BODY_BAD;
    if (buf == NULL || len > RR_BODY_MAX || body_is_blank(buf, len)) {
        snprintf(err, errlen, len > RR_BODY_MAX ? "body too large" : "empty body");
        return NULL;
    }
    tok = json_tokener_new_ex(BODY_DEPTH);
    if (tok == NULL) {
        snprintf(err, errlen, "out of memory");
        *fail = BODY_NOMEM;
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    v = json_tokener_parse_ex(tok, buf, (int)len);
    e = json_tokener_get_error(tok);
    if (v == NULL || e != json_tokener_success) {
        /* json-c 0.16 has no error code for memory: a failure with no
         * parse error is an allocation that failed, unless the value
         * was a JSON null (also NULL, with success). */
        if (v == NULL && e == json_tokener_success && !body_is_null(buf, len))
            *fail = BODY_NOMEM;
        if (v == NULL && e == json_tokener_success && *fail != BODY_NOMEM)
            snprintf(err, errlen, "invalid JSON: null is not an object");
        else
            snprintf(err, errlen, "invalid JSON: %s", body_json_error(e));
        json_object_put(v);
        v = NULL;
    } else if (!body_is_blank(buf + json_tokener_get_parse_end(tok),
                              len - json_tokener_get_parse_end(tok))) {
        snprintf(err, errlen, "invalid JSON: data after the value");
        json_object_put(v);
        v = NULL;
    }
    json_tokener_free(tok);
    return v;
}

/* Parse the body as a JSON object. The object, or NULL with err set. */
static struct json_object *body_parse_object(const char *buf, size_t len,
                                             char *err, size_t errlen,
                                             enum body_result *fail)
{
    struct json_object *v = body_parse_value(buf, len, err, errlen, fail);

    if (v != NULL && !json_object_is_type(v, json_type_object)) {
        snprintf(err, errlen, "invalid JSON: the body must be an object");
        json_object_put(v);
        return NULL;
    }
    return v;
}

/* The string value of v if it is a string with no NUL in it, else NULL;
 * *len gets its length. */
static const char *body_string(struct json_object *v, size_t *len)
{
    const char *s;
    int n;

    if (!json_object_is_type(v, json_type_string))
        return NULL;
    s = json_object_get_string(v);
    n = json_object_get_string_len(v);
    if (s == NULL || n < 0 || strlen(s) != (size_t)n)
        return NULL;
    *len = (size_t)n;
    return s;
}

/* Fill out from the JSON array arr: 1..RR_ADDR_MAX strings, each passing
 * addr_valid(). 0, or -1 with a reason in err. */
static int body_fill_list(struct json_object *arr, struct addr_list *out,
                          char *err, size_t errlen)
{
    size_t i, n, slen;

    if (!json_object_is_type(arr, json_type_array)) {
        snprintf(err, errlen, "addresses must be an array of 1 to %d addresses", RR_ADDR_MAX);
        return -1;
    }
    n = json_object_array_length(arr);
    if (n < 1 || n > RR_ADDR_MAX) {
        snprintf(err, errlen, "addresses must hold 1 to %d addresses", RR_ADDR_MAX);
        return -1;
    }
    for (i = 0; i < n; i++) {
        const char *s = body_string(json_object_array_get_idx(arr, i), &slen);
        if (s == NULL || !addr_valid(s)) {
            snprintf(err, errlen, "addresses[%zu] is not an IP:port address", i);
            return -1;
        }
        memcpy(out->v[i], s, slen + 1);
    }
    out->n = (int)n;
    return 0;
}

/* Read the "addresses" member of root into out. BODY_OK; BODY_ABSENT if it
 * is missing or null and not required; BODY_BAD with err set. */
static enum body_result body_get_addresses(struct json_object *root, int required,
                                           struct addr_list *out,
                                           char *err, size_t errlen)
{
    struct json_object *arr = NULL;

    if (!json_object_object_get_ex(root, "addresses", &arr) || arr == NULL) {
        if (!required)
            return BODY_ABSENT;
        snprintf(err, errlen, "addresses is required");
        return BODY_BAD;
    }
    return body_fill_list(arr, out, err, errlen) == 0 ? BODY_OK : BODY_BAD;
}

/* {"addresses":[...]}: register and connect answer. */
enum body_result body_parse_addresses(const char *buf, size_t len,
                                      struct addr_list *out,
                                      char *err, size_t errlen)
{
    enum body_result r;
    struct json_object *root = body_parse_object(buf, len, err, errlen, &r);

    if (root == NULL)
        return r;
    r = body_get_addresses(root, 1, out, err, errlen);
    json_object_put(root);
    return r;
}

/* Heartbeat: empty body, {} or {"addresses":[...]}. */
enum body_result body_parse_heartbeat(const char *buf, size_t len,
                                      struct addr_list *out,
                                      char *err, size_t errlen)
{
    struct json_object *root;
    enum body_result r;

    if (buf == NULL || body_is_blank(buf, len))
        return BODY_ABSENT;
    if (body_is_empty_object(buf, len))
        return BODY_ABSENT;      /* what Hysteria sends: no parser needed */
    root = body_parse_object(buf, len, err, errlen, &r);
    if (root == NULL)
        return r;
    r = body_get_addresses(root, 0, out, err, errlen);
    json_object_put(root);
    return r;
}

/* Copy the member key of root, which must be a string of exactly n hex
 * digits, into out (n + 1 bytes). 0, or -1 with err set. */
static int body_get_hex(struct json_object *root, const char *key, size_t n,
                        char *out, char *err, size_t errlen)
{
    struct json_object *v = NULL;
    const char *s = NULL;
    size_t slen = 0;

    if (json_object_object_get_ex(root, key, &v) && v != NULL)
        s = body_string(v, &slen);
    if (s == NULL || slen != n || !hex_check(s, n, 0)) {
        snprintf(err, errlen, "%s must be a string of %zu hex digits", key, n);
        return -1;
    }
    memcpy(out, s, n + 1);
    return 0;
}

/* Connect: {"addresses":[...],"nonce":"<32 hex>","obfs":"<64 hex>"}. */
enum body_result body_parse_connect(const char *buf, size_t len,
                                    struct connect_body *out,
                                    char *err, size_t errlen)
{
    enum body_result r;
    struct json_object *root = body_parse_object(buf, len, err, errlen, &r);

    if (root == NULL)
        return r;
    r = BODY_BAD;
    if (body_get_addresses(root, 1, &out->addrs, err, errlen) == BODY_OK
        && body_get_hex(root, "nonce", RR_NONCE_HEX, out->nonce, err, errlen) == 0
        && body_get_hex(root, "obfs", RR_OBFS_HEX, out->obfs, err, errlen) == 0)
        r = BODY_OK;
    json_object_put(root);
    return r;
}

/* Parse a stored addresses array back into out. 0 or -1. */
int body_addresses_parse_json(const char *json, struct addr_list *out)
{
    char err[128];
    struct json_object *arr;
    enum body_result why;
    int rc;

    if (json == NULL)
        return -1;
    arr = body_parse_value(json, strlen(json), err, sizeof err, &why);
    if (arr == NULL)
        return -1;
    rc = body_fill_list(arr, out, err, sizeof err);
    json_object_put(arr);
    return rc;
}

/* Serialise o compactly into a malloc'd string, with "\n" if newline, and
 * release o. NULL if o is NULL or out of memory. */
static char *body_dump(struct json_object *o, int newline)
{
    const char *s;
    size_t n;
    char *out = NULL;

    if (o == NULL)
        return NULL;
    s = json_object_to_json_string_length(o,
            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    if (s != NULL)
        out = malloc(n + 2);
    if (out != NULL) {
        memcpy(out, s, n);
        if (newline)
            out[n++] = '\n';
        out[n] = '\0';
    }
    json_object_put(o);
    return out;
}

/* Add key: v to obj, taking v (which may be NULL: out of memory). 0 or -1. */
static int body_add(struct json_object *obj, const char *key, struct json_object *v)
{
    if (v == NULL)
        return -1;
    if (json_object_object_add(obj, key, v) != 0) {
        json_object_put(v);
        return -1;
    }
    return 0;
}

/* Add key: string s to obj. 0 or -1. */
static int body_add_string(struct json_object *obj, const char *key, const char *s)
{
    return s == NULL ? -1 : body_add(obj, key, json_object_new_string(s));
}

/* Add key: integer n to obj. 0 or -1. */
static int body_add_int(struct json_object *obj, const char *key, long n)
{
    return body_add(obj, key, json_object_new_int64(n));
}

/* ["a","b"] with no newline. */
char *body_addresses_json(const struct addr_list *a)
{
    struct json_object *arr;
    int i;

    if (a == NULL || a->n < 0 || a->n > RR_ADDR_MAX)
        return NULL;
    arr = json_object_new_array();
    for (i = 0; arr != NULL && i < a->n; i++) {
        struct json_object *v = json_object_new_string(a->v[i]);
        if (v == NULL || json_object_array_add(arr, v) != 0) {
            json_object_put(v);
            json_object_put(arr);
            arr = NULL;
        }
    }
    return body_dump(arr, 0);
}

/* {"session_id":"...","ttl":N}\n */
char *body_register_reply(const char *session_id, long ttl)
{
    struct json_object *o = json_object_new_object();

    if (o != NULL && (body_add_string(o, "session_id", session_id) != 0
                      || body_add_int(o, "ttl", ttl) != 0)) {
        json_object_put(o);
        o = NULL;
    }
    return body_dump(o, 1);
}

/* {"ttl":N} with or without the newline. */
static char *body_ttl(long ttl, int newline)
{
    struct json_object *o = json_object_new_object();

    if (o != NULL && body_add_int(o, "ttl", ttl) != 0) {
        json_object_put(o);
        o = NULL;
    }
    return body_dump(o, newline);
}

/* {"ttl":N}\n */
char *body_ttl_reply(long ttl)
{
    return body_ttl(ttl, 1);
}

/* {"ttl":N} */
char *body_heartbeat_event(long ttl)
{
    return body_ttl(ttl, 0);
}

/* {"addresses":<addrs_json>,"nonce":"...","obfs":"..."} with or without the
 * newline; NULL if addrs_json is not a JSON array. */
static char *body_punch(const char *addrs_json, const char *nonce,
                        const char *obfs, int newline)
{
    char err[128];
    struct json_object *o, *arr;
    enum body_result why;

    if (addrs_json == NULL)
        return NULL;
    arr = body_parse_value(addrs_json, strlen(addrs_json), err, sizeof err, &why);
    if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
        json_object_put(arr);
        return NULL;
    }
    o = json_object_new_object();
    if (o == NULL || json_object_object_add(o, "addresses", arr) != 0) {
        json_object_put(arr);
        json_object_put(o);
        return NULL;
    }
    if (body_add_string(o, "nonce", nonce) != 0
        || body_add_string(o, "obfs", obfs) != 0) {
        json_object_put(o);
        return NULL;
    }
    return body_dump(o, newline);
}

/* The punch event data (no newline). */
char *body_punch_event(const char *addrs_json, const char *nonce, const char *obfs)
{
    return body_punch(addrs_json, nonce, obfs, 0);
}

/* The connect reply (with the newline). */
char *body_connect_reply(const char *addrs_json, const char *nonce, const char *obfs)
{
    return body_punch(addrs_json, nonce, obfs, 1);
}

/* {"error":"<code>","message":"<text>"}\n */
char *body_error(const char *code, const char *message)
{
    struct json_object *o = json_object_new_object();

    if (o != NULL && (body_add_string(o, "error", code) != 0
                      || body_add_string(o, "message", message != NULL ? message : "") != 0)) {
        json_object_put(o);
        o = NULL;
    }
    return body_dump(o, 1);
}
