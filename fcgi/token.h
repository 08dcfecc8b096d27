/* token.h -- scoped tokens: their form, their keyed hash, their record, and
 * what each allows (pure but token_new, which draws randomness).
 *
 * A scoped token is "hrt_<id>_<secret>": id 12 lowercase hex digits (the
 * name of its record), secret 32 (128 random bits). Redis keeps, in
 * hr:tok:<id>, only mac = HMAC-SHA256(token key, secret) as hex, never the
 * secret, so a dump of Redis or its AOF holds nothing that authenticates:
 * the token key (--token-key-file) lives on the hosts of the workers and
 * of the admin tool only. A presented token's mac is compared with the
 * stored one with CRYPTO_memcmp over the fixed 64 digits.
 *
 * The configured shared token is not one of these: it keeps every scope
 * and no binding, as before.
 */
#ifndef RR_TOKEN_H
#define RR_TOKEN_H

#include <stddef.h>

#define TOKEN_PREFIX "hrt_"
#define TOKEN_ID_HEX 12
#define TOKEN_SECRET_HEX 32
#define TOKEN_LEN (4 + TOKEN_ID_HEX + 1 + TOKEN_SECRET_HEX)
#define TOKEN_MAC_HEX 64
#define TOKEN_LABEL_MAX 128
#define TOKEN_NAME_MAX 255              /* a realm name or prefix (RR_NAME_MAX) */

enum token_scope { TOKEN_REGISTER = 1, TOKEN_CONNECT = 2, TOKEN_BOTH = 3 };

/* What a token allows. Empty strings: no binding. */
struct token_rec {
    char id[TOKEN_ID_HEX + 1];
    char mac[TOKEN_MAC_HEX + 1];
    unsigned scope;                     /* TOKEN_REGISTER | TOKEN_CONNECT */
    char realm[TOKEN_NAME_MAX + 1];     /* may register exactly this name */
    char prefix[TOKEN_NAME_MAX + 1];    /* may register names starting with this */
    char connect_realm[TOKEN_NAME_MAX + 1];
    char connect_prefix[TOKEN_NAME_MAX + 1];
    long quota;                         /* live realms registered with it; 0 = no limit */
    long long expires;                  /* ms since the epoch; 0 = never */
    long long created;                  /* ms since the epoch */
    int relay;                          /* connects with it may be given the relay */
    char label[TOKEN_LABEL_MAX + 1];
};

/* The fields of a record, in the order token_fields() and token_from_fields()
 * use (HSET / HMGET of hr:tok:<id>). */
#define TOKEN_FIELDS 11
extern const char *const token_field_names[TOKEN_FIELDS];

/* Split a presented bearer of len bytes into id and secret (both copied,
 * NUL-terminated). 0, or -1 if it is not of the form above. */
int token_parse(const char *bearer, size_t len, char id[TOKEN_ID_HEX + 1],
                char secret[TOKEN_SECRET_HEX + 1]);

/* mac of secret under key (keylen bytes) as 64 lowercase hex digits. 0 or -1. */
int token_mac(const char *key, size_t keylen, const char *secret, char mac[TOKEN_MAC_HEX + 1]);

/* 1 if the two 64-digit macs are equal, in time independent of where they differ. */
int token_mac_equal(const char *a, const char *b);

/* 1 if secret a (alen bytes) equals b (blen bytes): their SHA-256 digests
 * compared in constant time, so neither where they differ nor the length
 * of a leaks. For the shared and the admin token. */
int token_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* A new token for rec: draws id and secret, writes "hrt_<id>_<secret>" into
 * out and rec->id / rec->mac. 0, or -1 (no randomness, or HMAC failed). */
int token_new(struct token_rec *rec, const char *key, size_t keylen, char out[TOKEN_LEN + 1]);

/* Check rec as made from options or JSON: a scope; --realm or --prefix at
 * most one, only with the register scope; likewise the connect bindings
 * with the connect scope; names without spaces, control bytes or '|'.
 * 0, or -1 with a line in err. */
int token_check(const struct token_rec *rec, char *err, size_t errlen);

/* "register", "connect", "both" <-> TOKEN_*; 0 for anything else. */
unsigned token_scope_parse(const char *s);
const char *token_scope_name(unsigned scope);

/* A duration "30d", "12h", "15m", "90s" or a bare number of seconds, in
 * milliseconds. 0, or -1 if not one (or zero, or over 100 years). */
int token_duration_ms(const char *s, long long *out);

/* The record as TOKEN_FIELDS values (strings in bufs, pointers in vals),
 * in token_field_names order; the id is not a field. */
#define TOKEN_FIELD_BUF 272
void token_fields(const struct token_rec *rec, char bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF],
                  const char *vals[TOKEN_FIELDS]);

/* Fill rec (id given) from the values of an HMGET of token_field_names
 * (vals[k] NULL for a missing field, lens[k] its length). 0, or -1 if the
 * record is missing or damaged. */
int token_from_fields(struct token_rec *rec, const char *id, const char *const *vals,
                      const size_t *lens);

/* What rec allows for realm name at now_ms (0 for no). Register also
 * reports whether the name is bound to the token (an owner's re-claim). */
int token_may_register(const struct token_rec *rec, const char *name, long long now_ms,
                       int *bound);
int token_may_connect(const struct token_rec *rec, const char *name, long long now_ms);

#endif
