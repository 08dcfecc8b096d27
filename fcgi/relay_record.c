/* relay_record.c -- parse the records of connect attempts that the
 * rendezvous keeps for the relays (sql/connect_begin.lua: hr:relay:att,
 * published on hr:relay) into a relay_spec (see relay_record.h).
 *
 * Pure; any thread. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "relay_record.h"

/* The string member key of o into *s (length *n). 0 or -1. */
static int json_str(struct json_object *o, const char *key, const char **s, size_t *n)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return -1;
    *s = json_object_get_string(v);
    *n = (size_t)json_object_get_string_len(v);
    return 0;
}

/* Add the IPs of the array member key of o to side of s (bad ones skipped). */
static int json_ips(struct json_object *o, const char *key, struct relay_spec *s,
                    enum relay_side_id side)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
        return -1;
    for (size_t k = 0; k < json_object_array_length(v); k++) {
        struct json_object *e = json_object_array_get_idx(v, k);
        if (json_object_is_type(e, json_type_string))
            relay_spec_add_ip(s, side, json_object_get_string(e));
    }
    return 0;
}

/* The number member key of o, in ms since the epoch, into *ms: an integer,
 * or a finite double (rounded toward zero) within +-2^62. 0 or -1. */
static int record_ms(struct json_object *o, const char *key, int64_t *ms)
{
    struct json_object *v;
    const double lim = 4611686018427387904.0;          /* 2^62 */

    if (!json_object_object_get_ex(o, key, &v))
        return -1;
    if (json_object_is_type(v, json_type_int)) {
        *ms = json_object_get_int64(v);
        return 0;
    }
    if (!json_object_is_type(v, json_type_double))
        return -1;
    double d = json_object_get_double(v);
    if (!isfinite(d) || d >= lim || d <= -lim)
        return -1;
    *ms = (int64_t)d;
    return 0;
}

/* Fill s from the parsed record o. 0, or -1 with err set. */
static int record_fields(struct json_object *o, struct relay_spec *s, char *err, size_t errlen)
{
    const char *str;
    size_t n;

    if (json_str(o, "nonce", &str, &n) != 0 || relay_hex_decode(str, n, s->nonce, PUNCH_NONCE_LEN) != 0)
        return snprintf(err, errlen, "nonce: not 32 lowercase hex digits"), -1;
    if (json_str(o, "obfs", &str, &n) != 0 || relay_hex_decode(str, n, s->obfs, PUNCH_KEY_LEN) != 0)
        return snprintf(err, errlen, "obfs: not 64 lowercase hex digits"), -1;
    if (json_str(o, "realm", &str, &n) != 0 || n == 0 || n >= RELAY_REALM_MAX
        || memchr(str, '\0', n) != NULL)
        return snprintf(err, errlen, "realm: not a name"), -1;
    memcpy(s->realm, str, n);
    s->realm[n] = '\0';
    if (record_ms(o, "expires", &s->expires_ms) != 0)
        return snprintf(err, errlen, "expires: not a number of milliseconds"), -1;
    if (json_ips(o, "client_ips", s, RELAY_CLIENT) != 0 || json_ips(o, "holder_ips", s, RELAY_HOLDER) != 0)
        return snprintf(err, errlen, "client_ips, holder_ips: not arrays"), -1;
    if (s->nips[RELAY_CLIENT] == 0 || s->nips[RELAY_HOLDER] == 0)
        return snprintf(err, errlen, "client_ips, holder_ips: no IP on a side"), -1;
    return 0;
}

int relay_record_parse(const char *json, size_t len, struct relay_spec *s,
                       char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = NULL;
    int rc = -1;

    memset(s, 0, sizeof *s);
    if (tok == NULL || len > 65536) {
        snprintf(err, errlen, tok == NULL ? "out of memory" : "record too long");
        goto out;
    }
    o = json_tokener_parse_ex(tok, json, (int)len);
    if (o == NULL || json_tokener_get_error(tok) != json_tokener_success
        || !json_object_is_type(o, json_type_object)) {
        snprintf(err, errlen, "not a JSON object");
        goto out;
    }
    rc = record_fields(o, s, err, errlen);
out:
    json_object_put(o);
    if (tok != NULL)
        json_tokener_free(tok);
    return rc;
}

