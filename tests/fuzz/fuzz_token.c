/* fuzz_token.c -- libFuzzer harness for the parsers of scoped tokens and
 * their records (token.c, token_json.c): what a client presents as a
 * bearer, what a panel posts to the admin API, and what comes back from
 * Redis as a record.
 *
 * Input: the first byte picks the parser, the rest is its input:
 *   0  token_parse: a bearer; on success the id and secret are the hex
 *      digits at their places and the form rebuilds the input exactly
 *   1  token_json_parse: an admin API body; on success token_check passes,
 *      token_json of the record is an object, and token_fields /
 *      token_from_fields round-trip it
 *   2  token_from_fields: TOKEN_FIELDS values split at NUL bytes (missing
 *      ones absent); on success token_fields gives the values back
 * A broken check aborts (a crash libFuzzer reports). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "token.h"
#include "token_json.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_token: check failed at %s:%d: %s\n",       \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bearer(const char *s, size_t n)
{
    char id[TOKEN_ID_HEX + 1], secret[TOKEN_SECRET_HEX + 1], again[TOKEN_LEN + 1];
    if (token_parse(s, n, id, secret) != 0)
        return;
    snprintf(again, sizeof(again), TOKEN_PREFIX "%s_%s", id, secret);
    CHECK(n == TOKEN_LEN && memcmp(again, s, n) == 0);
}

/* rec survives token_fields then token_from_fields unchanged. */
static void round_trip(const struct token_rec *rec)
{
    char bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF];
    const char *vals[TOKEN_FIELDS];
    size_t lens[TOKEN_FIELDS];
    struct token_rec back, copy = *rec;
    memset(copy.mac, 'a', TOKEN_MAC_HEX);             /* a record always has a mac */
    copy.mac[TOKEN_MAC_HEX] = '\0';
    token_fields(&copy, bufs, vals);
    for (int f = 0; f < TOKEN_FIELDS; f++)
        lens[f] = strlen(vals[f]);
    CHECK(token_from_fields(&back, copy.id, vals, lens) == 0);
    CHECK(memcmp(&back, &copy, sizeof(back)) == 0 || (strcmp(back.realm, copy.realm) == 0 &&
          strcmp(back.label, copy.label) == 0 && back.scope == copy.scope &&
          back.quota == copy.quota && back.expires == copy.expires && back.relay == copy.relay));
}

static void body(const char *s, size_t n)
{
    struct token_rec rec;
    char err[160];
    if (token_json_parse(s, n, 1700000000000LL, &rec, err, sizeof(err)) != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(token_check(&rec, err, sizeof(err)) == 0);
    struct json_object *o = token_json(&rec);
    CHECK(o != NULL && json_object_is_type(o, json_type_object));
    json_object_put(o);
    round_trip(&rec);
}

static void record(const char *s, size_t n)
{
    const char *vals[TOKEN_FIELDS] = { NULL };
    size_t lens[TOKEN_FIELDS] = { 0 };
    struct token_rec rec;
    size_t at = 0;
    for (int f = 0; f < TOKEN_FIELDS && at <= n; f++) {
        const char *nul = memchr(s + at, '\0', n - at);
        size_t len = nul ? (size_t)(nul - (s + at)) : n - at;
        vals[f] = s + at;
        lens[f] = len;
        at += len + 1;
    }
    if (token_from_fields(&rec, "0123456789ab", vals, lens) == 0)
        round_trip(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = malloc(size);                 /* exactly the input: ASan sees over-reads */
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0: bearer(s, size - 1); break;
    case 1: body(s, size - 1); break;
    default: record(s, size - 1); break;
    }
    free(s);
    return 0;
}
