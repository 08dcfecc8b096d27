/* test_route.c -- method and raw path to endpoint (route.c). */
#include "route.h"
#include "unit.h"

TEST(route_each_endpoint)
{
    struct route_match m;

    route_match("POST", "/v1/home", &m);
    ASSERT_EQ_INT(EP_REGISTER, m.ep);
    ASSERT_EQ_INT(1, m.method_ok);
    ASSERT_EQ_INT(AUTH_TOKEN, m.auth);
    ASSERT_EQ_INT(0, m.parks);
    ASSERT_EQ_STR("home", m.name);
    ASSERT_EQ_INT(4, m.name_len);

    route_match("DELETE", "/v1/home", &m);
    ASSERT_EQ_INT(EP_DEREGISTER, m.ep);
    ASSERT_EQ_INT(AUTH_SESSION, m.auth);

    route_match("GET", "/v1/home/events", &m);
    ASSERT_EQ_INT(EP_EVENTS, m.ep);
    ASSERT_EQ_INT(AUTH_SESSION, m.auth);
    ASSERT_EQ_INT(1, m.parks);
    ASSERT_EQ_STR("home", m.name);

    route_match("POST", "/v1/home/heartbeat", &m);
    ASSERT_EQ_INT(EP_HEARTBEAT, m.ep);
    ASSERT_EQ_INT(AUTH_SESSION, m.auth);
    ASSERT_EQ_INT(0, m.parks);

    route_match("POST", "/v1/home/connect", &m);
    ASSERT_EQ_INT(EP_CONNECT, m.ep);
    ASSERT_EQ_INT(AUTH_TOKEN, m.auth);
    ASSERT_EQ_INT(1, m.parks);
}

TEST(route_answer_nonce)
{
    struct route_match m;

    route_match("POST", "/v1/home/connects/0123456789abcdefABCDEF0123456789", &m);
    ASSERT_EQ_INT(EP_ANSWER, m.ep);
    ASSERT_EQ_INT(1, m.method_ok);
    ASSERT_EQ_INT(AUTH_SESSION, m.auth);
    ASSERT_EQ_INT(0, m.parks);
    ASSERT_EQ_STR("home", m.name);
    ASSERT_EQ_STR("0123456789abcdefABCDEF0123456789", m.nonce);
    ASSERT_EQ_INT(0, m.nonce_bad);

    route_match("POST", "/v1/home/connects/%30%31", &m);
    ASSERT_EQ_INT(EP_ANSWER, m.ep);
    ASSERT_EQ_STR("01", m.nonce);
    ASSERT_EQ_INT(0, m.nonce_bad);

    route_match("POST", "/v1/home/connects/%zz", &m);
    ASSERT_EQ_INT(EP_ANSWER, m.ep);
    ASSERT_EQ_INT(1, m.nonce_bad);

    route_match("POST", "/v1/home/connects/ab%2Fcd", &m);
    ASSERT_EQ_INT(EP_ANSWER, m.ep);
    ASSERT_EQ_INT(1, m.nonce_bad);

    route_match("POST", "/v1/home/connects/", &m);
    ASSERT_EQ_INT(EP_ANSWER, m.ep);
    ASSERT_EQ_STR("", m.nonce);

    route_match("POST", "/v1/home/connects/abc/", &m);
    ASSERT_EQ_INT(EP_NONE, m.ep);
    route_match("POST", "/v1/home/connects", &m);
    ASSERT_EQ_INT(EP_NONE, m.ep);
}

TEST(route_nonce_too_long)
{
    char path[400];
    struct route_match m;

    snprintf(path, sizeof path, "/v1/h/connects/%096d", 0);
    route_match("POST", path, &m);
    ASSERT_EQ_INT(EP_ANSWER, m.ep);
    ASSERT_EQ_INT(0, m.nonce_bad);
    ASSERT_EQ_INT(96, strlen(m.nonce));
    snprintf(path, sizeof path, "/v1/h/connects/%097d", 0);
    route_match("POST", path, &m);
    ASSERT_EQ_INT(EP_ANSWER, m.ep);
    ASSERT_EQ_INT(1, m.nonce_bad);
}

TEST(route_wrong_method)
{
    struct route_match m;

    route_match("GET", "/v1/home", &m);
    ASSERT_TRUE(m.ep != EP_NONE);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("POST, DELETE", m.allow);

    route_match("HEAD", "/v1/home/events", &m);
    ASSERT_TRUE(m.ep != EP_NONE);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("GET", m.allow);

    route_match("POST", "/v1/home/events", &m);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("GET", m.allow);

    route_match("GET", "/v1/home/heartbeat", &m);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("POST", m.allow);

    route_match("PUT", "/v1/home/connect", &m);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("POST", m.allow);

    route_match("DELETE", "/v1/home/connects/00", &m);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("POST", m.allow);

    route_match("post", "/v1/home", &m);   /* methods are case-sensitive */
    ASSERT_EQ_INT(0, m.method_ok);

    route_match(NULL, "/v1/home", &m);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("home", m.name);
}

TEST(route_unknown_paths)
{
    static const char *const paths[] = {
        "/", "", "/v1", "/v1/home/", "/v1/home/events/", "/v1/home/event",
        "/v1/home/Events", "/v2/home", "/v1/home/heartbeat/x", "/v1/home/unknown",
        "//v1/home", "/V1/home", "v1/home", "/prefix/v1/home", "/v1/home/connect/x",
        "/v1/home/%zzents",
    };
    struct route_match m;
    size_t i;

    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        route_match("POST", paths[i], &m);
        if (m.ep != EP_NONE) {
            unit_fail(__FILE__, __LINE__, "\"%s\" matched endpoint %d", paths[i], (int)m.ep);
            return;
        }
        route_match("GET", paths[i], &m);
        ASSERT_EQ_INT(EP_NONE, m.ep);
    }
    route_match("GET", NULL, &m);
    ASSERT_EQ_INT(EP_NONE, m.ep);
}

TEST(route_percent_decoding)
{
    struct route_match m;

    route_match("POST", "/v1/%41b%63", &m);
    ASSERT_EQ_INT(EP_REGISTER, m.ep);
    ASSERT_EQ_STR("Abc", m.name);
    ASSERT_EQ_INT(3, m.name_len);

    route_match("GET", "/v1/a%20b/%65vents", &m);
    ASSERT_EQ_INT(EP_EVENTS, m.ep);
    ASSERT_EQ_STR("a b", m.name);

    route_match("POST", "/v1/%C3%A9t%c3%a9", &m);
    ASSERT_EQ_INT(EP_REGISTER, m.ep);
    ASSERT_EQ_STR("\xc3\xa9t\xc3\xa9", m.name);
    ASSERT_EQ_INT(5, m.name_len);

    route_match("POST", "/v1/a+b", &m);   /* '+' is not a space in a path */
    ASSERT_EQ_STR("a+b", m.name);
}

TEST(route_bad_name_escapes)
{
    static const char *const paths[] = {
        "/v1/%zz", "/v1/ab%", "/v1/ab%4", "/v1/%00", "/v1/a%2Fb", "/v1/a%2fb", "/v1/%G1",
    };
    struct route_match m;
    size_t i;

    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        route_match("POST", paths[i], &m);
        ASSERT_EQ_INT(EP_REGISTER, m.ep);
        ASSERT_EQ_INT(0, m.name_len);
        ASSERT_EQ_INT(0, m.name_too_long);
    }
    route_match("GET", "/v1/a%2Fb/events", &m);
    ASSERT_EQ_INT(EP_EVENTS, m.ep);
    ASSERT_EQ_INT(0, m.name_len);
}

TEST(route_empty_name)
{
    struct route_match m;

    route_match("POST", "/v1/", &m);
    ASSERT_EQ_INT(EP_REGISTER, m.ep);
    ASSERT_EQ_INT(0, m.name_len);
    route_match("GET", "/v1//events", &m);
    ASSERT_EQ_INT(EP_EVENTS, m.ep);
    ASSERT_EQ_INT(0, m.name_len);
}

TEST(route_name_too_long)
{
    char path[RR_NAME_MAX * 3 + 40], name[RR_NAME_MAX + 2];
    struct route_match m;

    memset(name, 'a', sizeof name);
    name[RR_NAME_MAX] = '\0';
    snprintf(path, sizeof path, "/v1/%s/heartbeat", name);
    route_match("POST", path, &m);
    ASSERT_EQ_INT(EP_HEARTBEAT, m.ep);
    ASSERT_EQ_INT(RR_NAME_MAX, m.name_len);
    ASSERT_EQ_INT(0, m.name_too_long);

    name[RR_NAME_MAX] = 'a';
    name[RR_NAME_MAX + 1] = '\0';
    snprintf(path, sizeof path, "/v1/%s/heartbeat", name);
    route_match("POST", path, &m);
    ASSERT_EQ_INT(EP_HEARTBEAT, m.ep);
    ASSERT_EQ_INT(0, m.name_len);
    ASSERT_EQ_INT(1, m.name_too_long);
}

TEST(route_escaped_name_length_counts_decoded)
{
    char path[RR_NAME_MAX * 3 + 40];
    struct route_match m;
    size_t i, n = (size_t)snprintf(path, sizeof path, "/v1/");

    for (i = 0; i < RR_NAME_MAX; i++)
        n += (size_t)snprintf(path + n, sizeof path - n, "%%41");
    route_match("POST", path, &m);
    ASSERT_EQ_INT(EP_REGISTER, m.ep);
    ASSERT_EQ_INT(RR_NAME_MAX, m.name_len);
    ASSERT_EQ_INT('A', m.name[RR_NAME_MAX - 1]);
}

TEST(route_query_ignored)
{
    struct route_match m;

    route_match("GET", "/v1/home/events?x=1", &m);
    ASSERT_EQ_INT(EP_EVENTS, m.ep);
    ASSERT_EQ_STR("home", m.name);
}

TEST(route_status_extension)
{
    struct route_match m;

    route_match("GET", "/v1/home", &m);             /* off: as the contract */
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("POST, DELETE", m.allow);

    route_match_ext("GET", "/v1/home", ROUTE_EXT_STATUS, &m);
    ASSERT_EQ_INT(EP_STATUS, m.ep);
    ASSERT_EQ_INT(1, m.method_ok);
    ASSERT_EQ_INT(AUTH_TOKEN, m.auth);
    ASSERT_EQ_STR("home", m.name);

    route_match_ext("POST", "/v1/home", ROUTE_EXT_STATUS, &m);
    ASSERT_EQ_INT(EP_REGISTER, m.ep);
    ASSERT_EQ_INT(1, m.method_ok);

    route_match_ext("PUT", "/v1/home", ROUTE_EXT_STATUS, &m);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("GET, POST, DELETE", m.allow);

    route_match_ext("GET", "/v1/home/heartbeat", ROUTE_EXT_STATUS, &m);
    ASSERT_EQ_INT(0, m.method_ok);
    ASSERT_EQ_STR("POST", m.allow);
}
