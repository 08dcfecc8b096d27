/* sse.c -- Server-Sent Events framing and the stored event records (pure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

const char SSE_HEAD[] =
    "Status: 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\n"
    "\r\n";

const char SSE_OPEN[] =
    "Status: 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\n"
    "\r\n"
    SSE_KEEPALIVE;

/* 1 if s holds a line break (which would end the field early). */
static int sse_has_newline(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* Format "id: <id>\nevent: <name>\ndata: <data>\n\n" (no id line when id is
 * NULL) into a malloc'd string; *len gets its length (if len is not NULL).
 * NULL if a field holds '\r' or '\n', name or data is NULL, or out of memory. */
char *sse_event(const char *id, const char *name, const char *data, size_t *len)
{
    size_t n, off = 0;
    char *out;

    if (name == NULL || data == NULL || sse_has_newline(name)
        || sse_has_newline(data) || (id != NULL && sse_has_newline(id)))
        return NULL;
    n = strlen("event: \ndata: \n\n") + strlen(name) + strlen(data)
        + (id != NULL ? strlen("id: \n") + strlen(id) : 0);
    out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    if (id != NULL)
        off = (size_t)snprintf(out, n + 1, "id: %s\n", id);
    off += (size_t)snprintf(out + off, n + 1 - off, "event: %s\ndata: %s\n\n", name, data);
    if (len != NULL)
        *len = off;
    return out;
}

/* Split a stored record "<id> <name> <data>" in place: the first two spaces
 * become NULs. 0, or -1 if a part is missing or id or name is empty. */
int sse_parse_record(char *rec, char **id, char **name, char **data)
{
    char *sp1, *sp2;

    if (rec == NULL)
        return -1;
    sp1 = strchr(rec, ' ');
    if (sp1 == NULL || sp1 == rec)
        return -1;
    sp2 = strchr(sp1 + 1, ' ');
    if (sp2 == NULL || sp2 == sp1 + 1)
        return -1;
    *sp1 = '\0';
    *sp2 = '\0';
    *id = rec;
    *name = sp1 + 1;
    *data = sp2 + 1;
    return 0;
}
