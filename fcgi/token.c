/* token.c -- scoped tokens (see token.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "hex.h"
#include "number.h"
#include "token.h"

const char *const token_field_names[TOKEN_FIELDS] = {
    "mac", "scope", "realm", "prefix", "connect_realm", "connect_prefix",
    "quota", "expires", "created", "relay", "label",
};

int token_parse(const char *bearer, size_t len, char id[TOKEN_ID_HEX + 1],
                char secret[TOKEN_SECRET_HEX + 1])
{
    const size_t idat = 4, secat = 4 + TOKEN_ID_HEX + 1;
    if (bearer == NULL || len != TOKEN_LEN || memcmp(bearer, TOKEN_PREFIX, 4) != 0 ||
        bearer[secat - 1] != '_')
        return -1;
    memcpy(id, bearer + idat, TOKEN_ID_HEX);
    id[TOKEN_ID_HEX] = '\0';
    memcpy(secret, bearer + secat, TOKEN_SECRET_HEX);
    secret[TOKEN_SECRET_HEX] = '\0';
    return hex_check(id, TOKEN_ID_HEX, 1) && hex_check(secret, TOKEN_SECRET_HEX, 1) ? 0 : -1;
}

int token_mac(const char *key, size_t keylen, const char *secret, char mac[TOKEN_MAC_HEX + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)secret, TOKEN_SECRET_HEX,
             md, &mdlen) == NULL || mdlen * 2 != TOKEN_MAC_HEX)
        return -1;
    for (unsigned int k = 0; k < mdlen; k++)
        snprintf(mac + 2 * k, 3, "%02x", md[k]);
    return 0;
}

int token_mac_equal(const char *a, const char *b)
{
    return CRYPTO_memcmp(a, b, TOKEN_MAC_HEX) == 0;
}

int token_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
    unsigned int la = 0, lb = 0;
    if (a == NULL || b == NULL ||
        EVP_Digest(a, alen, da, &la, EVP_sha256(), NULL) != 1 ||
        EVP_Digest(b, blen, db, &lb, EVP_sha256(), NULL) != 1 || la != lb)
        return 0;
    return CRYPTO_memcmp(da, db, la) == 0;
}

int token_new(struct token_rec *rec, const char *key, size_t keylen, char out[TOKEN_LEN + 1])
{
    char secret[TOKEN_SECRET_HEX + 1];
    if (hex_random(rec->id, TOKEN_ID_HEX / 2) != 0 || hex_random(secret, TOKEN_SECRET_HEX / 2) != 0 ||
        token_mac(key, keylen, secret, rec->mac) != 0)
        return -1;
    snprintf(out, TOKEN_LEN + 1, TOKEN_PREFIX "%s_%s", rec->id, secret);
    OPENSSL_cleanse(secret, sizeof(secret));
    return 0;
}

unsigned token_scope_parse(const char *s)
{
    if (s == NULL)
        return 0;
    if (strcmp(s, "register") == 0)
        return TOKEN_REGISTER;
    if (strcmp(s, "connect") == 0)
        return TOKEN_CONNECT;
    if (strcmp(s, "both") == 0)
        return TOKEN_BOTH;
    return 0;
}

const char *token_scope_name(unsigned scope)
{
    return scope == TOKEN_REGISTER ? "register" : scope == TOKEN_CONNECT ? "connect"
         : scope == TOKEN_BOTH ? "both" : "none";
}

/* A name or prefix we can store and show: no spaces, control bytes or '|'. */
static int name_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= ' ' || *s == '|' || *s == 0x7f)
            return 0;
    return 1;
}

int token_check(const struct token_rec *rec, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (rec->scope < TOKEN_REGISTER || rec->scope > TOKEN_BOTH)
        bad = "a scope (register, connect or both) is required";
    else if (rec->realm[0] && rec->prefix[0])
        bad = "give a realm or a prefix, not both";
    else if (rec->connect_realm[0] && rec->connect_prefix[0])
        bad = "give a connect realm or a connect prefix, not both";
    else if ((rec->realm[0] || rec->prefix[0] || rec->quota) && !(rec->scope & TOKEN_REGISTER))
        bad = "a realm, prefix or quota needs the register scope";
    else if ((rec->connect_realm[0] || rec->connect_prefix[0]) && !(rec->scope & TOKEN_CONNECT))
        bad = "a connect realm or prefix needs the connect scope";
    else if (!name_ok(rec->realm) || !name_ok(rec->prefix) || !name_ok(rec->connect_realm) ||
             !name_ok(rec->connect_prefix))
        bad = "realm names and prefixes may not hold spaces, control characters or '|'";
    else if (rec->quota < 0)
        bad = "the quota is a number of realms, 0 for no limit";
    if (bad != NULL)
        snprintf(err, errlen, "%s", bad);
    return bad != NULL ? -1 : 0;
}

int token_duration_ms(const char *s, long long *out)
{
    static const struct { char unit; long mult; } units[] = {
        { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
    };
    size_t n = s ? strlen(s) : 0;
    long mult = 1, v;
    for (size_t k = 0; n > 0 && k < sizeof(units) / sizeof(units[0]); k++)
        if (s[n - 1] == units[k].unit) {
            mult = units[k].mult;
            n--;
            break;
        }
    if (number_parse(s, n, 1, 100L * 365 * 86400 / mult, &v) != 0)
        return -1;
    *out = (long long)v * mult * 1000;
    return 0;
}

void token_fields(const struct token_rec *rec, char bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF],
                  const char *vals[TOKEN_FIELDS])
{
    snprintf(bufs[0], TOKEN_FIELD_BUF, "%s", rec->mac);
    snprintf(bufs[1], TOKEN_FIELD_BUF, "%s", token_scope_name(rec->scope));
    snprintf(bufs[2], TOKEN_FIELD_BUF, "%s", rec->realm);
    snprintf(bufs[3], TOKEN_FIELD_BUF, "%s", rec->prefix);
    snprintf(bufs[4], TOKEN_FIELD_BUF, "%s", rec->connect_realm);
    snprintf(bufs[5], TOKEN_FIELD_BUF, "%s", rec->connect_prefix);
    snprintf(bufs[6], TOKEN_FIELD_BUF, "%ld", rec->quota);
    snprintf(bufs[7], TOKEN_FIELD_BUF, "%lld", rec->expires);
    snprintf(bufs[8], TOKEN_FIELD_BUF, "%lld", rec->created);
    snprintf(bufs[9], TOKEN_FIELD_BUF, "%d", rec->relay ? 1 : 0);
    snprintf(bufs[10], TOKEN_FIELD_BUF, "%s", rec->label);
    for (int k = 0; k < TOKEN_FIELDS; k++)
        vals[k] = bufs[k];
}

/* Copy the n bytes of v into out (cap bytes with the NUL). 0 or -1. */
static int copy_field(char *out, size_t cap, const char *v, size_t n)
{
    if (v == NULL || n >= cap)
        return -1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

int token_from_fields(struct token_rec *rec, const char *id, const char *const *vals,
                      const size_t *lens)
{
    char scope[16];
    long quota, relay, big;
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->id, sizeof(rec->id), "%s", id);
    if (copy_field(rec->mac, sizeof(rec->mac), vals[0], lens[0]) != 0 ||
        !hex_check(rec->mac, TOKEN_MAC_HEX, 1) ||
        copy_field(scope, sizeof(scope), vals[1], lens[1]) != 0 ||
        (rec->scope = token_scope_parse(scope)) == 0 ||
        copy_field(rec->realm, sizeof(rec->realm), vals[2], lens[2]) != 0 ||
        copy_field(rec->prefix, sizeof(rec->prefix), vals[3], lens[3]) != 0 ||
        copy_field(rec->connect_realm, sizeof(rec->connect_realm), vals[4], lens[4]) != 0 ||
        copy_field(rec->connect_prefix, sizeof(rec->connect_prefix), vals[5], lens[5]) != 0 ||
        vals[6] == NULL || number_parse(vals[6], lens[6], 0, 1000000000L, &quota) != 0 ||
        vals[7] == NULL || number_parse(vals[7], lens[7], 0, 0x7fffffffffffffffL, &big) != 0)
        return -1;
    rec->quota = quota;
    rec->expires = big;
    if (vals[8] == NULL || number_parse(vals[8], lens[8], 0, 0x7fffffffffffffffL, &big) != 0 ||
        vals[9] == NULL || number_parse(vals[9], lens[9], 0, 1, &relay) != 0 ||
        copy_field(rec->label, sizeof(rec->label), vals[10], lens[10]) != 0)
        return -1;
    rec->created = big;
    rec->relay = (int)relay;
    return 0;
}

/* name is the bound realm, or starts with the bound prefix; 1 if there is no binding. */
static int bound_to(const char *realm, const char *prefix, const char *name, int *bound)
{
    *bound = 0;
    if (realm[0])
        return (*bound = strcmp(realm, name) == 0);
    if (prefix[0])
        return (*bound = strncmp(prefix, name, strlen(prefix)) == 0);
    return 1;
}

static int live(const struct token_rec *rec, long long now_ms)
{
    return rec->expires == 0 || now_ms < rec->expires;
}

int token_may_register(const struct token_rec *rec, const char *name, long long now_ms,
                       int *bound)
{
    *bound = 0;
    return live(rec, now_ms) && (rec->scope & TOKEN_REGISTER) &&
           bound_to(rec->realm, rec->prefix, name, bound);
}

int token_may_connect(const struct token_rec *rec, const char *name, long long now_ms)
{
    int bound;
    return live(rec, now_ms) && (rec->scope & TOKEN_CONNECT) &&
           bound_to(rec->connect_realm, rec->connect_prefix, name, &bound);
}
