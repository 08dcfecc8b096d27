/* token_json.h -- a scoped token's record as JSON, both ways (pure): the
 * body of the admin API's POST /admin/v1/tokens, and what the admin API and
 * the admin tool show of a record (never its mac).
 *
 * In: {"scope":"register|connect|both", "realm":"...", "prefix":"...",
 *      "connect_realm":"...", "connect_prefix":"...", "quota":N,
 *      "expires":"30d" or seconds, "label":"...", "relay":true}
 * with scope required, the rest optional; unknown members are refused.
 */
#ifndef RR_TOKEN_JSON_H
#define RR_TOKEN_JSON_H

#include <stddef.h>
#include "token.h"

struct json_object;

/* Fill rec from the JSON body (len bytes) at now_ms (created, and expires
 * from "expires"), checked with token_check(). 0, or -1 with a line in err. */
int token_json_parse(const char *buf, size_t len, long long now_ms, struct token_rec *rec,
                     char *err, size_t errlen);

/* The record as a new JSON object (id, scope, bindings, quota, expires and
 * created in ms, relay, label; no mac), or NULL on out of memory. */
struct json_object *token_json(const struct token_rec *rec);

#endif
