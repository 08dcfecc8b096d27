/* test_relays.c -- the relay instances of --relay-address (relays.c). */
#include <stdlib.h>
#include <string.h>

#include "relays.h"
#include "unit.h"

#define NONCE "0123456789abcdef0123456789ABCDEF"

static int parses(const char *text)
{
    struct relay_set s;
    char err[200];
    int rc = relays_parse(text, &s, err, sizeof err);
    relays_free(&s);
    return rc;
}

TEST(relays_none)
{
    struct relay_set s;
    char err[200];
    ASSERT_EQ_INT(0, relays_parse(NULL, &s, err, sizeof err));
    ASSERT_EQ_INT(0, (int)s.n);
    ASSERT_TRUE(relays_for(&s, NONCE) == NULL);
    ASSERT_EQ_INT(0, relays_parse("  ", &s, err, sizeof err));
    ASSERT_EQ_INT(0, (int)s.n);
}

TEST(relays_instances)
{
    struct relay_set s;
    char err[200];
    ASSERT_EQ_INT(0, relays_parse("192.0.2.1:7000-7255,[2001:db8::1]:8000-8255  198.51.100.2:7001",
                                  &s, err, sizeof err));
    ASSERT_EQ_INT(2, (int)s.n);
    ASSERT_EQ_INT(2, (int)s.inst[0].n);
    ASSERT_EQ_INT(256, (int)s.inst[0].ports);
    ASSERT_EQ_STR("[2001:db8::1]", s.inst[0].addr[1].host);
    ASSERT_EQ_INT(8000, (int)s.inst[0].addr[1].port);
    ASSERT_EQ_INT(1, (int)s.inst[1].ports);
    relays_free(&s);
}

TEST(relays_rejects)
{
    struct relay_set s;
    char err[200];
    ASSERT_EQ_INT(-1, relays_parse("relay.example:7000", &s, err, sizeof err));
    ASSERT_TRUE(strstr(err, "relay.example:7000") != NULL);
    ASSERT_TRUE(strstr(err, "IP literal") != NULL);
    ASSERT_EQ_INT(-1, parses("192.0.2.1"));                 /* no port */
    ASSERT_EQ_INT(-1, parses("192.0.2.1:0"));               /* port 0 */
    ASSERT_EQ_INT(-1, parses("192.0.2.1:7000-6999"));       /* backwards */
    ASSERT_EQ_INT(-1, parses("192.0.2.1:1000-5096"));       /* 4097 ports */
    ASSERT_EQ_INT(0, parses("192.0.2.1:1000-5095"));        /* 4096 */
    ASSERT_EQ_INT(-1, parses("192.0.2.1:7000-"));
    ASSERT_EQ_INT(-1, parses("192.0.2.1:7000,[::1]:7000-7001")); /* sizes differ */
    ASSERT_EQ_INT(-1, parses("192.0.2.1:7000,"));           /* trailing comma */
    ASSERT_EQ_INT(-1, parses(",192.0.2.1:7000"));
    ASSERT_EQ_INT(-1, parses("2001:db8::1:7000"));          /* IPv6 without brackets */
    ASSERT_EQ_INT(-1, parses("1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1"));
    ASSERT_EQ_INT(0, parses("1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1"));
}

TEST(relays_for_nonce)
{
    struct relay_set s;
    char err[200], lower[] = NONCE;
    ASSERT_EQ_INT(0, relays_parse("192.0.2.1:7000-7003,[::1]:9000-9003 192.0.2.2:1", &s,
                                  err, sizeof err));
    for (size_t k = 0; k < strlen(lower); k++)
        if (lower[k] >= 'A' && lower[k] <= 'F')
            lower[k] = (char)(lower[k] - 'A' + 'a');
    char *a = relays_for(&s, NONCE), *b = relays_for(&s, lower);
    ASSERT_TRUE(a != NULL && b != NULL);
    ASSERT_EQ_STR(a, b);                                    /* any hex case: the same */
    free(a);
    free(b);
    int ports[4] = { 0, 0, 0, 0 }, second = 0;
    char n[] = "00000000000000000000000000000000";
    for (int k = 0; k < 256; k++) {
        n[0] = "0123456789abcdef"[k % 16];
        n[1] = "0123456789abcdef"[k / 16];
        char *r = relays_for(&s, n);
        unsigned p4, p6;
        if (strcmp(r, "\"192.0.2.2:1\"") == 0)
            second++;
        else if (sscanf(r, "\"192.0.2.1:%u\",\"[::1]:%u\"", &p4, &p6) == 2 && p6 == p4 + 2000 &&
                 p4 >= 7000 && p4 <= 7003)
            ports[p4 - 7000]++;                             /* the same offset in both */
        free(r);
    }
    ASSERT_TRUE(second > 0);
    ASSERT_TRUE(ports[0] > 0 && ports[1] > 0 && ports[2] > 0 && ports[3] > 0);
    ASSERT_EQ_INT(256, second + ports[0] + ports[1] + ports[2] + ports[3]);
    relays_free(&s);
}

TEST(relays_append_json)
{
    char *a = relays_append("[\"198.51.100.1:5\"]", "\"192.0.2.1:7000\",\"[::1]:7\"");
    ASSERT_EQ_STR("[\"198.51.100.1:5\",\"192.0.2.1:7000\",\"[::1]:7\"]", a);
    free(a);
    a = relays_append("[]", "\"192.0.2.1:7000\"");
    ASSERT_EQ_STR("[\"192.0.2.1:7000\"]", a);
    free(a);
    ASSERT_TRUE(relays_append("{}", "\"x\"") == NULL);
}
