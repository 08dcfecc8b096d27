/* http.c -- response heads in CGI form, as FastCGI responders send them (pure). */
#include <stdio.h>

#include "http.h"

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    { 200, "OK" },
    { 204, "No Content" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 409, "Conflict" },
    { 413, "Payload Too Large" },
    { 429, "Too Many Requests" },
    { 500, "Internal Server Error" },
    { 503, "Service Unavailable" },
};

const char *http_reason(int status)
{
    for (size_t k = 0; k < sizeof(reasons) / sizeof(reasons[0]); k++)
        if (reasons[k].status == status)
            return reasons[k].reason;
    return "Unknown";
}

int http_head(char *buf, size_t size, int status, const char *ctype, const char *extra)
{
    int n = snprintf(buf, size, "Status: %d %s\r\n%s%s%s%s\r\n", status,
                     http_reason(status),
                     ctype ? "Content-Type: " : "", ctype ? ctype : "",
                     ctype ? "\r\n" : "", extra ? extra : "");
    return n < 0 || (size_t)n >= size ? -1 : n;
}
