/* conn.h -- one FastCGI connection from the proxy, on the event loop.
 *
 * A connection reads records (fcgi_reader) and, when a request is
 * complete, hands it to the handlers (handle_request). The answer is
 * written with conn_write / conn_finish as FCGI_STDOUT records and
 * FCGI_END_REQUEST; after it, a connection the proxy asked to keep
 * (FCGI_KEEP_CONN) reads the next request, any other is closed. One
 * request at a time: the proxies never multiplex, and the reader refuses a
 * second request while one is served.
 *
 * Writes never block: what the socket does not take waits in a queue of at
 * most CONN_QUEUE_MAX bytes; a peer that lets more pile up is dropped.
 *
 * Lifetime: a connection is reference-counted. Whoever answers later (a
 * Redis reply, an event stream, a waiting connect) holds a reference and
 * checks conn_alive() before writing; the memory goes at the end of the
 * loop turn after the last reference is dropped from a closed connection.
 */
#ifndef RR_CONN_H
#define RR_CONN_H

#include <stddef.h>
#include <stdint.h>

#define CONN_QUEUE_MAX (64 * 1024)
#define CONN_KEEP_IDLE_MS (300 * 1000)

struct loop;
struct conn;
struct conn_list;
struct fcgi_request;

/* Who holds a connection's request after the handler returned (an event
 * stream, a waiting connect). */
struct conn_owner {
    /* The connection failed or the peer went away: the owner stops, and
     * drops its hold with conn_unhold(). */
    void (*on_gone)(struct conn_owner *o);
    /* Everything queued has been sent (may be NULL). */
    void (*on_drained)(struct conn_owner *o);
};

/* What the handlers note about the request being served (for metrics). */
struct conn_note {
    int route;                /* enum metrics_route */
    const char *method;       /* a static string: "GET", "POST", ... or NULL */
    uint64_t start_us;        /* when the request was complete */
    int counted;              /* its answer was counted */
};

enum conn_rc {
    CONN_OK = 0,        /* all written */
    CONN_AGAIN = 1,     /* some queued: sent when the socket takes it */
    CONN_ERROR = -1     /* peer gone or queue over the limit: the connection is closed */
};

struct conn_list *conn_list_new(void);
void conn_list_free(struct conn_list *cl);
size_t conn_count(const struct conn_list *cl);

/* Take over an accepted socket (non-blocking already). 0, or -1 with fd
 * closed. */
int conn_open(struct loop *l, int fd);

/* The request being served, until conn_finish() or conn_hold(). */
const struct fcgi_request *conn_request(const struct conn *c);

/* The note of the request being served (reset for each request). */
struct conn_note *conn_note(struct conn *c);

/* 1 while the connection is open. */
int conn_alive(const struct conn *c);

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Send len bytes of the response as FCGI_STDOUT. */
enum conn_rc conn_write(struct conn *c, const void *data, size_t len);

/* Send the last len bytes (may be 0) and end the request, in one write.
 * The connection then takes the next request, or closes once sent. */
enum conn_rc conn_finish(struct conn *c, const void *data, size_t len);

/* 1 when nothing waits to be sent. */
int conn_drained(const struct conn *c);

/* The request stays open after the handler returns: the request's params
 * and body are freed (copy what is needed first), o is told if the peer
 * goes away, and the owner holds a reference until conn_unhold(). */
void conn_hold(struct conn *c, struct conn_owner *o);
void conn_unhold(struct conn *c);

/* Fix the socket's kernel send buffer at bytes (the kernel doubles it),
 * instead of letting TCP grow it to megabytes toward a proxy that stopped
 * reading: a held stream then pins a bounded amount of memory, and one
 * whose client does not read fills its queue and is dropped. */
void conn_bound_sndbuf(struct conn *c, int bytes);

/* Close now, telling no owner (the caller is the owner, or there is none). */
void conn_close(struct conn *c);

/* FastCGI read timeouts; the loop calls it every tick. */
void conn_tick(struct loop *l, uint64_t now);

/* At stop: close the kept connections that wait for their next request
 * (the others close once their request is answered; new ones are read and
 * served, so nothing the proxy already sent is lost). */
void conn_close_idle(struct loop *l);

/* At the end: close every connection. */
void conn_close_all(struct loop *l);

#endif
