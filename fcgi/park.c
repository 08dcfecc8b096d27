/* park.c -- a parked FastCGI request's socket, written by hand (loop thread only).
 *
 * The socket stays in epoll for EPOLLIN|EPOLLRDHUP the whole time: the proxy
 * sends nothing more after the request's stdin, so readiness to read means
 * it closed the connection (its client went away). EPOLLOUT is added only
 * while the queue holds bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_frame.h"
#include "park.h"

#define WATCH (EPOLLIN | EPOLLRDHUP)

int park_open(struct park *p, struct loop *l, int fd, int request_id,
              void (*on_io)(struct loop_io *, uint32_t))
{
    int flags = fcntl(fd, F_GETFL);
    memset(p, 0, sizeof(*p));
    p->io.fd = fd;
    p->io.on_io = on_io;
    p->request_id = request_id;
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    return loop_io_set(l, &p->io, WATCH);
}

void *park_new(struct loop *l, size_t size, int fd, int request_id,
               void (*on_io)(struct loop_io *, uint32_t))
{
    struct park *p = calloc(1, size);
    if (p == NULL) {
        close(fd);
        return NULL;
    }
    if (park_open(p, l, fd, request_id, on_io) != 0) {
        park_close(p, l);
        free(p);
        return NULL;
    }
    return p;
}

/* Write as much of buf as the socket takes now; return how much, or -1. */
static ssize_t send_some(int fd, const unsigned char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -1;
    }
    return (ssize_t)off;
}

static enum park_rc queue_add(struct park *p, struct loop *l,
                              const unsigned char *buf, size_t len)
{
    size_t have = p->qlen - p->qoff;
    if (have + len > PARK_QUEUE_MAX)
        return PARK_ERROR;
    unsigned char *q = malloc(have + len);
    if (q == NULL)
        return PARK_ERROR;
    if (have > 0)
        memcpy(q, p->q + p->qoff, have);
    memcpy(q + have, buf, len);
    free(p->q);
    p->q = q;
    p->qlen = have + len;
    p->qoff = 0;
    return loop_io_set(l, &p->io, WATCH | EPOLLOUT) == 0 ? PARK_AGAIN : PARK_ERROR;
}

/* Send bytes after anything already queued. */
static enum park_rc send_or_queue(struct park *p, struct loop *l,
                                  const unsigned char *buf, size_t len)
{
    if (p->q != NULL)
        return queue_add(p, l, buf, len);
    ssize_t n = send_some(p->io.fd, buf, len);
    if (n < 0)
        return PARK_ERROR;
    if ((size_t)n == len)
        return PARK_OK;
    return queue_add(p, l, buf + n, len - (size_t)n);
}

enum park_rc park_write(struct park *p, struct loop *l, const void *data, size_t len)
{
    unsigned char small[1024];
    size_t need = fcgi_frame_stdout_size(len);
    unsigned char *buf = need <= sizeof(small) ? small : malloc(need);
    if (buf == NULL)
        return PARK_ERROR;
    size_t n = fcgi_frame_stdout(buf, p->request_id, data, len);
    enum park_rc rc = send_or_queue(p, l, buf, n);
    if (buf != small)
        free(buf);
    return rc;
}

enum park_rc park_finish(struct park *p, struct loop *l, const void *data, size_t len)
{
    unsigned char small[2048];
    size_t n = fcgi_frame_stdout_size(len);
    unsigned char *buf = n + FCGI_FRAME_END_SIZE <= sizeof(small) ? small
                         : malloc(n + FCGI_FRAME_END_SIZE);
    if (buf == NULL)
        return PARK_ERROR;
    fcgi_frame_stdout(buf, p->request_id, data, len);
    fcgi_frame_end(buf + n, p->request_id);
    p->ended = 1;
    enum park_rc rc = send_or_queue(p, l, buf, n + FCGI_FRAME_END_SIZE);
    if (buf != small)
        free(buf);
    return rc;
}

enum park_rc park_end(struct park *p, struct loop *l)
{
    return park_finish(p, l, NULL, 0);
}

enum park_rc park_on_io(struct park *p, struct loop *l, uint32_t revents)
{
    if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        return PARK_ERROR;
    if (!(revents & EPOLLOUT) || p->q == NULL)
        return PARK_OK;
    ssize_t n = send_some(p->io.fd, p->q + p->qoff, p->qlen - p->qoff);
    if (n < 0)
        return PARK_ERROR;
    p->qoff += (size_t)n;
    if (p->qoff < p->qlen)
        return PARK_AGAIN;
    free(p->q);
    p->q = NULL;
    p->qlen = p->qoff = 0;
    return loop_io_set(l, &p->io, WATCH) == 0 ? PARK_OK : PARK_ERROR;
}

int park_drained(const struct park *p)
{
    return p->q == NULL;
}

void park_close(struct park *p, struct loop *l)
{
    if (p->io.fd >= 0) {
        loop_io_set(l, &p->io, 0);
        close(p->io.fd);
        p->io.fd = -1;
    }
    free(p->q);
    p->q = NULL;
    p->qlen = p->qoff = 0;
}
