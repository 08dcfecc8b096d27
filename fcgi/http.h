/* http.h -- response heads in CGI form, as FastCGI responders send them (pure). */
#ifndef RR_HTTP_H
#define RR_HTTP_H

#include <stddef.h>

/* "OK", "No Content", ... for the statuses this server sends. */
const char *http_reason(int status);

/* Write "Status: <n> <reason>\r\n", a Content-Type line if ctype is not
 * NULL, the extra header lines if not NULL (each ending "\r\n"), and the
 * blank line, into buf. Returns the length, or -1 if it does not fit. */
int http_head(char *buf, size_t size, int status, const char *ctype, const char *extra);

#endif
