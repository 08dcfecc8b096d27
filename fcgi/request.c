/* request.c -- one FastCGI request as a request thread sees it (libfcgi lives here).
 *
 * Each request thread owns one struct request and loops on request_accept.
 * libfcgi's FCGX_Accept_r is thread-safe; it blocks in accept(2) and reads
 * the request's params. Writes to the proxy are blocking, so each accepted
 * socket gets a send timeout: a proxy that stops reading cannot hold a
 * thread for longer than that.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <fcgiapp.h>

#include "http.h"
#include "request.h"

#define SEND_TIMEOUT_S 5
#define LISTEN_BACKLOG 1024

struct request {
    FCGX_Request fcgx;
    int accepted;
};

int request_listen(const char *where, char *err, size_t errlen)
{
    if (FCGX_Init() != 0) {
        snprintf(err, errlen, "libfcgi initialisation failed");
        return -1;
    }
    if (where == NULL)
        return 0;     /* FCGI_LISTENSOCK_FILENO, handed over by spawn-fcgi or systemd */
    if (strncmp(where, "unix:", 5) == 0)
        where += 5;
    int fd = FCGX_OpenSocket(where, LISTEN_BACKLOG);
    if (fd < 0)
        snprintf(err, errlen, "cannot listen on %s: %s", where, strerror(errno));
    return fd;
}

struct request *request_new(int listen_fd)
{
    struct request *r = calloc(1, sizeof(*r));
    if (r != NULL && FCGX_InitRequest(&r->fcgx, listen_fd, 0) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void request_free(struct request *r)
{
    if (r == NULL)
        return;
    if (r->accepted)
        FCGX_Finish_r(&r->fcgx);
    free(r);
}

int request_accept(struct request *r)
{
    struct timeval tv = { .tv_sec = SEND_TIMEOUT_S, .tv_usec = 0 };
    r->accepted = 0;
    if (FCGX_Accept_r(&r->fcgx) < 0)
        return -1;
    r->accepted = 1;
    /* libfcgi keeps the socket in its (private) ipcFd. */
    setsockopt(r->fcgx.ipcFd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return 0;
}

const char *request_param(const struct request *r, const char *name)
{
    return FCGX_GetParam(name, r->fcgx.envp);
}

enum body_read request_read_body(struct request *r, char *buf, size_t cap, size_t *len)
{
    char scratch[4096];
    size_t have = 0;
    int too_large = 0;
    for (;;) {
        int n;
        if (have < cap) {
            n = FCGX_GetStr(buf + have, (int)(cap - have), r->fcgx.in);
            if (n > 0)
                have += (size_t)n;
        } else {
            n = FCGX_GetStr(scratch, (int)sizeof(scratch), r->fcgx.in);
            if (n > 0)
                too_large = 1;
        }
        if (n <= 0)
            break;
    }
    buf[have] = '\0';
    *len = have;
    if (FCGX_GetError(r->fcgx.in) != 0)
        return BODY_READ_ERROR;
    return too_large ? BODY_READ_TOO_LARGE : BODY_READ_OK;
}

void request_reply(struct request *r, int status, const char *extra, const char *body)
{
    char head[512];
    int n = http_head(head, sizeof(head), status, body ? "application/json" : NULL, extra);
    if (n < 0)
        n = http_head(head, sizeof(head), 500, NULL, NULL);
    FCGX_PutStr(head, n, r->fcgx.out);
    if (body != NULL)
        FCGX_PutStr(body, (int)strlen(body), r->fcgx.out);
    /* No flush here: FCGX_Finish_r (in the next accept) writes the reply,
     * the end of stdout and END_REQUEST in one write. Detached: the close
     * is a plain close(2), not libfcgi's shutdown + poll-until-the-proxy-
     * closes + read (stdin was read to EOF, so nothing is left unread). */
    FCGX_Detach(&r->fcgx);
}

int request_detach(struct request *r, int *fd, int *request_id)
{
    if (!r->accepted || r->fcgx.ipcFd < 0)
        return -1;
    *fd = r->fcgx.ipcFd;
    *request_id = r->fcgx.requestId;
    /* Free libfcgi's streams and params but keep the connection; with
     * ipcFd forgotten, the next FCGX_Accept_r accepts a new one. */
    FCGX_Free(&r->fcgx, 0);
    r->fcgx.ipcFd = -1;
    r->accepted = 0;
    return 0;
}
