/* test_relay_table.c -- unit tests of the relay's attempts and flows
 * (fcgi/relay_table.c), with time passed in. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "punch.h"
#include "relay_table.h"
#include "unit.h"

#define T0 1000000            /* monotonic ms */
#define R0 1700000000000LL    /* real-time ms */

static struct relay_limits limits(void)
{
    struct relay_limits l = { .max_flows = 100, .max_flows_per_realm = 8, .max_flows_per_ip = 16,
                              .max_attempts = 100, .flow_rate = 0, .total_rate = 0,
                              .idle_ms = 30000 };
    return l;
}

/* An attempt: nonce and key filled with byte id, client IP c, holder IP h. */
static struct relay_spec spec(uint8_t id, const char *realm, const char *c, const char *h)
{
    struct relay_spec s;

    memset(&s, 0, sizeof s);
    memset(s.nonce, id, sizeof s.nonce);
    memset(s.obfs, id ^ 0x5a, sizeof s.obfs);
    snprintf(s.realm, sizeof s.realm, "%s", realm);
    s.expires_ms = R0 + 10000;
    relay_spec_add_ip(&s, RELAY_CLIENT, c);
    relay_spec_add_ip(&s, RELAY_HOLDER, h);
    return s;
}

/* The endpoint ip:port talking to the relay socket sock. */
static struct relay_ep ep_on(const char *ip, int port, uint32_t sock)
{
    struct relay_ep e;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&e.addr;

    memset(&e, 0, sizeof e);
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &v4->sin_addr);
    e.addrlen = sizeof *v4;
    e.sock = sock;
    return e;
}

static struct relay_ep ep(const char *ip, int port)
{
    return ep_on(ip, port, 0);
}

/* A hello of attempt s into out; its length. */
static size_t hello(const struct relay_spec *s, uint8_t *out)
{
    static const uint8_t salt[8] = { 9, 8, 7, 6, 5, 4, 3, 2 };
    return punch_encode(s->obfs, salt, PUNCH_HELLO, s->nonce, NULL, 40, out, PUNCH_MAX);
}

static int port_of(const struct relay_ep *e)
{
    return ntohs(((const struct sockaddr_in *)&e->addr)->sin_port);
}

/* Pair s between 127.0.0.1:cp and 127.0.0.2:hp; 1 if it forwarded. */
static int pair(struct relay_table *t, const struct relay_spec *s, int cp, int hp)
{
    uint8_t pkt[PUNCH_MAX];
    size_t n = hello(s, pkt);
    struct relay_ep c = ep("127.0.0.1", cp), h = ep("127.0.0.2", hp);
    const struct relay_ep *to;

    if (relay_table_packet(t, &c, pkt, n, T0, R0, &to) != RELAY_HELD)
        return 0;
    return relay_table_packet(t, &h, pkt, n, T0, R0, &to) == RELAY_FORWARD && port_of(to) == cp;
}

TEST(relay_pair_and_forward)
{
    struct relay_limits l = limits();
    struct relay_table *t = relay_table_new(&l, 42);
    struct relay_spec s = spec(1, "home", "127.0.0.1", "127.0.0.2");
    struct relay_ep c = ep("127.0.0.1", 1000), h = ep("127.0.0.2", 2000), x = ep("127.0.0.1", 3000);
    const struct relay_ep *to;
    uint8_t pkt[PUNCH_MAX], data[1200] = { 0 };
    size_t n = hello(&s, pkt);

    ASSERT_EQ_INT(RELAY_ADD_OK, relay_table_add(t, &s, R0));
    ASSERT_EQ_INT(RELAY_ADD_DUP, relay_table_add(t, &s, R0));
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c, pkt, n, T0, R0, &to));   /* again */
    ASSERT_EQ_INT(RELAY_DROP_GARBAGE, relay_table_packet(t, &c, data, 20, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    ASSERT_EQ_INT(1, relay_table_flows(t));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &c, data, sizeof data, T0 + 1, R0, &to));
    ASSERT_EQ_INT(2000, port_of(to));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h, data, 5, T0 + 2, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    /* a third address replaying the hello */
    ASSERT_EQ_INT(RELAY_DROP_REPLAY, relay_table_packet(t, &x, pkt, n, T0, R0, &to));
    ASSERT_TRUE(to == NULL);
    ASSERT_EQ_INT(1, relay_table_events(t)->paired);
    relay_table_free(t);
}

TEST(relay_drops_by_reason)
{
    struct relay_limits l = limits();
    struct relay_table *t = relay_table_new(&l, 1);
    struct relay_spec s = spec(2, "home", "127.0.0.1", "127.0.0.2"), other = spec(3, "x", "10.0.0.1", "10.0.0.2");
    struct relay_ep c = ep("127.0.0.1", 1000), stranger = ep("192.0.2.9", 5);
    const struct relay_ep *to;
    uint8_t pkt[PUNCH_MAX], bad[PUNCH_MAX];
    size_t n = hello(&s, pkt), m = hello(&other, bad);

    ASSERT_EQ_INT(RELAY_DROP_UNKNOWN, relay_table_packet(t, &c, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_ADD_EXPIRED, relay_table_add(t, &s, s.expires_ms));
    ASSERT_EQ_INT(RELAY_ADD_OK, relay_table_add(t, &s, R0));
    ASSERT_EQ_INT(RELAY_DROP_UNKNOWN, relay_table_packet(t, &stranger, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_DROP_INVALID, relay_table_packet(t, &c, bad, m, T0, R0, &to));
    memset(bad, 0x33, 100);
    ASSERT_EQ_INT(RELAY_DROP_INVALID, relay_table_packet(t, &c, bad, 100, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_DROP_EXPIRED, relay_table_packet(t, &c, pkt, n, T0, s.expires_ms, &to));
    relay_table_expire(t, T0, s.expires_ms);
    ASSERT_EQ_INT(0, relay_table_attempts(t));
    ASSERT_EQ_INT(RELAY_DROP_UNKNOWN, relay_table_packet(t, &c, pkt, n, T0, R0, &to));
    relay_table_free(t);
}

TEST(relay_same_ip_both_sides)
{
    struct relay_limits l = limits();
    struct relay_table *t = relay_table_new(&l, 7);
    struct relay_spec s = spec(4, "lo", "127.0.0.1", "127.0.0.1");
    struct relay_ep a = ep("127.0.0.1", 1000), b = ep("127.0.0.1", 2000), x = ep("127.0.0.1", 3000);
    const struct relay_ep *to;
    uint8_t pkt[PUNCH_MAX];
    size_t n = hello(&s, pkt);

    relay_table_add(t, &s, R0);
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &a, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &b, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    ASSERT_EQ_INT(RELAY_DROP_REPLAY, relay_table_packet(t, &x, pkt, n, T0, R0, &to));
    relay_table_free(t);
}

TEST(relay_limits_and_busy)
{
    struct relay_limits l = limits();
    l.max_flows_per_realm = 2;
    l.max_flows_per_ip = 3;
    l.max_flows = 4;
    struct relay_table *t = relay_table_new(&l, 3);
    struct relay_spec s[8];
    const struct relay_ep *to;

    for (int k = 0; k < 8; k++) {
        char realm[8];
        snprintf(realm, sizeof realm, "r%d", k / 2 % 2);
        s[k] = spec((uint8_t)(10 + k), k < 4 ? realm : "z", "127.0.0.1", "127.0.0.2");
        ASSERT_EQ_INT(RELAY_ADD_OK, relay_table_add(t, &s[k], R0));
    }
    ASSERT_TRUE(pair(t, &s[0], 1000, 2000));
    ASSERT_TRUE(pair(t, &s[1], 1001, 2001));
    /* a third flow of realm r0 */
    uint8_t pkt[PUNCH_MAX];
    struct relay_spec r0 = spec(30, "r0", "127.0.0.3", "127.0.0.4");
    relay_table_add(t, &r0, R0);
    size_t n = hello(&r0, pkt);
    struct relay_ep c3 = ep("127.0.0.3", 1), h4 = ep("127.0.0.4", 2);
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c3, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_DROP_LIMIT_REALM, relay_table_packet(t, &h4, pkt, n, T0, R0, &to));
    ASSERT_TRUE(pair(t, &s[2], 1002, 2002));
    /* 127.0.0.1 has 3 flows: a fourth is over the per-IP limit */
    n = hello(&s[3], pkt);
    struct relay_ep c = ep("127.0.0.1", 1003), h = ep("127.0.0.2", 2003);
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_DROP_LIMIT_IP, relay_table_packet(t, &h, pkt, n, T0, R0, &to));
    /* an endpoint of a live flow cannot be in a second one */
    l.max_flows_per_ip = 0;
    relay_table_free(t);
    t = relay_table_new(&l, 3);
    relay_table_add(t, &s[4], R0);
    relay_table_add(t, &s[5], R0);
    ASSERT_TRUE(pair(t, &s[4], 1000, 2000));
    n = hello(&s[5], pkt);
    c = ep("127.0.0.1", 1100);
    h = ep("127.0.0.2", 2000);
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c, pkt, n, T0, R0, &to));
    /* the holder's punch of s[5] comes from the endpoint of the s[4] flow
     * (same address, same relay socket): busy, not forwarded into s[4] */
    ASSERT_EQ_INT(RELAY_DROP_BUSY, relay_table_packet(t, &h, pkt, n, T0, R0, &to));
    ASSERT_TRUE(to == NULL);
    ASSERT_EQ_INT(RELAY_DROP_BUSY, relay_table_packet(t, &h, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(1, relay_table_flows(t));
    /* the s[4] flow goes on: data, and s[4]'s own hello, still forwarded */
    uint8_t data[200] = { 0 };
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h, data, sizeof data, T0, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    n = hello(&s[4], pkt);
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    /* once the s[4] flow idled out, s[5]'s next punch pairs */
    relay_table_expire(t, T0 + 30000, R0);
    ASSERT_EQ_INT(0, relay_table_flows(t));
    n = hello(&s[5], pkt);
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h, pkt, n, T0 + 30000, R0, &to));
    ASSERT_EQ_INT(1100, port_of(to));
    relay_table_free(t);
}

/* One holder socket (127.0.0.2:2000), two clients, the two attempts on two
 * relay sockets (ports of the range): two flows, each peer gets only its
 * own; the holder's packets on each socket go to that socket's client. */
TEST(relay_one_holder_two_sockets)
{
    struct relay_limits l = limits();
    struct relay_table *t = relay_table_new(&l, 11);
    struct relay_spec a1 = spec(60, "home", "127.0.0.1", "127.0.0.2");
    struct relay_spec a2 = spec(61, "home", "127.0.0.1", "127.0.0.2");
    struct relay_spec a3 = spec(62, "home", "127.0.0.3", "127.0.0.2");
    struct relay_ep c1 = ep_on("127.0.0.1", 1000, 3), c2 = ep_on("127.0.0.1", 1001, 5);
    struct relay_ep h1 = ep_on("127.0.0.2", 2000, 3), h2 = ep_on("127.0.0.2", 2000, 5);
    struct relay_ep c3 = ep_on("127.0.0.3", 1002, 3);
    const struct relay_ep *to;
    uint8_t p1[PUNCH_MAX], p2[PUNCH_MAX], p3[PUNCH_MAX], data[1200] = { 0 };
    size_t n1 = hello(&a1, p1), n2 = hello(&a2, p2), n3 = hello(&a3, p3);

    ASSERT_EQ_INT(RELAY_ADD_OK, relay_table_add(t, &a1, R0));
    ASSERT_EQ_INT(RELAY_ADD_OK, relay_table_add(t, &a2, R0));
    ASSERT_EQ_INT(RELAY_ADD_OK, relay_table_add(t, &a3, R0));
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c1, p1, n1, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h1, p1, n1, T0, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    ASSERT_EQ_INT(3, to->sock);
    /* the second attempt: its holder hello first, then the client's */
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &h2, p2, n2, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &c2, p2, n2, T0, R0, &to));
    ASSERT_EQ_INT(2000, port_of(to));
    ASSERT_EQ_INT(5, to->sock);
    ASSERT_EQ_INT(2, relay_table_flows(t));
    /* data: each socket's holder packets to its own client, and back */
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h1, data, sizeof data, T0, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    ASSERT_EQ_INT(3, to->sock);
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h2, data, sizeof data, T0, R0, &to));
    ASSERT_EQ_INT(1001, port_of(to));
    ASSERT_EQ_INT(5, to->sock);
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &c1, data, 10, T0, R0, &to));
    ASSERT_EQ_INT(3, to->sock);
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &c2, data, 10, T0, R0, &to));
    ASSERT_EQ_INT(5, to->sock);
    /* a third attempt whose port collides with the first's (socket 3) */
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c3, p3, n3, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_DROP_BUSY, relay_table_packet(t, &h1, p3, n3, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h1, data, sizeof data, T0, R0, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    /* a stranger on socket 5 from the client's address but another socket */
    struct relay_ep c1_on_5 = ep_on("127.0.0.1", 1000, 5);
    ASSERT_EQ_INT(RELAY_DROP_INVALID, relay_table_packet(t, &c1_on_5, data, 100, T0, R0, &to));
    ASSERT_EQ_INT(2, relay_table_events(t)->paired);
    relay_table_free(t);
}

/* A record read again with more holder IPs (the holder's answer) and a
 * later expiry: the IPs and expiry replaced, the slots and flow kept. */
TEST(relay_record_update)
{
    struct relay_limits l = limits();
    struct relay_table *t = relay_table_new(&l, 13);
    struct relay_spec s = spec(70, "home", "127.0.0.1", "127.0.0.2"), u;
    struct relay_ep c = ep("127.0.0.1", 1000), h9 = ep("127.0.0.9", 2000);
    const struct relay_ep *to;
    uint8_t pkt[PUNCH_MAX], data[100] = { 0 };
    size_t n = hello(&s, pkt);

    ASSERT_EQ_INT(RELAY_ADD_OK, relay_table_add(t, &s, R0));
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_DROP_UNKNOWN, relay_table_packet(t, &h9, pkt, n, T0, R0, &to));
    u = s;
    ASSERT_EQ_INT(0, relay_spec_add_ip(&u, RELAY_HOLDER, "127.0.0.9"));
    u.expires_ms = R0 + 20000;
    memset(u.obfs, 0, sizeof u.obfs);                  /* not taken */
    ASSERT_EQ_INT(RELAY_ADD_UPDATED, relay_table_add(t, &u, R0));
    ASSERT_EQ_INT(RELAY_ADD_DUP, relay_table_add(t, &u, R0));
    ASSERT_EQ_INT(1, relay_table_attempts(t));
    /* the client's slot was kept: the new holder IP pairs with it */
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h9, pkt, n, T0, R0 + 15000, &to));
    ASSERT_EQ_INT(1000, port_of(to));
    /* an update of a paired attempt keeps its flow */
    u = s;
    u.expires_ms = R0 + 25000;
    ASSERT_EQ_INT(RELAY_ADD_UPDATED, relay_table_add(t, &u, R0));
    ASSERT_EQ_INT(1, relay_table_flows(t));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &c, data, sizeof data, T0, R0, &to));
    ASSERT_EQ_INT(2000, port_of(to));
    /* the old expiry passed, the new one not: kept */
    relay_table_expire(t, T0, R0 + 20000);
    ASSERT_EQ_INT(1, relay_table_attempts(t));
    ASSERT_EQ_INT(RELAY_ADD_EXPIRED, relay_table_add(t, &u, R0 + 25000));
    relay_table_expire(t, T0, R0 + 25000);
    ASSERT_EQ_INT(0, relay_table_attempts(t));
    ASSERT_EQ_INT(1, relay_table_flows(t));            /* the flow outlives its attempt */
    relay_table_free(t);
}

TEST(relay_max_flows)
{
    struct relay_limits l = limits();
    l.max_flows = 1;
    struct relay_table *t = relay_table_new(&l, 5);
    struct relay_spec a = spec(40, "a", "127.0.0.1", "127.0.0.2"), b = spec(41, "b", "127.0.0.1", "127.0.0.2");
    const struct relay_ep *to;
    uint8_t pkt[PUNCH_MAX];
    size_t n = hello(&b, pkt);
    struct relay_ep c = ep("127.0.0.1", 1500), h = ep("127.0.0.2", 2500);

    relay_table_add(t, &a, R0);
    relay_table_add(t, &b, R0);
    ASSERT_TRUE(pair(t, &a, 1000, 2000));
    ASSERT_EQ_INT(RELAY_HELD, relay_table_packet(t, &c, pkt, n, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_DROP_LIMIT_FLOWS, relay_table_packet(t, &h, pkt, n, T0, R0, &to));
    /* the first flow idles out; the slots are still held: the next punch pairs */
    relay_table_expire(t, T0 + 30000, R0);
    ASSERT_EQ_INT(0, relay_table_flows(t));
    ASSERT_EQ_INT(1, relay_table_events(t)->flows_expired);
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h, pkt, n, T0 + 30000, R0, &to));
    ASSERT_EQ_INT(1500, port_of(to));
    relay_table_free(t);
}

TEST(relay_rates_and_idle)
{
    struct relay_limits l = limits();
    l.flow_rate = 10000;
    l.total_rate = 15000;
    struct relay_table *t = relay_table_new(&l, 9);
    struct relay_spec a = spec(50, "a", "127.0.0.1", "127.0.0.2"), b = spec(51, "b", "127.0.0.3", "127.0.0.4");
    struct relay_ep c = ep("127.0.0.1", 1000), c3 = ep("127.0.0.3", 1), h4 = ep("127.0.0.4", 2);
    const struct relay_ep *to;
    uint8_t data[1000] = { 0 }, pkt[PUNCH_MAX];
    int ok = 0;

    relay_table_add(t, &a, R0);
    relay_table_add(t, &b, R0);
    ASSERT_TRUE(pair(t, &a, 1000, 2000));               /* the hello: 73 bytes taken */
    for (int k = 0; k < 20; k++)
        ok += relay_table_packet(t, &c, data, sizeof data, T0, R0, &to) == RELAY_FORWARD;
    ASSERT_EQ_INT(9, ok);                               /* 10000 - 73 bytes: 9 of 1000 */
    ASSERT_EQ_INT(RELAY_DROP_RATE_FLOW, relay_table_packet(t, &c, data, sizeof data, T0, R0, &to));
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &c, data, sizeof data, T0 + 200, R0, &to));
    /* a second flow has 15000 - 9073 - 1000 in the total bucket */
    size_t n = hello(&b, pkt);
    relay_table_packet(t, &c3, pkt, n, T0 + 200, R0, &to);
    ASSERT_EQ_INT(RELAY_FORWARD, relay_table_packet(t, &h4, pkt, n, T0 + 200, R0, &to));
    ok = 0;
    int total = 0;
    for (int k = 0; k < 10; k++) {
        enum relay_result r = relay_table_packet(t, &c3, data, sizeof data, T0 + 200, R0, &to);
        ok += r == RELAY_FORWARD;
        total += r == RELAY_DROP_RATE_TOTAL;
    }
    ASSERT_TRUE(ok >= 4 && ok <= 8);
    ASSERT_EQ_INT(10 - ok, total);
    /* idle: flow a had traffic at T0 + 200, flow b too */
    relay_table_expire(t, T0 + 30199, R0);
    ASSERT_EQ_INT(2, relay_table_flows(t));
    relay_table_packet(t, &c3, data, 1, T0 + 20000, R0, &to);   /* b stays alive */
    relay_table_expire(t, T0 + 30200, R0);
    ASSERT_EQ_INT(1, relay_table_flows(t));
    relay_table_expire(t, T0 + 50000, R0);
    ASSERT_EQ_INT(0, relay_table_flows(t));
    relay_table_free(t);
}

TEST(relay_spec_parsing)
{
    struct relay_spec s;
    uint8_t out[4];

    memset(&s, 0, sizeof s);
    ASSERT_EQ_INT(0, relay_spec_add_ip(&s, RELAY_CLIENT, "127.0.0.1"));
    ASSERT_EQ_INT(0, relay_spec_add_ip(&s, RELAY_CLIENT, "::1"));
    ASSERT_EQ_INT(-1, relay_spec_add_ip(&s, RELAY_CLIENT, "[::1]"));
    ASSERT_EQ_INT(-1, relay_spec_add_ip(&s, RELAY_CLIENT, "127.0.0.1:80"));
    ASSERT_EQ_INT(2, s.nips[RELAY_CLIENT]);
    ASSERT_EQ_INT(0xff, s.ips[RELAY_CLIENT][0][11]);
    ASSERT_EQ_INT(1, s.ips[RELAY_CLIENT][1][15]);
    ASSERT_EQ_INT(0, relay_hex_decode("00ff10ab", 8, out, 4));
    ASSERT_EQ_INT(0xab, out[3]);
    ASSERT_EQ_INT(-1, relay_hex_decode("00FF10AB", 8, out, 4));
    ASSERT_EQ_INT(-1, relay_hex_decode("00ff10a", 7, out, 4));
    ASSERT_EQ_STR("forwarded", relay_result_name(RELAY_FORWARD));
    ASSERT_EQ_STR("rate_total", relay_result_name(RELAY_DROP_RATE_TOTAL));
}
