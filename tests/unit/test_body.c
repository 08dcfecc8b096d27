/* test_body.c -- JSON request parsing and response building (body.c). */
#include <stdlib.h>

#include "body.h"
#include "unit.h"

#define NONCE "0123456789abcdef0123456789ABCDEF"
#define OBFS "00112233445566778899aabbccddeeff00112233445566778899AaBbCcDdEeFf"

/* body_parse_addresses on a NUL-terminated string. */
static enum body_result parse_addrs(const char *s, struct addr_list *out, char *err)
{
    return body_parse_addresses(s, strlen(s), out, err, 128);
}

TEST(body_addresses_ok)
{
    struct addr_list a;
    char err[128];

    ASSERT_EQ_INT(BODY_OK, parse_addrs("{\"addresses\":[\"1.2.3.4:5\",\"[::1]:6\"]}", &a, err));
    ASSERT_EQ_INT(2, a.n);
    ASSERT_EQ_STR("1.2.3.4:5", a.v[0]);
    ASSERT_EQ_STR("[::1]:6", a.v[1]);
    ASSERT_EQ_INT(BODY_OK, parse_addrs(" \r\n{ \"x\" : {\"y\":[1,2,null]}, \"addresses\" : [ \"9.9.9.9:9\" ] }\n\t ",
                                       &a, err));
    ASSERT_EQ_INT(1, a.n);
    ASSERT_EQ_STR("9.9.9.9:9", a.v[0]);
}

TEST(body_addresses_eight_not_nine)
{
    const char *eight = "{\"addresses\":[\"1.1.1.1:1\",\"1.1.1.1:2\",\"1.1.1.1:3\",\"1.1.1.1:4\","
                        "\"1.1.1.1:5\",\"1.1.1.1:6\",\"1.1.1.1:7\",\"[::8]:8\"]}";
    const char *nine = "{\"addresses\":[\"1.1.1.1:1\",\"1.1.1.1:2\",\"1.1.1.1:3\",\"1.1.1.1:4\","
                       "\"1.1.1.1:5\",\"1.1.1.1:6\",\"1.1.1.1:7\",\"1.1.1.1:8\",\"1.1.1.1:9\"]}";
    struct addr_list a;
    char err[128];

    ASSERT_EQ_INT(BODY_OK, parse_addrs(eight, &a, err));
    ASSERT_EQ_INT(8, a.n);
    ASSERT_EQ_STR("[::8]:8", a.v[7]);
    ASSERT_EQ_INT(BODY_BAD, parse_addrs(nine, &a, err));
    ASSERT_TRUE(strstr(err, "addresses") != NULL);
}

TEST(body_addresses_bad_members)
{
    static const char *const bad[] = {
        "{\"addresses\":[]}",
        "{\"addresses\":[1234]}",
        "{\"addresses\":[\"1.2.3.4:5\",6]}",
        "{\"addresses\":[[\"1.2.3.4:5\"]]}",
        "{\"addresses\":[{\"ip\":\"1.2.3.4\"}]}",
        "{\"addresses\":[null]}",
        "{\"addresses\":[true]}",
        "{\"addresses\":\"1.2.3.4:5\"}",
        "{\"addresses\":{\"0\":\"1.2.3.4:5\"}}",
        "{\"addresses\":null}",
        "{\"addresses\":5}",
        "{}",
        "{\"Addresses\":[\"1.2.3.4:5\"]}",
        "{\"addresses\":[\"example.com:443\"]}",
        "{\"addresses\":[\"1.2.3.4\"]}",
        "{\"addresses\":[\"1.2.3.4:65536\"]}",
        "{\"addresses\":[\" 1.2.3.4:5\"]}",
        "{\"addresses\":[\"[::1]\"]}",
        "{\"addresses\":[\"1.2.3.4:5\\u0000\"]}",
        "{\"addresses\":[\"1.2.3.4:5\",\"1.2.3.4:\"]}",
    };
    struct addr_list a;
    char err[128];
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (parse_addrs(bad[i], &a, err) != BODY_BAD) {
            unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
            return;
        }
        ASSERT_TRUE(err[0] != '\0');
        ASSERT_TRUE(strchr(err, '\n') == NULL);
    }
}

TEST(body_json_garbage)
{
    static const char *const bad[] = {
        "", "   ", "\n", "garbage", "{", "{\"addresses\":[\"1.2.3.4:5\"]",
        "{\"addresses\":[\"1.2.3.4:5\"", "{\"addresses\":[\"1.2.3.4:5", "[\"1.2.3.4:5\"]",
        "null", "\"x\"", "42", "{\"addresses\":[\"1.2.3.4:5\"]} x",
        "{\"addresses\":[\"1.2.3.4:5\"]}{}", "{\"addresses\":[\"1.2.3.4:5\",]}",
        "{\"addresses\":[\"1.2.3.4:5\"],}", "{/*c*/\"addresses\":[\"1.2.3.4:5\"]}",
        "{addresses:[\"1.2.3.4:5\"]}", "{\"addresses\":[\"1.2.3.4:5\"]}\x01",
    };
    struct addr_list a;
    char err[128];
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_addrs(bad[i], &a, err) != BODY_BAD) {
            unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i]);
            return;
        }
    }
    ASSERT_EQ_INT(BODY_BAD, parse_addrs("{\"addresses\":", &a, err));
    ASSERT_TRUE(strstr(err, "JSON") != NULL);
}

TEST(body_deep_nesting)
{
    char buf[RR_BODY_MAX];
    struct addr_list a;
    char err[128];
    size_t i, n = 0;

    n += (size_t)snprintf(buf, sizeof buf, "{\"addresses\":[\"1.2.3.4:5\"],\"x\":");
    for (i = 0; i < 1000; i++)
        buf[n++] = '[';
    for (i = 0; i < 1000; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    ASSERT_EQ_INT(BODY_BAD, body_parse_addresses(buf, n, &a, err, sizeof err));
    ASSERT_TRUE(strstr(err, "deep") != NULL);
}

TEST(body_not_nul_terminated_and_embedded_nul)
{
    const char good[] = "{\"addresses\":[\"1.2.3.4:5\"]}XXXX";
    const char nul[] = "{\"addresses\":[\"1.2.3.4:5\"]}\0 ";
    const char inner[] = "{\"addresses\":[\"1.2.3.4:5\0\"]}";
    struct addr_list a;
    char err[128];

    ASSERT_EQ_INT(BODY_OK, body_parse_addresses(good, strlen(good) - 4, &a, err, sizeof err));
    ASSERT_EQ_STR("1.2.3.4:5", a.v[0]);
    ASSERT_EQ_INT(BODY_BAD, body_parse_addresses(nul, sizeof nul - 1, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_BAD, body_parse_addresses(inner, sizeof inner - 1, &a, err, sizeof err));
}

TEST(body_too_large)
{
    char *buf = malloc(RR_BODY_MAX + 2);
    struct addr_list a;
    char err[128];
    size_t n;

    ASSERT_TRUE(buf != NULL);
    n = (size_t)snprintf(buf, RR_BODY_MAX + 2, "{\"addresses\":[\"1.2.3.4:5\"]}");
    memset(buf + n, ' ', RR_BODY_MAX + 1 - n);
    buf[RR_BODY_MAX + 1] = '\0';
    enum body_result r1 = body_parse_addresses(buf, RR_BODY_MAX, &a, err, sizeof err);
    enum body_result r2 = body_parse_addresses(buf, RR_BODY_MAX + 1, &a, err, sizeof err);
    free(buf);
    ASSERT_EQ_INT(BODY_OK, r1);
    ASSERT_EQ_INT(BODY_BAD, r2);
}

TEST(body_heartbeat)
{
    struct addr_list a;
    char err[128];

    ASSERT_EQ_INT(BODY_ABSENT, body_parse_heartbeat("", 0, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_ABSENT, body_parse_heartbeat(NULL, 0, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_ABSENT, body_parse_heartbeat(" \r\n\t", 4, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_ABSENT, body_parse_heartbeat("{}", 2, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_ABSENT, body_parse_heartbeat(" { } \n", 6, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_ABSENT, body_parse_heartbeat("{\"other\":1}", 11, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_ABSENT, body_parse_heartbeat("{\"addresses\":null}", 18, &a, err, sizeof err));
    ASSERT_EQ_INT(BODY_OK, body_parse_heartbeat("{\"addresses\":[\"[2001:db8::1]:443\"]}", 35,
                                                &a, err, sizeof err));
    ASSERT_EQ_INT(1, a.n);
    ASSERT_EQ_STR("[2001:db8::1]:443", a.v[0]);
}

TEST(body_heartbeat_bad)
{
    static const char *const bad[] = {
        "{\"addresses\":[]}", "{\"addresses\":[1]}", "{\"addresses\":\"x\"}",
        "{", "[]", "null", "x", "{}{}", "{\"addresses\":[\"host:1\"]}",
    };
    struct addr_list a;
    char err[128];
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (body_parse_heartbeat(bad[i], strlen(bad[i]), &a, err, sizeof err) != BODY_BAD) {
            unit_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
            return;
        }
    }
}

/* body_parse_connect on {"addresses":[addrs],"nonce":nonce,"obfs":obfs}
 * (each already JSON). */
static enum body_result parse_connect(const char *addrs, const char *nonce, const char *obfs,
                                      struct connect_body *cb, char *err)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "{\"addresses\":%s,\"nonce\":%s,\"obfs\":%s}",
                     addrs, nonce, obfs);
    return body_parse_connect(buf, (size_t)n, cb, err, 128);
}

TEST(body_connect_ok_case_kept)
{
    struct connect_body cb;
    char err[128];

    ASSERT_EQ_INT(BODY_OK, parse_connect("[\"1.2.3.4:5\"]", "\"" NONCE "\"", "\"" OBFS "\"",
                                         &cb, err));
    ASSERT_EQ_INT(1, cb.addrs.n);
    ASSERT_EQ_STR(NONCE, cb.nonce);
    ASSERT_EQ_STR(OBFS, cb.obfs);
}

TEST(body_connect_nonce_bad)
{
    struct connect_body cb;
    char err[128];
    const char *addrs = "[\"1.2.3.4:5\"]", *obfs = "\"" OBFS "\"";

    /* 31 and 33 digits, a non-hex digit, wrong types, missing. */
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "\"0123456789abcdef0123456789abcde\"", obfs, &cb, err));
    ASSERT_TRUE(strstr(err, "nonce") != NULL);
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "\"0123456789abcdef0123456789abcdef0\"", obfs, &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "\"0123456789abcdef0123456789abcdeg\"", obfs, &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "\" 123456789abcdef0123456789abcdef\"", obfs, &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "12345678901234567890123456789012", obfs, &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "null", obfs, &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "[\"" NONCE "\"]", obfs, &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, "\"0123456789abcdef0123456789abcde\\u0000\"",
                                          obfs, &cb, err));
    ASSERT_TRUE(strstr(err, "nonce") != NULL);
}

TEST(body_connect_obfs_bad)
{
    struct connect_body cb;
    char err[128];
    const char *addrs = "[\"1.2.3.4:5\"]", *nonce = "\"" NONCE "\"";

    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, nonce, "\"" NONCE "\"", &cb, err));
    ASSERT_TRUE(strstr(err, "obfs") != NULL);
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, nonce, "\"" OBFS "0\"", &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, nonce, "\"x" OBFS "\"", &cb, err));
    ASSERT_EQ_INT(BODY_BAD, parse_connect(addrs, nonce, "7", &cb, err));
}

TEST(body_connect_error_order)
{
    struct connect_body cb;
    char err[128];
    const char *missing = "{\"addresses\":[\"1.2.3.4:5\"]}";

    ASSERT_EQ_INT(BODY_BAD, parse_connect("[]", "\"x\"", "\"y\"", &cb, err));
    ASSERT_TRUE(strstr(err, "addresses") != NULL);
    ASSERT_EQ_INT(BODY_BAD, parse_connect("[\"1.2.3.4:5\"]", "\"x\"", "\"y\"", &cb, err));
    ASSERT_TRUE(strstr(err, "nonce") != NULL);
    ASSERT_EQ_INT(BODY_BAD, body_parse_connect(missing, strlen(missing), &cb, err, sizeof err));
    ASSERT_TRUE(strstr(err, "nonce") != NULL);
    ASSERT_EQ_INT(BODY_BAD, body_parse_connect("{", 1, &cb, err, sizeof err));
    ASSERT_TRUE(strstr(err, "JSON") != NULL);
}

TEST(body_addresses_json_round_trip)
{
    struct addr_list a = { 2, { "1.2.3.4:5", "[2001:db8::1]:443" } }, b;
    char *s = body_addresses_json(&a);
    int rc;

    ASSERT_TRUE(s != NULL);
    ASSERT_EQ_STR("[\"1.2.3.4:5\",\"[2001:db8::1]:443\"]", s);
    rc = body_addresses_parse_json(s, &b);
    free(s);
    ASSERT_EQ_INT(0, rc);
    ASSERT_EQ_INT(2, b.n);
    ASSERT_EQ_STR("[2001:db8::1]:443", b.v[1]);
    ASSERT_EQ_INT(-1, body_addresses_parse_json("[]", &b));
    ASSERT_EQ_INT(-1, body_addresses_parse_json("[\"host:1\"]", &b));
    ASSERT_EQ_INT(-1, body_addresses_parse_json("{\"addresses\":[\"1.2.3.4:5\"]}", &b));
    ASSERT_EQ_INT(-1, body_addresses_parse_json("[\"1.2.3.4:5\"", &b));
    ASSERT_EQ_INT(-1, body_addresses_parse_json(NULL, &b));
}

TEST(body_replies_exact)
{
    char *s;

    s = body_register_reply("0123456789abcdef0123456789abcdef", 60);
    ASSERT_EQ_STR("{\"session_id\":\"0123456789abcdef0123456789abcdef\",\"ttl\":60}\n", s);
    free(s);
    s = body_ttl_reply(60);
    ASSERT_EQ_STR("{\"ttl\":60}\n", s);
    free(s);
    s = body_heartbeat_event(45);
    ASSERT_EQ_STR("{\"ttl\":45}", s);
    free(s);
    ASSERT_TRUE(body_register_reply(NULL, 60) == NULL);
}

TEST(body_punch_and_connect_exact)
{
    const char *addrs = "[\"1.2.3.4:5\",\"[::1]:6\"]";
    char *s;

    s = body_punch_event(addrs, NONCE, OBFS);
    ASSERT_EQ_STR("{\"addresses\":[\"1.2.3.4:5\",\"[::1]:6\"],\"nonce\":\"" NONCE
                  "\",\"obfs\":\"" OBFS "\"}", s);
    free(s);
    s = body_connect_reply(addrs, NONCE, OBFS);
    ASSERT_EQ_STR("{\"addresses\":[\"1.2.3.4:5\",\"[::1]:6\"],\"nonce\":\"" NONCE
                  "\",\"obfs\":\"" OBFS "\"}\n", s);
    free(s);
    ASSERT_TRUE(body_punch_event("not json", NONCE, OBFS) == NULL);
    ASSERT_TRUE(body_punch_event("{}", NONCE, OBFS) == NULL);
    ASSERT_TRUE(body_punch_event(addrs, NULL, OBFS) == NULL);
    ASSERT_TRUE(body_connect_reply(NULL, NONCE, OBFS) == NULL);
}

TEST(body_error_exact)
{
    char *s = body_error("bad_request", "name \"x\" /v1/\\ bad\n");

    ASSERT_EQ_STR("{\"error\":\"bad_request\",\"message\":\"name \\\"x\\\" /v1/\\\\ bad\\n\"}\n", s);
    free(s);
    s = body_error("not_found", NULL);
    ASSERT_EQ_STR("{\"error\":\"not_found\",\"message\":\"\"}\n", s);
    free(s);
}
