/* test_relay_record.c -- the relays' attempt records (relay_record.c). */
#include <stdio.h>
#include <string.h>

#include "relay_record.h"
#include "unit.h"

#define NONCE "00112233445566778899aabbccddeeff"
#define OBFS NONCE NONCE

static int parse(const char *json, struct relay_spec *s, char *err)
{
    return relay_record_parse(json, strlen(json), s, err, 128);
}

TEST(relay_record_as_connect_begin_writes_it)
{
    struct relay_spec s;
    char err[128];
    static const uint8_t v4mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 2 };

    ASSERT_EQ_INT(0, parse("{\"client_ips\":[\"127.0.0.2\",\"198.51.100.1\",\"::1\"],"
                           "\"expires\":1796169918375,\"holder_ips\":[\"10.0.0.1\"],"
                           "\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"r\"}", &s, err));
    ASSERT_EQ_STR("r", s.realm);
    ASSERT_EQ_INT(1796169918375LL, s.expires_ms);
    ASSERT_EQ_INT(0x00, s.nonce[0]);
    ASSERT_EQ_INT(0xff, s.nonce[15]);
    ASSERT_EQ_INT(0xff, s.obfs[31]);
    ASSERT_EQ_INT(3, s.nips[RELAY_CLIENT]);
    ASSERT_EQ_INT(1, s.nips[RELAY_HOLDER]);
    ASSERT_TRUE(memcmp(s.ips[RELAY_CLIENT][0], v4mapped, 16) == 0);
    ASSERT_EQ_INT(1, s.ips[RELAY_CLIENT][2][15]);           /* ::1 */
}

TEST(relay_record_longest_realm)
{
    char json[1024], name[RR_NAME_MAX + 2], err[128];
    struct relay_spec s;

    memset(name, 'n', sizeof name);
    name[RR_NAME_MAX] = '\0';
    snprintf(json, sizeof json, "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"%s\","
             "\"expires\":1,\"client_ips\":[\"::1\"],\"holder_ips\":[\"::1\"]}", name);
    ASSERT_EQ_INT(0, parse(json, &s, err));
    ASSERT_EQ_INT(RR_NAME_MAX, strlen(s.realm));
    name[RR_NAME_MAX] = 'n';
    name[RR_NAME_MAX + 1] = '\0';
    snprintf(json, sizeof json, "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"%s\","
             "\"expires\":1,\"client_ips\":[\"::1\"],\"holder_ips\":[\"::1\"]}", name);
    ASSERT_EQ_INT(-1, parse(json, &s, err));
    ASSERT_EQ_STR("realm: not a name", err);
}

TEST(relay_record_refused)
{
    static const char *const bad[][2] = {
        { "[]", "not a JSON object" },
        { "{\"nonce\":1}", "nonce: not 32 lowercase hex digits" },
        { "{\"nonce\":\"00112233445566778899AABBCCDDEEFF\"}", "nonce: not 32 lowercase hex digits" },
        { "{\"nonce\":\"" NONCE "\",\"obfs\":\"" NONCE "\"}", "obfs: not 64 lowercase hex digits" },
        { "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"\"}", "realm: not a name" },
        { "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"a\\u0000b\"}", "realm: not a name" },
        { "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"r\",\"expires\":\"1\"}",
          "expires: not a number of milliseconds" },
        { "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"r\",\"expires\":1e300}",
          "expires: not a number of milliseconds" },
        { "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"r\",\"expires\":1,"
          "\"client_ips\":\"::1\",\"holder_ips\":[]}", "client_ips, holder_ips: not arrays" },
        { "{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"r\",\"expires\":1,"
          "\"client_ips\":[\"::1\"],\"holder_ips\":[\"nowhere\",7]}", "client_ips, holder_ips: no IP on a side" },
    };
    struct relay_spec s;
    char err[128];

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        err[0] = '\0';
        ASSERT_EQ_INT(-1, parse(bad[k][0], &s, err));
        ASSERT_EQ_STR(bad[k][1], err);
    }
}

TEST(relay_record_double_expiry)
{
    struct relay_spec s;
    char err[128];

    ASSERT_EQ_INT(0, parse("{\"nonce\":\"" NONCE "\",\"obfs\":\"" OBFS "\",\"realm\":\"r\","
                           "\"expires\":1.5e12,\"client_ips\":[\"::1\"],\"holder_ips\":[\"::1\"]}",
                           &s, err));
    ASSERT_EQ_INT(1500000000000LL, s.expires_ms);
}
