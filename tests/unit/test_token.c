/* test_token.c -- scoped tokens (token.c): form, keyed hash, record, scopes. */
#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "token.h"
#include "unit.h"

#define GOOD_ID "0123456789ab"
#define GOOD_SECRET "0123456789abcdef0123456789abcdef"
#define GOOD_TOKEN "hrt_" GOOD_ID "_" GOOD_SECRET

/* token_parse of a NUL-terminated string. */
static int parse(const char *s, char *id, char *secret)
{
    return token_parse(s, strlen(s), id, secret);
}

/* A valid record: register and connect, no binding, no expiry. */
static void rec_base(struct token_rec *rec)
{
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->id, sizeof(rec->id), "%s", GOOD_ID);
    memset(rec->mac, 'a', TOKEN_MAC_HEX);
    rec->scope = TOKEN_BOTH;
    rec->relay = 1;
}

/* -- token_parse ----------------------------------------------------------- */

TEST(token_parse_good)
{
    char id[TOKEN_ID_HEX + 1], secret[TOKEN_SECRET_HEX + 1];
    ASSERT_EQ_INT(49, TOKEN_LEN);
    ASSERT_EQ_INT(TOKEN_LEN, (int)strlen(GOOD_TOKEN));
    ASSERT_EQ_INT(0, parse(GOOD_TOKEN, id, secret));
    ASSERT_EQ_STR(GOOD_ID, id);
    ASSERT_EQ_STR(GOOD_SECRET, secret);
    /* only len bytes are read: a longer buffer with the token first */
    ASSERT_EQ_INT(0, token_parse(GOOD_TOKEN "trailing", TOKEN_LEN, id, secret));
    ASSERT_EQ_STR(GOOD_SECRET, secret);
}

TEST(token_parse_wrong_prefix)
{
    char id[TOKEN_ID_HEX + 1], secret[TOKEN_SECRET_HEX + 1];
    ASSERT_EQ_INT(-1, parse("hrx_" GOOD_ID "_" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("HRT_" GOOD_ID "_" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("xhrt" GOOD_ID "_" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("hrt-" GOOD_ID "_" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, token_parse(NULL, TOKEN_LEN, id, secret));
}

TEST(token_parse_wrong_lengths)
{
    char id[TOKEN_ID_HEX + 1], secret[TOKEN_SECRET_HEX + 1];
    ASSERT_EQ_INT(-1, parse("", id, secret));
    ASSERT_EQ_INT(-1, parse("hrt_", id, secret));
    ASSERT_EQ_INT(-1, parse(GOOD_TOKEN "0", id, secret));                    /* secret 33 */
    ASSERT_EQ_INT(-1, token_parse(GOOD_TOKEN, TOKEN_LEN - 1, id, secret));   /* secret 31 */
    ASSERT_EQ_INT(-1, parse("hrt_0123456789a_" GOOD_SECRET "0", id, secret)); /* id 11, same length */
    ASSERT_EQ_INT(-1, parse("hrt_0123456789abc_" GOOD_SECRET, id, secret));  /* id 13 */
    ASSERT_EQ_INT(-1, parse("hrt_0123456789abc_0123456789abcdef0123456789abcde", id, secret));
}

TEST(token_parse_uppercase_and_non_hex)
{
    char id[TOKEN_ID_HEX + 1], secret[TOKEN_SECRET_HEX + 1];
    ASSERT_EQ_INT(-1, parse("hrt_0123456789AB_" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("hrt_" GOOD_ID "_0123456789ABCDEF0123456789abcdef", id, secret));
    ASSERT_EQ_INT(-1, parse("hrt_0123456789ag_" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("hrt_" GOOD_ID "_0123456789abcdef0123456789abcdeg", id, secret));
    /* an embedded NUL, within the length */
    char nul[TOKEN_LEN + 1];
    memcpy(nul, GOOD_TOKEN, sizeof(nul));
    nul[20] = '\0';
    ASSERT_EQ_INT(-1, token_parse(nul, TOKEN_LEN, id, secret));
    nul[20] = GOOD_TOKEN[20];
    nul[8] = '\0';
    ASSERT_EQ_INT(-1, token_parse(nul, TOKEN_LEN, id, secret));
}

TEST(token_parse_separators)
{
    char id[TOKEN_ID_HEX + 1], secret[TOKEN_SECRET_HEX + 1];
    ASSERT_EQ_INT(-1, parse("hrt_" GOOD_ID "-" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("hrt_" GOOD_ID "." GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("hrt_" GOOD_ID "0" GOOD_SECRET, id, secret));
    /* the separator one place off: lengths shift, the id holds a '_' */
    ASSERT_EQ_INT(-1, parse("hrt_0123456789a_b" GOOD_SECRET, id, secret));
    ASSERT_EQ_INT(-1, parse("hrt__" GOOD_ID GOOD_SECRET, id, secret));
}

/* -- token_mac ------------------------------------------------------------ */

/* Expected values from
 *   printf %s SECRET | openssl dgst -sha256 -hmac KEY
 * (and Python's hmac module, which agrees). */
TEST(token_mac_vectors)
{
    char mac[TOKEN_MAC_HEX + 1], longkey[101];
    const char *key = "hysteria-realm-test-key-0123456789abcdef";
    ASSERT_EQ_INT(0, token_mac(key, strlen(key), GOOD_SECRET, mac));
    ASSERT_EQ_STR("c7e108fd80bb2e18db9d1f93865a00af6ba1d433dd5411ec83e6da43ec74d461", mac);
    ASSERT_EQ_INT(0, token_mac("Jefe", 4, "ffffffffffffffffffffffffffffffff", mac));
    ASSERT_EQ_STR("cd0aeb49ad4495f3b87cb492b3946fe8102b4ded5dda060f8c71d80e51c0e1fc", mac);
    /* a key longer than SHA-256's block (hashed first, RFC 4231 case 6 style) */
    memset(longkey, 'k', 100);
    longkey[100] = '\0';
    ASSERT_EQ_INT(0, token_mac(longkey, 100, "00000000000000000000000000000000", mac));
    ASSERT_EQ_STR("c647700aa118461834079e4f597d86219258a3a3b7a2dee2205d0f6e9fa8e8a2", mac);
    ASSERT_EQ_INT(TOKEN_MAC_HEX, (int)strlen(mac));
    ASSERT_TRUE(hex_check(mac, TOKEN_MAC_HEX, 1));
}

TEST(token_mac_depends_on_key_and_secret)
{
    char a[TOKEN_MAC_HEX + 1], b[TOKEN_MAC_HEX + 1], c[TOKEN_MAC_HEX + 1];
    const char *key = "hysteria-realm-test-key-0123456789abcdef";
    ASSERT_EQ_INT(0, token_mac(key, strlen(key), GOOD_SECRET, a));
    ASSERT_EQ_INT(0, token_mac(key, strlen(key) - 1, GOOD_SECRET, b));
    ASSERT_EQ_INT(0, token_mac(key, strlen(key), "1123456789abcdef0123456789abcdef", c));
    ASSERT_TRUE(strcmp(a, b) != 0);
    ASSERT_TRUE(strcmp(a, c) != 0);
    /* only the 32 digits of the secret count */
    ASSERT_EQ_INT(0, token_mac(key, strlen(key), GOOD_SECRET "trailing", b));
    ASSERT_EQ_STR(a, b);
}

TEST(token_mac_equal_cases)
{
    char a[TOKEN_MAC_HEX + 1], b[TOKEN_MAC_HEX + 1];
    memset(a, 'a', TOKEN_MAC_HEX);
    a[TOKEN_MAC_HEX] = '\0';
    memcpy(b, a, sizeof(a));
    ASSERT_TRUE(token_mac_equal(a, b));
    b[0] = 'b';
    ASSERT_TRUE(!token_mac_equal(a, b));
    b[0] = 'a';
    b[TOKEN_MAC_HEX - 1] = 'b';
    ASSERT_TRUE(!token_mac_equal(a, b));
    b[TOKEN_MAC_HEX - 1] = 'A';
    ASSERT_TRUE(!token_mac_equal(a, b));        /* case matters: macs are lowercase */
}

/* -- token_new -------------------------------------------------------------- */

TEST(token_new_round_trip)
{
    struct token_rec rec, rec2;
    char tok[TOKEN_LEN + 1], tok2[TOKEN_LEN + 1], id[TOKEN_ID_HEX + 1],
        secret[TOKEN_SECRET_HEX + 1], mac[TOKEN_MAC_HEX + 1];
    const char *key = "hysteria-realm-test-key-0123456789abcdef";
    rec_base(&rec);
    rec2 = rec;
    ASSERT_EQ_INT(0, token_new(&rec, key, strlen(key), tok));
    ASSERT_EQ_INT(TOKEN_LEN, (int)strlen(tok));
    ASSERT_EQ_INT(0, strncmp(tok, TOKEN_PREFIX, 4));
    ASSERT_EQ_INT(0, token_parse(tok, strlen(tok), id, secret));
    ASSERT_EQ_STR(rec.id, id);
    ASSERT_TRUE(hex_check(rec.id, TOKEN_ID_HEX, 1));
    ASSERT_TRUE(hex_check(rec.mac, TOKEN_MAC_HEX, 1));
    ASSERT_EQ_INT(0, token_mac(key, strlen(key), secret, mac));
    ASSERT_EQ_STR(rec.mac, mac);
    ASSERT_TRUE(token_mac_equal(rec.mac, mac));
    /* the record keeps only the mac: no field holds the secret */
    ASSERT_TRUE(strstr(rec.mac, secret) == NULL);
    /* another key gives another mac for the same secret */
    ASSERT_EQ_INT(0, token_mac("another-key-of-at-least-32-characters", 37, secret, mac));
    ASSERT_TRUE(!token_mac_equal(rec.mac, mac));
    /* a second token differs in id and secret */
    ASSERT_EQ_INT(0, token_new(&rec2, key, strlen(key), tok2));
    ASSERT_TRUE(strcmp(rec.id, rec2.id) != 0);
    ASSERT_TRUE(strcmp(tok, tok2) != 0);
    ASSERT_TRUE(strcmp(rec.mac, rec2.mac) != 0);
    /* the rest of the record is left alone */
    ASSERT_EQ_INT(TOKEN_BOTH, (int)rec.scope);
    ASSERT_EQ_INT(1, rec.relay);
}

/* -- token_check ------------------------------------------------------------ */

/* token_check of rec, with err non-empty exactly when it fails. */
static int check(const struct token_rec *rec)
{
    char err[128] = "";
    int r = token_check(rec, err, sizeof(err));
    if ((r == 0) != (err[0] == '\0'))
        return 99;
    return r;
}

TEST(token_check_rules)
{
    struct token_rec rec;
    rec_base(&rec);
    ASSERT_EQ_INT(0, check(&rec));
    rec.scope = TOKEN_REGISTER;
    ASSERT_EQ_INT(0, check(&rec));
    rec.scope = TOKEN_CONNECT;
    ASSERT_EQ_INT(0, check(&rec));

    /* a scope is required, and only the three */
    rec.scope = 0;
    ASSERT_EQ_INT(-1, check(&rec));
    rec.scope = 4;
    ASSERT_EQ_INT(-1, check(&rec));
    rec.scope = 7;
    ASSERT_EQ_INT(-1, check(&rec));

    /* realm or prefix, not both; only with the register scope */
    rec_base(&rec);
    strcpy(rec.realm, "r1");
    ASSERT_EQ_INT(0, check(&rec));
    strcpy(rec.prefix, "team-");
    ASSERT_EQ_INT(-1, check(&rec));
    rec.realm[0] = '\0';
    ASSERT_EQ_INT(0, check(&rec));
    rec.scope = TOKEN_CONNECT;
    ASSERT_EQ_INT(-1, check(&rec));
    rec.prefix[0] = '\0';
    strcpy(rec.realm, "r1");
    ASSERT_EQ_INT(-1, check(&rec));

    /* a quota only with the register scope, and not negative */
    rec_base(&rec);
    rec.quota = 3;
    ASSERT_EQ_INT(0, check(&rec));
    rec.scope = TOKEN_CONNECT;
    ASSERT_EQ_INT(-1, check(&rec));
    rec.scope = TOKEN_REGISTER;
    rec.quota = -1;
    ASSERT_EQ_INT(-1, check(&rec));

    /* connect realm or prefix, not both; only with the connect scope */
    rec_base(&rec);
    strcpy(rec.connect_realm, "r1");
    ASSERT_EQ_INT(0, check(&rec));
    strcpy(rec.connect_prefix, "team-");
    ASSERT_EQ_INT(-1, check(&rec));
    rec.connect_realm[0] = '\0';
    ASSERT_EQ_INT(0, check(&rec));
    rec.scope = TOKEN_REGISTER;
    ASSERT_EQ_INT(-1, check(&rec));

    /* register binding and connect binding together (both scopes) */
    rec_base(&rec);
    strcpy(rec.realm, "home");
    strcpy(rec.connect_prefix, "home");
    ASSERT_EQ_INT(0, check(&rec));
}

TEST(token_check_names)
{
    static const char *const bad[] = { "a b", "a|b", "a\tb", "a\nb", "a\x7f", " ", "\x01" };
    struct token_rec rec;
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        rec_base(&rec);
        strcpy(rec.realm, bad[k]);
        ASSERT_EQ_INT(-1, check(&rec));
        rec_base(&rec);
        strcpy(rec.prefix, bad[k]);
        ASSERT_EQ_INT(-1, check(&rec));
        rec_base(&rec);
        strcpy(rec.connect_realm, bad[k]);
        ASSERT_EQ_INT(-1, check(&rec));
        rec_base(&rec);
        strcpy(rec.connect_prefix, bad[k]);
        ASSERT_EQ_INT(-1, check(&rec));
    }
    rec_base(&rec);
    strcpy(rec.realm, "caf\xc3\xa9.example-1_x");   /* UTF-8 and punctuation are fine */
    ASSERT_EQ_INT(0, check(&rec));
}

/* -- scopes ------------------------------------------------------------------- */

TEST(token_scope_parse_name)
{
    ASSERT_EQ_INT(TOKEN_REGISTER, (int)token_scope_parse("register"));
    ASSERT_EQ_INT(TOKEN_CONNECT, (int)token_scope_parse("connect"));
    ASSERT_EQ_INT(TOKEN_BOTH, (int)token_scope_parse("both"));
    ASSERT_EQ_INT(0, (int)token_scope_parse("Register"));
    ASSERT_EQ_INT(0, (int)token_scope_parse("register "));
    ASSERT_EQ_INT(0, (int)token_scope_parse(""));
    ASSERT_EQ_INT(0, (int)token_scope_parse("all"));
    ASSERT_EQ_INT(0, (int)token_scope_parse(NULL));
    ASSERT_EQ_STR("register", token_scope_name(TOKEN_REGISTER));
    ASSERT_EQ_STR("connect", token_scope_name(TOKEN_CONNECT));
    ASSERT_EQ_STR("both", token_scope_name(TOKEN_BOTH));
    for (unsigned s = TOKEN_REGISTER; s <= TOKEN_BOTH; s++)
        ASSERT_EQ_INT(s, (int)token_scope_parse(token_scope_name(s)));
}

/* -- token_duration_ms ---------------------------------------------------------- */

TEST(token_duration_good)
{
    long long ms = -5;
    ASSERT_EQ_INT(0, token_duration_ms("30d", &ms));
    ASSERT_EQ_INT(30LL * 86400 * 1000, ms);
    ASSERT_EQ_INT(0, token_duration_ms("12h", &ms));
    ASSERT_EQ_INT(12LL * 3600 * 1000, ms);
    ASSERT_EQ_INT(0, token_duration_ms("15m", &ms));
    ASSERT_EQ_INT(15LL * 60 * 1000, ms);
    ASSERT_EQ_INT(0, token_duration_ms("90s", &ms));
    ASSERT_EQ_INT(90000, ms);
    ASSERT_EQ_INT(0, token_duration_ms("3600", &ms));
    ASSERT_EQ_INT(3600000, ms);
    ASSERT_EQ_INT(0, token_duration_ms("1", &ms));
    ASSERT_EQ_INT(1000, ms);
    /* 100 years is the most */
    ASSERT_EQ_INT(0, token_duration_ms("36500d", &ms));
    ASSERT_EQ_INT(36500LL * 86400 * 1000, ms);
    ASSERT_EQ_INT(0, token_duration_ms("3153600000", &ms));
    ASSERT_EQ_INT(3153600000LL * 1000, ms);
}

TEST(token_duration_bad)
{
    static const char *const bad[] = {
        "0", "0d", "-1", "-1d", "1x", "", "d", "s", "30D", "1.5h", " 30d", "30d ", "+5",
        "5dd", "1h30m", "36501d", "876001h", "52560001m", "3153600001",
        "99999999999999999999", "9223372036854775807", "9223372036854775808d",
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        long long ms = -5;
        if (token_duration_ms(bad[k], &ms) != -1) {
            unit_fail(__FILE__, __LINE__, "token_duration_ms(\"%s\") accepted: %lld", bad[k], ms);
            return;
        }
        ASSERT_EQ_INT(-5, ms);      /* *out untouched */
    }
    long long ms = -5;
    ASSERT_EQ_INT(-1, token_duration_ms(NULL, &ms));
}

/* -- token_fields / token_from_fields --------------------------------------------- */

/* HMGET-like values: vals/lens from the bufs of token_fields. */
static void as_hmget(const char *const *vals, const char *out[TOKEN_FIELDS], size_t lens[TOKEN_FIELDS])
{
    for (int k = 0; k < TOKEN_FIELDS; k++) {
        out[k] = vals[k];
        lens[k] = vals[k] ? strlen(vals[k]) : 0;
    }
}

/* The index of field name in token_field_names, or -1. */
static int field_at(const char *name)
{
    for (int k = 0; k < TOKEN_FIELDS; k++)
        if (strcmp(token_field_names[k], name) == 0)
            return k;
    return -1;
}

/* A full record to store and read back. */
static void rec_full(struct token_rec *rec)
{
    rec_base(rec);
    memcpy(rec->mac, "c7e108fd80bb2e18db9d1f93865a00af6ba1d433dd5411ec83e6da43ec74d461",
           TOKEN_MAC_HEX + 1);
    rec->scope = TOKEN_BOTH;
    strcpy(rec->realm, "home");
    strcpy(rec->connect_prefix, "home-");
    rec->quota = 5;
    rec->expires = 1767225600123LL;
    rec->created = 1735689600456LL;
    rec->relay = 0;
    strcpy(rec->label, "alice's laptop | test");
}

TEST(token_fields_names)
{
    static const char *const want[TOKEN_FIELDS] = {
        "mac", "scope", "realm", "prefix", "connect_realm", "connect_prefix",
        "quota", "expires", "created", "relay", "label",
    };
    for (int k = 0; k < TOKEN_FIELDS; k++)
        ASSERT_EQ_STR(want[k], token_field_names[k]);
    ASSERT_EQ_INT(-1, field_at("id"));          /* the id is the key, not a field */
}

TEST(token_fields_round_trip)
{
    struct token_rec rec, back;
    char bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF];
    const char *vals[TOKEN_FIELDS], *hv[TOKEN_FIELDS];
    size_t lens[TOKEN_FIELDS];
    rec_full(&rec);
    token_fields(&rec, bufs, vals);
    ASSERT_EQ_STR(rec.mac, vals[field_at("mac")]);
    ASSERT_EQ_STR("both", vals[field_at("scope")]);
    ASSERT_EQ_STR("home", vals[field_at("realm")]);
    ASSERT_EQ_STR("", vals[field_at("prefix")]);
    ASSERT_EQ_STR("", vals[field_at("connect_realm")]);
    ASSERT_EQ_STR("home-", vals[field_at("connect_prefix")]);
    ASSERT_EQ_STR("5", vals[field_at("quota")]);
    ASSERT_EQ_STR("1767225600123", vals[field_at("expires")]);
    ASSERT_EQ_STR("1735689600456", vals[field_at("created")]);
    ASSERT_EQ_STR("0", vals[field_at("relay")]);
    ASSERT_EQ_STR("alice's laptop | test", vals[field_at("label")]);
    as_hmget(vals, hv, lens);
    memset(&back, 0x55, sizeof(back));
    ASSERT_EQ_INT(0, token_from_fields(&back, GOOD_ID, hv, lens));
    ASSERT_EQ_STR(GOOD_ID, back.id);
    ASSERT_EQ_STR(rec.mac, back.mac);
    ASSERT_EQ_INT(rec.scope, back.scope);
    ASSERT_EQ_STR(rec.realm, back.realm);
    ASSERT_EQ_STR(rec.prefix, back.prefix);
    ASSERT_EQ_STR(rec.connect_realm, back.connect_realm);
    ASSERT_EQ_STR(rec.connect_prefix, back.connect_prefix);
    ASSERT_EQ_INT(rec.quota, back.quota);
    ASSERT_EQ_INT(rec.expires, back.expires);
    ASSERT_EQ_INT(rec.created, back.created);
    ASSERT_EQ_INT(rec.relay, back.relay);
    ASSERT_EQ_STR(rec.label, back.label);

    /* the longest names and label survive */
    rec_full(&rec);
    memset(rec.realm, 'r', TOKEN_NAME_MAX);
    rec.realm[TOKEN_NAME_MAX] = '\0';
    memset(rec.connect_realm, 'c', TOKEN_NAME_MAX);
    rec.connect_realm[TOKEN_NAME_MAX] = '\0';
    rec.connect_prefix[0] = '\0';
    memset(rec.label, 'l', TOKEN_LABEL_MAX);
    rec.label[TOKEN_LABEL_MAX] = '\0';
    rec.relay = 1;
    rec.expires = 0;
    rec.quota = 0;
    token_fields(&rec, bufs, vals);
    as_hmget(vals, hv, lens);
    ASSERT_EQ_INT(0, token_from_fields(&back, GOOD_ID, hv, lens));
    ASSERT_EQ_STR(rec.realm, back.realm);
    ASSERT_EQ_STR(rec.connect_realm, back.connect_realm);
    ASSERT_EQ_STR(rec.label, back.label);
    ASSERT_EQ_INT(0, back.expires);
    ASSERT_EQ_INT(0, back.quota);
    ASSERT_EQ_INT(1, back.relay);
}

/* token_from_fields of the full record with field name set to val (NULL:
 * missing). */
static int from_with(const char *name, const char *val)
{
    struct token_rec rec, back;
    char bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF];
    const char *vals[TOKEN_FIELDS], *hv[TOKEN_FIELDS];
    size_t lens[TOKEN_FIELDS];
    rec_full(&rec);
    token_fields(&rec, bufs, vals);
    as_hmget(vals, hv, lens);
    int k = field_at(name);
    hv[k] = val;
    lens[k] = val ? strlen(val) : 0;
    return token_from_fields(&back, GOOD_ID, hv, lens);
}

TEST(token_from_fields_missing)
{
    const char *none[TOKEN_FIELDS] = { 0 };
    size_t lens[TOKEN_FIELDS] = { 0 };
    struct token_rec back;
    ASSERT_EQ_INT(-1, token_from_fields(&back, GOOD_ID, none, lens));   /* a gone record */
    for (int k = 0; k < TOKEN_FIELDS; k++)
        if (from_with(token_field_names[k], NULL) != -1) {
            unit_fail(__FILE__, __LINE__, "a record without %s accepted", token_field_names[k]);
            return;
        }
    ASSERT_EQ_INT(0, from_with("label", ""));
    ASSERT_EQ_INT(0, from_with("realm", ""));
}

TEST(token_from_fields_damaged)
{
    char buf[TOKEN_FIELD_BUF * 2];
    /* the mac: exactly 64 lowercase hex digits */
    ASSERT_EQ_INT(-1, from_with("mac", ""));
    ASSERT_EQ_INT(-1, from_with("mac", "c7e108fd80bb2e18db9d1f93865a00af6ba1d433dd5411ec83e6da43ec74d46"));
    ASSERT_EQ_INT(-1, from_with("mac", "c7e108fd80bb2e18db9d1f93865a00af6ba1d433dd5411ec83e6da43ec74d4610"));
    ASSERT_EQ_INT(-1, from_with("mac", "C7E108FD80BB2E18DB9D1F93865A00AF6BA1D433DD5411EC83E6DA43EC74D461"));
    ASSERT_EQ_INT(-1, from_with("mac", "x7e108fd80bb2e18db9d1f93865a00af6ba1d433dd5411ec83e6da43ec74d461"));
    /* the scope */
    ASSERT_EQ_INT(-1, from_with("scope", ""));
    ASSERT_EQ_INT(-1, from_with("scope", "all"));
    ASSERT_EQ_INT(-1, from_with("scope", "BOTH"));
    ASSERT_EQ_INT(-1, from_with("scope", "3"));
    ASSERT_EQ_INT(-1, from_with("scope", "registerregisterregister"));
    ASSERT_EQ_INT(0, from_with("scope", "connect"));
    /* numbers: digits only, in range */
    ASSERT_EQ_INT(-1, from_with("quota", ""));
    ASSERT_EQ_INT(-1, from_with("quota", "-1"));
    ASSERT_EQ_INT(-1, from_with("quota", "1e3"));
    ASSERT_EQ_INT(-1, from_with("quota", "1000000001"));
    ASSERT_EQ_INT(0, from_with("quota", "1000000000"));
    ASSERT_EQ_INT(-1, from_with("expires", ""));
    ASSERT_EQ_INT(-1, from_with("expires", "-1"));
    ASSERT_EQ_INT(-1, from_with("expires", "+inf"));
    ASSERT_EQ_INT(-1, from_with("expires", "12 "));
    ASSERT_EQ_INT(-1, from_with("expires", "99999999999999999999"));
    ASSERT_EQ_INT(0, from_with("expires", "0"));
    ASSERT_EQ_INT(-1, from_with("created", "x"));
    ASSERT_EQ_INT(-1, from_with("created", ""));
    ASSERT_EQ_INT(-1, from_with("relay", "yes"));
    ASSERT_EQ_INT(-1, from_with("relay", ""));
    ASSERT_EQ_INT(0, from_with("relay", "1"));
    /* strings too long for the record */
    memset(buf, 'r', TOKEN_NAME_MAX + 1);
    buf[TOKEN_NAME_MAX + 1] = '\0';
    ASSERT_EQ_INT(-1, from_with("realm", buf));
    ASSERT_EQ_INT(-1, from_with("connect_prefix", buf));
    buf[TOKEN_NAME_MAX] = '\0';
    ASSERT_EQ_INT(0, from_with("prefix", buf));
    memset(buf, 'l', TOKEN_LABEL_MAX + 1);
    buf[TOKEN_LABEL_MAX + 1] = '\0';
    ASSERT_EQ_INT(-1, from_with("label", buf));
}

/* relay is 0 or 1: number_parse(s, n, 0, 1, ...) must refuse "2".."9".
 * (Fails while number_parse's bound check lets a first digit above a max
 * under 9 through: (max - d) / 10 truncates to 0 when max < d.) */
TEST(token_from_fields_relay_digit)
{
    ASSERT_EQ_INT(-1, from_with("relay", "2"));
    ASSERT_EQ_INT(-1, from_with("relay", "9"));
    ASSERT_EQ_INT(-1, from_with("relay", "05"));
    ASSERT_EQ_INT(0, from_with("relay", "01"));
}

/* -- what a token allows ------------------------------------------------------------- */

#define NOW 1750000000000LL

TEST(token_may_register_scope_and_expiry)
{
    struct token_rec rec;
    int bound = 7;
    rec_base(&rec);
    ASSERT_EQ_INT(1, token_may_register(&rec, "anything", NOW, &bound));
    ASSERT_EQ_INT(0, bound);                        /* unbound: no re-claim */
    rec.scope = TOKEN_REGISTER;
    ASSERT_EQ_INT(1, token_may_register(&rec, "anything", NOW, &bound));
    rec.scope = TOKEN_CONNECT;
    bound = 7;
    ASSERT_EQ_INT(0, token_may_register(&rec, "anything", NOW, &bound));
    ASSERT_EQ_INT(0, bound);
    /* expiry: live strictly before expires; 0 never expires */
    rec_base(&rec);
    strcpy(rec.realm, "home");
    rec.expires = NOW + 1;
    ASSERT_EQ_INT(1, token_may_register(&rec, "home", NOW, &bound));
    ASSERT_EQ_INT(1, bound);
    rec.expires = NOW;
    bound = 7;
    ASSERT_EQ_INT(0, token_may_register(&rec, "home", NOW, &bound));
    ASSERT_EQ_INT(0, bound);
    rec.expires = NOW - 1;
    ASSERT_EQ_INT(0, token_may_register(&rec, "home", NOW, &bound));
    rec.expires = 0;
    ASSERT_EQ_INT(1, token_may_register(&rec, "home", 0x7fffffffffffffffLL, &bound));
}

TEST(token_may_register_bindings)
{
    struct token_rec rec;
    int bound = 7;
    /* exact realm */
    rec_base(&rec);
    rec.scope = TOKEN_REGISTER;
    strcpy(rec.realm, "home");
    ASSERT_EQ_INT(1, token_may_register(&rec, "home", NOW, &bound));
    ASSERT_EQ_INT(1, bound);
    bound = 7;
    ASSERT_EQ_INT(0, token_may_register(&rec, "home2", NOW, &bound));
    ASSERT_EQ_INT(0, bound);
    ASSERT_EQ_INT(0, token_may_register(&rec, "hom", NOW, &bound));
    ASSERT_EQ_INT(0, token_may_register(&rec, "Home", NOW, &bound));
    ASSERT_EQ_INT(0, token_may_register(&rec, "", NOW, &bound));
    /* prefix */
    rec_base(&rec);
    strcpy(rec.prefix, "team-");
    ASSERT_EQ_INT(1, token_may_register(&rec, "team-a", NOW, &bound));
    ASSERT_EQ_INT(1, bound);
    ASSERT_EQ_INT(1, token_may_register(&rec, "team-alpha-2", NOW, &bound));
    ASSERT_EQ_INT(1, bound);
    bound = 7;
    ASSERT_EQ_INT(0, token_may_register(&rec, "team", NOW, &bound));
    ASSERT_EQ_INT(0, bound);
    ASSERT_EQ_INT(0, token_may_register(&rec, "xteam-a", NOW, &bound));
    ASSERT_EQ_INT(0, token_may_register(&rec, "TEAM-a", NOW, &bound));
    ASSERT_EQ_INT(0, token_may_register(&rec, "", NOW, &bound));
    /* the connect binding does not limit registering */
    rec_base(&rec);
    strcpy(rec.connect_realm, "other");
    ASSERT_EQ_INT(1, token_may_register(&rec, "home", NOW, &bound));
    ASSERT_EQ_INT(0, bound);
}

TEST(token_may_connect_cases)
{
    struct token_rec rec;
    rec_base(&rec);
    ASSERT_EQ_INT(1, token_may_connect(&rec, "anything", NOW));
    rec.scope = TOKEN_CONNECT;
    ASSERT_EQ_INT(1, token_may_connect(&rec, "anything", NOW));
    rec.scope = TOKEN_REGISTER;
    ASSERT_EQ_INT(0, token_may_connect(&rec, "anything", NOW));
    /* exact connect realm */
    rec_base(&rec);
    strcpy(rec.connect_realm, "home");
    ASSERT_EQ_INT(1, token_may_connect(&rec, "home", NOW));
    ASSERT_EQ_INT(0, token_may_connect(&rec, "home2", NOW));
    ASSERT_EQ_INT(0, token_may_connect(&rec, "hom", NOW));
    /* connect prefix */
    rec_base(&rec);
    strcpy(rec.connect_prefix, "team-");
    ASSERT_EQ_INT(1, token_may_connect(&rec, "team-x", NOW));
    ASSERT_EQ_INT(0, token_may_connect(&rec, "team", NOW));
    ASSERT_EQ_INT(0, token_may_connect(&rec, "x-team-x", NOW));
    /* the register binding does not limit connecting */
    rec_base(&rec);
    strcpy(rec.realm, "home");
    ASSERT_EQ_INT(1, token_may_connect(&rec, "elsewhere", NOW));
    /* expiry */
    rec_base(&rec);
    rec.expires = NOW + 1;
    ASSERT_EQ_INT(1, token_may_connect(&rec, "a", NOW));
    rec.expires = NOW;
    ASSERT_EQ_INT(0, token_may_connect(&rec, "a", NOW));
}
