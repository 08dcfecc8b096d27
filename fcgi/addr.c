/* addr.c -- IP-and-port address strings and client IPs (pure, no I/O).
 *
 * Any thread. Only inet_pton/inet_ntop: no name resolution ever. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "contract.h"

/* 1 if port is 1 to 5 decimal digits with a value of at most 65535. */
static int addr_port_valid(const char *port)
{
    long v = 0;
    size_t i;

    for (i = 0; port[i] != '\0'; i++) {
        if (i >= 5 || port[i] < '0' || port[i] > '9')
            return 0;
        v = v * 10 + (port[i] - '0');
    }
    return i > 0 && v <= 65535;
}

/* Copy the n bytes at s into buf (bufsize bytes) as a string. 0 or -1. */
static int addr_copy(char *buf, size_t bufsize, const char *s, size_t n)
{
    if (n >= bufsize)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* 1 if s is "[IPv6]:port" (no zone id), else 0. */
static int addr_valid_v6(const char *s)
{
    const char *close = strchr(s, ']');
    char host[RR_ADDR_STRLEN];
    struct in6_addr a6;

    if (close == NULL || close[1] != ':')
        return 0;
    if (addr_copy(host, sizeof host, s + 1, (size_t)(close - s - 1)) != 0)
        return 0;
    if (inet_pton(AF_INET6, host, &a6) != 1)
        return 0;
    return addr_port_valid(close + 2);
}

/* 1 if s is "a.b.c.d:port", else 0. */
static int addr_valid_v4(const char *s)
{
    const char *colon = strchr(s, ':');
    char host[RR_ADDR_STRLEN];
    struct in_addr a4;

    if (colon == NULL)
        return 0;
    if (addr_copy(host, sizeof host, s, (size_t)(colon - s)) != 0)
        return 0;
    if (inet_pton(AF_INET, host, &a4) != 1)
        return 0;
    return addr_port_valid(colon + 1);
}

/* 1 if s is "203.0.113.10:4433" or "[2001:db8::1]:4433" with a port of
 * 0..65535 and fits RR_ADDR_STRLEN, else 0. */
int addr_valid(const char *s)
{
    size_t len;

    if (s == NULL)
        return 0;
    len = strlen(s);
    if (len == 0 || len > RR_ADDR_STRLEN - 1)
        return 0;
    return s[0] == '[' ? addr_valid_v6(s) : addr_valid_v4(s);
}

/* Normalise the IP literal s into out (outlen bytes): IPv4 dotted quad,
 * IPv6 as inet_ntop prints it, IPv4-mapped IPv6 as IPv4. 0 or -1. */
int addr_normalize_ip(const char *s, char *out, size_t outlen)
{
    char buf[INET6_ADDRSTRLEN];
    struct in_addr a4;
    struct in6_addr a6;
    const char *r;

    if (s == NULL || out == NULL)
        return -1;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        r = inet_ntop(AF_INET, &a4, buf, sizeof buf);
    } else if (inet_pton(AF_INET6, s, &a6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            memcpy(&a4, &a6.s6_addr[12], 4);
            r = inet_ntop(AF_INET, &a4, buf, sizeof buf);
        } else {
            r = inet_ntop(AF_INET6, &a6, buf, sizeof buf);
        }
    } else {
        return -1;
    }
    if (r == NULL)
        return -1;
    return addr_copy(out, outlen, buf, strlen(buf));
}

/* 1 for the white space trimmed around header list elements. */
static int addr_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The client IP from a trusted-proxy header value: the leftmost
 * comma-separated element, spaces trimmed, normalised. 0 or -1. */
int addr_ip_from_header(const char *value, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    const char *start, *end;

    if (value == NULL)
        return -1;
    start = value;
    end = strchr(value, ',');
    if (end == NULL)
        end = value + strlen(value);
    while (start < end && addr_is_space(*start))
        start++;
    while (end > start && addr_is_space(end[-1]))
        end--;
    if (end == start || addr_copy(ip, sizeof ip, start, (size_t)(end - start)) != 0)
        return -1;
    return addr_normalize_ip(ip, out, outlen);
}
