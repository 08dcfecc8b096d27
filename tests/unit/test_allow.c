/* test_allow.c -- unit tests of the FastCGI peer allow-list (fcgi/allow.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "allow.h"
#include "unit.h"

/* 1 if the textual address ip matches list spec. */
static int allowed(const char *spec, const char *ip)
{
    struct allow_list a;
    char err[128];
    struct sockaddr_in v4 = { .sin_family = AF_INET };
    struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };
    if (allow_parse(spec, &a, err, sizeof(err)) != 0)
        return -1;
    if (inet_pton(AF_INET, ip, &v4.sin_addr) == 1)
        return allow_match(&a, (struct sockaddr *)&v4);
    if (inet_pton(AF_INET6, ip, &v6.sin6_addr) == 1)
        return allow_match(&a, (struct sockaddr *)&v6);
    return -2;
}

TEST(allow_default_loopback)
{
    const char *def = "127.0.0.0/8,::1";
    ASSERT_EQ_INT(1, allowed(def, "127.0.0.1"));
    ASSERT_EQ_INT(1, allowed(def, "127.255.0.9"));
    ASSERT_EQ_INT(1, allowed(def, "::1"));
    ASSERT_EQ_INT(1, allowed(def, "::ffff:127.0.0.1"));
    ASSERT_EQ_INT(0, allowed(def, "128.0.0.1"));
    ASSERT_EQ_INT(0, allowed(def, "10.0.0.1"));
    ASSERT_EQ_INT(0, allowed(def, "::2"));
    ASSERT_EQ_INT(0, allowed(def, "::ffff:10.0.0.1"));
}

TEST(allow_prefixes)
{
    ASSERT_EQ_INT(1, allowed("10.1.2.0/23", "10.1.3.255"));
    ASSERT_EQ_INT(0, allowed("10.1.2.0/23", "10.1.4.0"));
    ASSERT_EQ_INT(1, allowed("0.0.0.0/0", "203.0.113.9"));
    ASSERT_EQ_INT(0, allowed("0.0.0.0/0", "2001:db8::1"));
    ASSERT_EQ_INT(1, allowed("2001:db8::/33", "2001:db8:7fff::1"));
    ASSERT_EQ_INT(0, allowed("2001:db8::/33", "2001:db8:8000::1"));
    ASSERT_EQ_INT(1, allowed(" 192.0.2.7 , 198.51.100.0/24 ", "198.51.100.200"));
    ASSERT_EQ_INT(1, allowed("192.0.2.7/32", "192.0.2.7"));
    ASSERT_EQ_INT(0, allowed("192.0.2.7/32", "192.0.2.8"));
}

TEST(allow_bad_lists)
{
    struct allow_list a;
    char err[128];
    const char *bad[] = { "", ",", "127.0.0.1,", "localhost", "10.0.0.0/33", "::1/129",
                          "10.0.0.0/", "10.0.0.0/8x", "10.0.0.0/-1", "1.2.3", NULL };
    for (int k = 0; bad[k] != NULL; k++) {
        err[0] = '\0';
        ASSERT_EQ_INT(-1, allow_parse(bad[k], &a, err, sizeof(err)));
        ASSERT_TRUE(err[0] != '\0');
    }
    ASSERT_EQ_INT(-1, allow_parse("127.0.0.1,nope", &a, err, sizeof(err)));
    ASSERT_TRUE(strstr(err, "nope") != NULL);
}
