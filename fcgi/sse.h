/* sse.h -- Server-Sent Events framing (pure).
 *
 * An event is "id: <id>\nevent: <name>\ndata: <one-line JSON>\n\n".
 * The keepalive is the comment ": ka\n\n". */
#ifndef RR_SSE_H
#define RR_SSE_H

#include <stddef.h>

#define SSE_KEEPALIVE ": ka\n\n"

/* The response head for a stream, CGI-style for FastCGI (Status line and
 * headers, blank line): 200, text/event-stream, no-cache,
 * X-Accel-Buffering: no. */
extern const char SSE_HEAD[];

/* SSE_HEAD and a keepalive comment: nginx holds a response head until
 * body bytes follow it, and the peer waits for the head. */
extern const char SSE_OPEN[];

/* Format one event into a malloc'd string (caller frees); *len gets its
 * length. id may be NULL (no id line). data must not contain '\n' or '\r':
 * NULL is returned if it does, or on out of memory. */
char *sse_event(const char *id, const char *name, const char *data, size_t *len);

/* Parse a record as stored in Redis, "<id> <name> <data>", into pointers
 * inside rec (which is modified: the spaces become NULs). 0 or -1. */
int sse_parse_record(char *rec, char **id, char **name, char **data);

#endif
