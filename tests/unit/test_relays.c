/* test_relays.c -- the relay instances of --relay-address (relays.c). */
#include <stdlib.h>
#include <string.h>

#include "relays.h"
#include "unit.h"

#define NONCE "0123456789abcdef0123456789ABCDEF"

static int parses(const char *text)
{
    struct relay_set s;
    char err[160];
    int rc = relays_parse(text, &s, err, sizeof err);
    if (rc == 0)
        relays_free(&s);
    return rc;
}

TEST(relays_none)
{
    struct relay_set s;
    char err[160];
    ASSERT_EQ_INT(0, relays_parse(NULL, &s, err, sizeof err));
    ASSERT_EQ_INT(0, (int)s.n);
    ASSERT_TRUE(relays_pick(&s, NONCE) == NULL);
    ASSERT_EQ_INT(0, relays_parse("  ", &s, err, sizeof err));
    ASSERT_EQ_INT(0, (int)s.n);
}

TEST(relays_instances)
{
    struct relay_set s;
    char err[160];
    ASSERT_EQ_INT(0, relays_parse("192.0.2.1:7000,[2001:db8::1]:7000  198.51.100.2:7001", &s,
                                  err, sizeof err));
    ASSERT_EQ_INT(2, (int)s.n);
    ASSERT_EQ_INT(2, (int)s.inst[0].n);
    ASSERT_EQ_STR("\"192.0.2.1:7000\",\"[2001:db8::1]:7000\"", s.inst[0].json);
    ASSERT_EQ_STR("\"198.51.100.2:7001\"", s.inst[1].json);
    relays_free(&s);
    ASSERT_EQ_INT(0, (int)s.n);
}

TEST(relays_rejects)
{
    struct relay_set s;
    char err[160];
    ASSERT_EQ_INT(-1, relays_parse("relay.example:7000", &s, err, sizeof err));
    ASSERT_TRUE(strstr(err, "relay.example:7000") != NULL);
    ASSERT_TRUE(strstr(err, "IP literal") != NULL);
    ASSERT_EQ_INT(-1, parses("192.0.2.1"));                 /* no port */
    ASSERT_EQ_INT(-1, parses("192.0.2.1:0"));               /* port 0 */
    ASSERT_EQ_INT(-1, parses("192.0.2.1:7000,"));           /* trailing comma */
    ASSERT_EQ_INT(-1, parses(",192.0.2.1:7000"));
    ASSERT_EQ_INT(-1, parses("2001:db8::1:7000"));          /* IPv6 without brackets */
    ASSERT_EQ_INT(-1, parses("1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1"));
    ASSERT_EQ_INT(0, parses("1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1"));
}

TEST(relays_pick_by_nonce)
{
    struct relay_set s;
    char err[160], lower[] = NONCE;
    ASSERT_EQ_INT(0, relays_parse("192.0.2.1:1 192.0.2.2:1 192.0.2.3:1", &s, err, sizeof err));
    for (size_t k = 0; k < strlen(lower); k++)
        if (lower[k] >= 'A' && lower[k] <= 'F')
            lower[k] = (char)(lower[k] - 'A' + 'a');
    const struct relay_instance *a = relays_pick(&s, NONCE), *b = relays_pick(&s, lower);
    ASSERT_TRUE(a != NULL && a == b);                       /* any hex case: the same one */
    int seen[3] = { 0, 0, 0 };
    char n[] = "00000000000000000000000000000000";
    for (int k = 0; k < 64; k++) {
        n[0] = "0123456789abcdef"[k % 16];
        n[1] = "0123456789abcdef"[k / 16];
        seen[relays_pick(&s, n) - s.inst]++;
    }
    ASSERT_TRUE(seen[0] > 0 && seen[1] > 0 && seen[2] > 0); /* spread over every instance */
    relays_free(&s);
}

TEST(relays_append_json)
{
    struct relay_set s;
    char err[160];
    ASSERT_EQ_INT(0, relays_parse("192.0.2.1:7000,[::1]:7", &s, err, sizeof err));
    char *a = relays_append("[\"198.51.100.1:5\"]", &s.inst[0]);
    ASSERT_EQ_STR("[\"198.51.100.1:5\",\"192.0.2.1:7000\",\"[::1]:7\"]", a);
    free(a);
    a = relays_append("[]", &s.inst[0]);
    ASSERT_EQ_STR("[\"192.0.2.1:7000\",\"[::1]:7\"]", a);
    free(a);
    ASSERT_TRUE(relays_append("{}", &s.inst[0]) == NULL);
    relays_free(&s);
}
