/* conn.c -- one FastCGI connection from the proxy, on the event loop.
 *
 *   accepted --bytes--> reading (deadline: --fcgi-timeout) --request--> serving
 *   serving --conn_finish--> kept: idle (deadline: CONN_KEEP_IDLE_MS) --bytes--> reading
 *                        \-> not kept: closed once the reply is sent
 *   any --EOF, error, timeout, queue over the limit--> closed (owner told)
 *
 * The socket is watched for EPOLLIN|EPOLLRDHUP the whole time, EPOLLOUT
 * only while the queue holds bytes. One read(2) per readiness event: with
 * level-triggered epoll, anything left is reported again next turn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "fcgi_frame.h"
#include "fcgi_reader.h"
#include "handlers.h"
#include "list.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define WATCH (EPOLLIN | EPOLLRDHUP)
#define READ_CHUNK 16384
#define SMALL_FRAME 4096

struct conn {
    struct loop_io io;
    struct loop *loop;
    struct list_link link;             /* in the loop's list */
    struct fcgi_reader reader;
    struct conn_owner *owner;
    struct conn_note note;
    unsigned char *q;                  /* unsent bytes, NULL when none */
    size_t qlen, qoff;
    uint64_t deadline;                 /* close if still reading then; 0: none */
    unsigned refs;
    int request_id;
    unsigned serving : 1, keep : 1, partial : 1, close_when_sent : 1, kept : 1;
    unsigned dead : 1, freeing : 1;
};

struct conn_list {
    struct list all;
};

struct conn_list *conn_list_new(void)
{
    struct conn_list *cl = calloc(1, sizeof(*cl));
    if (cl != NULL)
        list_init(&cl->all);
    return cl;
}

void conn_list_free(struct conn_list *cl)
{
    free(cl);
}

size_t conn_count(const struct conn_list *cl)
{
    return cl->all.count;
}

/* ---- life ---- */

static void conn_free(void *p)
{
    struct conn *c = p;
    fcgi_reader_release(&c->reader);
    free(c->q);
    free(c);
}

static void maybe_free(struct conn *c)
{
    if (c->dead && c->refs == 0 && !c->freeing) {
        c->freeing = 1;
        loop_defer_free(c->loop, c, conn_free);
    }
}

void conn_ref(struct conn *c)
{
    c->refs++;
}

void conn_unref(struct conn *c)
{
    c->refs--;
    maybe_free(c);
}

int conn_alive(const struct conn *c)
{
    return !c->dead;
}

void conn_close(struct conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    c->owner = NULL;
    loop_io_set(c->loop, &c->io, 0);
    close(c->io.fd);
    c->io.fd = -1;
    list_remove(&loop_conns(c->loop)->all, &c->link);
    fcgi_reader_release(&c->reader);
    free(c->q);
    c->q = NULL;
    c->qlen = c->qoff = 0;
    listener_fd_freed(loop_listener(c->loop));
    maybe_free(c);
}

/* The connection failed under its owner: close, then tell the owner. */
static void conn_fail(struct conn *c)
{
    struct conn_owner *o = c->owner;
    conn_ref(c);
    conn_close(c);
    if (o != NULL)
        o->on_gone(o);
    conn_unref(c);
}

void conn_bound_sndbuf(struct conn *c, int bytes)
{
    /* Best effort: a failure leaves the kernel's autotuned buffer. */
    if (setsockopt(c->io.fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)) != 0)
        log_msg(LOG_DEBUG, "sndbuf_failed", "fd=%d", c->io.fd);
}

void conn_hold(struct conn *c, struct conn_owner *o)
{
    c->owner = o;
    conn_ref(c);
    fcgi_reader_release(&c->reader);
}

void conn_unhold(struct conn *c)
{
    c->owner = NULL;
    conn_unref(c);
}

const struct fcgi_request *conn_request(const struct conn *c)
{
    return c->serving ? fcgi_reader_request(&c->reader) : NULL;
}

struct conn_note *conn_note(struct conn *c)
{
    return &c->note;
}

int conn_drained(const struct conn *c)
{
    return c->q == NULL;
}

/* ---- writing ---- */

/* Write as much of buf as the socket takes now; how much, or -1. */
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

static enum conn_rc queue_add(struct conn *c, const unsigned char *buf, size_t len)
{
    size_t have = c->qlen - c->qoff;
    if (have + len > CONN_QUEUE_MAX)
        return CONN_ERROR;
    unsigned char *q = malloc(have + len);
    if (q == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=write_queue bytes=%zu", have + len);
        return CONN_ERROR;
    }
    if (have > 0)
        memcpy(q, c->q + c->qoff, have);
    memcpy(q + have, buf, len);
    free(c->q);
    c->q = q;
    c->qlen = have + len;
    c->qoff = 0;
    return loop_io_set(c->loop, &c->io, WATCH | EPOLLOUT) == 0 ? CONN_AGAIN : CONN_ERROR;
}

/* Send bytes after anything already queued; close on failure. */
static enum conn_rc send_or_queue(struct conn *c, const unsigned char *buf, size_t len)
{
    enum conn_rc rc;
    if (c->dead)
        return CONN_ERROR;
    if (c->q != NULL) {
        rc = queue_add(c, buf, len);
    } else {
        ssize_t n = send_some(c->io.fd, buf, len);
        rc = n < 0 ? CONN_ERROR : (size_t)n == len ? CONN_OK
             : queue_add(c, buf + n, len - (size_t)n);
    }
    if (rc == CONN_ERROR)
        conn_close(c);
    return rc;
}

/* Frame len bytes (plus the end of the request if end) and send them. */
static enum conn_rc send_framed(struct conn *c, const void *data, size_t len, int end)
{
    unsigned char small[SMALL_FRAME];
    size_t need = fcgi_frame_stdout_size(len) + (end ? FCGI_FRAME_END_SIZE : 0);
    unsigned char *buf = need <= sizeof(small) ? small : malloc(need);
    if (buf == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=reply bytes=%zu", need);
        conn_close(c);
        return CONN_ERROR;
    }
    size_t n = fcgi_frame_stdout(buf, c->request_id, data, len);
    if (end)
        fcgi_frame_end(buf + n, c->request_id);
    enum conn_rc rc = send_or_queue(c, buf, need);
    if (buf != small)
        free(buf);
    return rc;
}

enum conn_rc conn_write(struct conn *c, const void *data, size_t len)
{
    return send_framed(c, data, len, 0);
}

enum conn_rc conn_finish(struct conn *c, const void *data, size_t len)
{
    if (!c->serving)
        return CONN_ERROR;
    enum conn_rc rc = send_framed(c, data, len, 1);
    c->serving = 0;
    c->owner = NULL;
    fcgi_reader_release(&c->reader);
    if (rc == CONN_ERROR)
        return rc;
    if (!c->keep || loop_stopping(c->loop)) {
        if (rc == CONN_OK)
            conn_close(c);
        else
            c->close_when_sent = 1;
        return rc;
    }
    c->deadline = loop_now_ms() + CONN_KEEP_IDLE_MS;
    c->kept = 1;
    return rc;
}

static void flush_queue(struct conn *c)
{
    ssize_t n = send_some(c->io.fd, c->q + c->qoff, c->qlen - c->qoff);
    if (n < 0) {
        conn_fail(c);
        return;
    }
    c->qoff += (size_t)n;
    if (c->qoff < c->qlen)
        return;
    free(c->q);
    c->q = NULL;
    c->qlen = c->qoff = 0;
    if (c->close_when_sent) {
        conn_close(c);
        return;
    }
    if (loop_io_set(c->loop, &c->io, WATCH) != 0) {
        conn_fail(c);
        return;
    }
    if (c->owner != NULL && c->owner->on_drained != NULL)
        c->owner->on_drained(c->owner);
}

/* ---- reading ---- */

static void on_request(struct conn *c)
{
    const struct fcgi_request *req = fcgi_reader_request(&c->reader);
    if (c->serving) {
        /* A second request while one is held: the proxies never do this. */
        log_msg(LOG_WARN, "fcgi_protocol_error", "what=second_request");
        conn_fail(c);
        return;
    }
    c->serving = 1;
    c->partial = 0;
    c->deadline = 0;
    c->note = (struct conn_note){ MR_OTHER, NULL, metrics_now_us(), 0 };
    c->request_id = req->id;
    c->keep = req->keep_conn != 0;
    handle_request(c->loop, c);
}

/* Feed what was read to the reader and act on what it reports. */
static void conn_feed(struct conn *c, const unsigned char *buf, size_t len)
{
    size_t off = 0, used, rlen;
    conn_ref(c);
    while (!c->dead && off < len) {
        enum fcgi_event ev = fcgi_reader_feed(&c->reader, buf + off, len - off, &used);
        off += used;
        if (ev == FCGI_EV_REQUEST) {
            on_request(c);
        } else if (ev == FCGI_EV_REPLY) {
            const unsigned char *r = fcgi_reader_reply(&c->reader, &rlen);
            send_or_queue(c, r, rlen);
        } else if (ev == FCGI_EV_ABORT || ev == FCGI_EV_ERROR) {
            if (ev == FCGI_EV_ERROR)
                log_msg(c->reader.oom ? LOG_ERROR : LOG_WARN,
                        c->reader.oom ? "out_of_memory" : "fcgi_protocol_error",
                        "what=fastcgi_records");
            conn_fail(c);
        } else {
            break;
        }
    }
    conn_unref(c);
}

static void on_readable(struct conn *c)
{
    static unsigned char buf[READ_CHUNK];
    ssize_t n = read(c->io.fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        conn_fail(c);        /* the proxy closed: its client went away */
        return;
    }
    if (!c->serving && !c->partial) {
        c->partial = 1;      /* a request begins: it must arrive in time */
        c->deadline = loop_now_ms() + (uint64_t)loop_config(c->loop)->fcgi_timeout * 1000;
    }
    conn_feed(c, buf, (size_t)n);
}

static void on_io(struct loop_io *io, uint32_t revents)
{
    struct conn *c = (struct conn *)((char *)io - offsetof(struct conn, io));
    if (c->dead)
        return;              /* closed earlier in this turn */
    if ((revents & EPOLLOUT) && c->q != NULL)
        flush_queue(c);
    if (!c->dead && (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        on_readable(c);
}

int conn_open(struct loop *l, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=connection");
        close(fd);
        return -1;
    }
    c->loop = l;
    c->io.fd = fd;
    c->io.on_io = on_io;
    fcgi_reader_init(&c->reader);
    c->deadline = loop_now_ms() + (uint64_t)loop_config(l)->fcgi_timeout * 1000;
    if (loop_io_set(l, &c->io, WATCH) != 0) {
        close(fd);
        free(c);
        return -1;
    }
    list_append(&loop_conns(l)->all, &c->link);
    return 0;
}

void conn_tick(struct loop *l, uint64_t now)
{
    struct conn_list *cl = loop_conns(l);
    for (struct list_link *e = list_first(&cl->all), *next; e != NULL; e = next) {
        struct conn *c = list_entry(e, struct conn, link);
        next = list_next(&cl->all, e);
        if (c->serving || c->deadline == 0 || now < c->deadline)
            continue;
        log_msg(LOG_DEBUG, "fcgi_timeout", "fd=%d partial=%d", c->io.fd, (int)c->partial);
        conn_close(c);
    }
}

void conn_close_idle(struct loop *l)
{
    struct conn_list *cl = loop_conns(l);
    for (struct list_link *e = list_first(&cl->all), *next; e != NULL; e = next) {
        struct conn *c = list_entry(e, struct conn, link);
        next = list_next(&cl->all, e);
        if (c->kept && !c->serving && !c->partial)
            conn_close(c);
    }
}

void conn_close_all(struct loop *l)
{
    struct conn_list *cl = loop_conns(l);
    struct list_link *e;
    while ((e = list_first(&cl->all)) != NULL)
        conn_fail(list_entry(e, struct conn, link));
}
