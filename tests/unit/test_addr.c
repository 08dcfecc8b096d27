/* test_addr.c -- address strings (addr_valid) and client IPs. */
#include "addr.h"
#include "contract.h"
#include "unit.h"

TEST(addr_valid_ipv4)
{
    ASSERT_TRUE(addr_valid("203.0.113.10:4433"));
    ASSERT_TRUE(addr_valid("0.0.0.0:0"));
    ASSERT_TRUE(addr_valid("255.255.255.255:65535"));
    ASSERT_TRUE(addr_valid("1.2.3.4:00080"));
}

TEST(addr_valid_ipv6)
{
    ASSERT_TRUE(addr_valid("[2001:db8::1]:4433"));
    ASSERT_TRUE(addr_valid("[::1]:1"));
    ASSERT_TRUE(addr_valid("[::]:0"));
    ASSERT_TRUE(addr_valid("[::ffff:1.2.3.4]:80"));
    ASSERT_TRUE(addr_valid("[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"));
    ASSERT_TRUE(addr_valid("[2001:DB8::A]:443"));
}

TEST(addr_invalid_hosts)
{
    ASSERT_TRUE(!addr_valid("example.com:443"));
    ASSERT_TRUE(!addr_valid("localhost:80"));
    ASSERT_TRUE(!addr_valid("1.2.3:80"));
    ASSERT_TRUE(!addr_valid("1.2.3.4.5:80"));
    ASSERT_TRUE(!addr_valid("256.1.1.1:80"));
    ASSERT_TRUE(!addr_valid("01.2.3.4:80"));
    ASSERT_TRUE(!addr_valid("[1.2.3.4]:80"));
    ASSERT_TRUE(!addr_valid("[example.com]:80"));
    ASSERT_TRUE(!addr_valid("[fe80::1%eth0]:80"));
    ASSERT_TRUE(!addr_valid("[2001:db8::g]:80"));
}

TEST(addr_invalid_ports)
{
    ASSERT_TRUE(!addr_valid("1.2.3.4"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:65536"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:99999"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:100000"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:000080"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:-1"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:+80"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:8a"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:80:90"));
    ASSERT_TRUE(!addr_valid("[::1]"));
    ASSERT_TRUE(!addr_valid("[::1]:"));
    ASSERT_TRUE(!addr_valid("[::1]80"));
    ASSERT_TRUE(!addr_valid("[::1]:65536"));
}

TEST(addr_invalid_shapes)
{
    ASSERT_TRUE(!addr_valid(NULL));
    ASSERT_TRUE(!addr_valid(""));
    ASSERT_TRUE(!addr_valid(":80"));
    ASSERT_TRUE(!addr_valid("::1:80"));
    ASSERT_TRUE(!addr_valid("2001:db8::1:443"));
    ASSERT_TRUE(!addr_valid(" 1.2.3.4:80"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:80 "));
    ASSERT_TRUE(!addr_valid("1.2.3.4 :80"));
    ASSERT_TRUE(!addr_valid("1.2.3.4: 80"));
    ASSERT_TRUE(!addr_valid("[ ::1]:80"));
    ASSERT_TRUE(!addr_valid("[::1:80"));
    ASSERT_TRUE(!addr_valid("::1]:80"));
    ASSERT_TRUE(!addr_valid("1.2.3.4:80\n"));
}

TEST(addr_longest_and_too_long)
{
    /* The longest valid form: 53 bytes. */
    const char *longest = "[0000:0000:0000:0000:0000:ffff:255.255.255.255]:65535";
    char s[300];

    ASSERT_EQ_INT(53, strlen(longest));
    ASSERT_TRUE(addr_valid(longest));
    memset(s, '1', sizeof s - 1);
    s[sizeof s - 1] = '\0';
    ASSERT_TRUE(!addr_valid(s));
    snprintf(s, sizeof s, "[%0200d::1]:80", 0);
    ASSERT_TRUE(!addr_valid(s));
}

TEST(addr_normalize)
{
    char out[RR_IP_STRLEN];

    ASSERT_EQ_INT(0, addr_normalize_ip("198.51.100.7", out, sizeof out));
    ASSERT_EQ_STR("198.51.100.7", out);
    ASSERT_EQ_INT(0, addr_normalize_ip("::ffff:198.51.100.7", out, sizeof out));
    ASSERT_EQ_STR("198.51.100.7", out);
    ASSERT_EQ_INT(0, addr_normalize_ip("::FFFF:c633:6407", out, sizeof out));
    ASSERT_EQ_STR("198.51.100.7", out);
    ASSERT_EQ_INT(0, addr_normalize_ip("2001:DB8:0:0::1", out, sizeof out));
    ASSERT_EQ_STR("2001:db8::1", out);
    ASSERT_EQ_INT(0, addr_normalize_ip("::1", out, sizeof out));
    ASSERT_EQ_STR("::1", out);
    /* IPv4-compatible (not mapped) stays IPv6. */
    ASSERT_EQ_INT(0, addr_normalize_ip("64:ff9b::1.2.3.4", out, sizeof out));
    ASSERT_EQ_STR("64:ff9b::102:304", out);
}

TEST(addr_normalize_bad)
{
    char out[RR_IP_STRLEN], small[8];

    ASSERT_EQ_INT(-1, addr_normalize_ip("", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_normalize_ip(NULL, out, sizeof out));
    ASSERT_EQ_INT(-1, addr_normalize_ip("1.2.3.4:80", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_normalize_ip("[::1]", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_normalize_ip("fe80::1%eth0", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_normalize_ip("host.example", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_normalize_ip(" 1.2.3.4", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_normalize_ip("203.0.113.10", small, sizeof small));
    ASSERT_EQ_INT(0, addr_normalize_ip("1.2.3.4", small, sizeof small));
    ASSERT_EQ_STR("1.2.3.4", small);
}

TEST(addr_header_leftmost)
{
    char out[RR_IP_STRLEN];

    ASSERT_EQ_INT(0, addr_ip_from_header("203.0.113.9, 10.0.0.1, 10.0.0.2", out, sizeof out));
    ASSERT_EQ_STR("203.0.113.9", out);
    ASSERT_EQ_INT(0, addr_ip_from_header("  198.51.100.1\t,10.0.0.1", out, sizeof out));
    ASSERT_EQ_STR("198.51.100.1", out);
    ASSERT_EQ_INT(0, addr_ip_from_header("::ffff:192.0.2.1", out, sizeof out));
    ASSERT_EQ_STR("192.0.2.1", out);
    ASSERT_EQ_INT(0, addr_ip_from_header("2001:db8:0::5 ,1.2.3.4", out, sizeof out));
    ASSERT_EQ_STR("2001:db8::5", out);
}

TEST(addr_header_bad)
{
    char out[RR_IP_STRLEN];

    ASSERT_EQ_INT(-1, addr_ip_from_header(NULL, out, sizeof out));
    ASSERT_EQ_INT(-1, addr_ip_from_header("", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_ip_from_header("   ", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_ip_from_header(", 1.2.3.4", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_ip_from_header("unknown, 1.2.3.4", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_ip_from_header("1.2.3.4:5678", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_ip_from_header("1.2.3.4 5.6.7.8", out, sizeof out));
    ASSERT_EQ_INT(-1, addr_ip_from_header(
        "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001", out, sizeof out));
}
