/* body.h -- JSON request bodies in, JSON response bodies out.
 *
 * The only file that includes json-c is body.c. Everything here is pure and
 * thread-safe. Built strings are malloc'd, compact (no spaces), end with a
 * newline like Go's json.Encoder, and are the caller's to free().
 */
#ifndef RR_BODY_H
#define RR_BODY_H

#include <stddef.h>
#include "contract.h"

struct addr_list {
    int n;                                   /* 1..RR_ADDR_MAX when valid */
    char v[RR_ADDR_MAX][RR_ADDR_STRLEN];     /* each passes addr_valid() */
};

struct connect_body {
    struct addr_list addrs;
    char nonce[RR_NONCE_HEX + 1];            /* as given, case kept */
    char obfs[RR_OBFS_HEX + 1];              /* as given, case kept */
};

enum body_result {
    BODY_OK = 0,
    BODY_ABSENT = 1,     /* heartbeat only: empty body, "{}" or no "addresses": keep stored ones */
    BODY_BAD = -1,       /* err holds a one-line reason for the 400 message */
    BODY_NOMEM = -2      /* out of memory while parsing: a 503, never a 400 */
};

/* {"addresses":[...]} for register and connect answer: addresses required.
 * The body need not be NUL-terminated. Unknown members are ignored. */
enum body_result body_parse_addresses(const char *buf, size_t len,
                                      struct addr_list *out,
                                      char *err, size_t errlen);

/* Heartbeat: empty body (len 0 or only white space), {} or
 * {"addresses":[...]}. BODY_ABSENT when no addresses were given. */
enum body_result body_parse_heartbeat(const char *buf, size_t len,
                                      struct addr_list *out,
                                      char *err, size_t errlen);

/* Connect: {"addresses":[...],"nonce":"<32 hex>","obfs":"<64 hex>"}.
 * The error names the first failing field, checked in the order
 * JSON, addresses, nonce, obfs. */
enum body_result body_parse_connect(const char *buf, size_t len,
                                    struct connect_body *out,
                                    char *err, size_t errlen);

/* Parse a stored addresses JSON array (as made by body_addresses_json)
 * back into out. 0 or -1. */
int body_addresses_parse_json(const char *json, struct addr_list *out);

/* ["a","b"] with no newline: how addresses are stored and published. */
char *body_addresses_json(const struct addr_list *a);

/* {"session_id":"...","ttl":N}\n */
char *body_register_reply(const char *session_id, long ttl);
/* {"ttl":N}\n ; also the heartbeat_ack event data (without the newline:
 * see body_heartbeat_event). */
char *body_ttl_reply(long ttl);
/* {"ttl":N} with no newline, for the SSE data line. */
char *body_heartbeat_event(long ttl);
/* {"addresses":[...],"nonce":"...","obfs":"..."} with no newline: the punch
 * event data. addrs_json is a stored array as made by body_addresses_json. */
char *body_punch_event(const char *addrs_json, const char *nonce, const char *obfs);
/* {"addresses":[...],"nonce":"...","obfs":"..."}\n : the connect reply. */
char *body_connect_reply(const char *addrs_json, const char *nonce, const char *obfs);
/* {"error":"<code>","message":"<text>"}\n */
char *body_error(const char *code, const char *message);

#endif
