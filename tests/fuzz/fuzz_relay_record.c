/* fuzz_relay_record.c -- libFuzzer harness for the relays' attempt records
 * (fcgi/relay_record.c).
 *
 * Input: the record (JSON text, not NUL-terminated). On failure the error
 * is one non-empty line within its buffer. On success the spec is sound
 * (a realm of 1..RR_NAME_MAX bytes without a NUL, 1..RELAY_IPS_MAX IPs a
 * side), and the record written back from it (lowercase hex, the IPs as
 * inet_ntop prints them) parses to the same spec. A broken invariant
 * aborts. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "relay_record.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_relay_record: check failed at %s:%d: %s\n", \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t k = 0; k < n; k++)
        snprintf(out + 2 * k, 3, "%02x", p[k]);
}

/* The IPs of side of s as a JSON array of their texts. */
static struct json_object *ips(const struct relay_spec *s, enum relay_side_id side)
{
    struct json_object *a = json_object_new_array();
    char text[INET6_ADDRSTRLEN];

    for (size_t k = 0; a != NULL && k < s->nips[side]; k++) {
        const uint8_t *ip = s->ips[side][k];
        static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        int is4 = memcmp(ip, v4, 12) == 0;
        CHECK(inet_ntop(is4 ? AF_INET : AF_INET6, is4 ? ip + 12 : ip, text, sizeof text) != NULL);
        json_object_array_add(a, json_object_new_string(text));
    }
    return a;
}

/* s written as a record. */
static char *write_back(const struct relay_spec *s)
{
    char n[2 * PUNCH_NONCE_LEN + 1], o[2 * PUNCH_KEY_LEN + 1];
    struct json_object *r = json_object_new_object();

    hex(s->nonce, PUNCH_NONCE_LEN, n);
    hex(s->obfs, PUNCH_KEY_LEN, o);
    json_object_object_add(r, "nonce", json_object_new_string(n));
    json_object_object_add(r, "obfs", json_object_new_string(o));
    json_object_object_add(r, "realm", json_object_new_string(s->realm));
    json_object_object_add(r, "expires", json_object_new_int64(s->expires_ms));
    json_object_object_add(r, "client_ips", ips(s, RELAY_CLIENT));
    json_object_object_add(r, "holder_ips", ips(s, RELAY_HOLDER));
    char *text = strdup(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN));
    json_object_put(r);
    CHECK(text != NULL);
    return text;
}

static int same(const struct relay_spec *a, const struct relay_spec *b)
{
    return memcmp(a->nonce, b->nonce, sizeof a->nonce) == 0
           && memcmp(a->obfs, b->obfs, sizeof a->obfs) == 0
           && strcmp(a->realm, b->realm) == 0 && a->expires_ms == b->expires_ms
           && a->nips[0] == b->nips[0] && a->nips[1] == b->nips[1]
           && memcmp(a->ips, b->ips, sizeof a->ips) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct relay_spec s, again;
    char err[128];

    memset(err, 'x', sizeof err);
    if (relay_record_parse((const char *)data, size, &s, err, sizeof err) != 0) {
        size_t len = strnlen(err, sizeof err);
        CHECK(len > 0 && len < sizeof err && strchr(err, '\n') == NULL);
        return 0;
    }
    size_t rlen = strnlen(s.realm, sizeof s.realm);
    CHECK(rlen >= 1 && rlen <= RR_NAME_MAX);
    for (int side = 0; side < 2; side++)
        CHECK(s.nips[side] >= 1 && s.nips[side] <= RELAY_IPS_MAX);
    char *text = write_back(&s);
    CHECK(relay_record_parse(text, strlen(text), &again, err, sizeof err) == 0);
    CHECK(same(&s, &again));
    free(text);
    return 0;
}
