/* park.h -- a parked FastCGI request: its socket, written to by hand.
 *
 * After a request thread has read a request to the end and let go of
 * libfcgi's request object, what is left is the socket to the proxy and
 * the FastCGI request id. The loop writes the response here as FCGI_STDOUT
 * records and ends it with FCGI_END_REQUEST. Writes never block: what the
 * socket does not take waits in a small queue, flushed when epoll says the
 * socket is writable; a peer that lets more than PARK_QUEUE_MAX bytes pile
 * up is dropped. Loop thread only.
 */
#ifndef RR_PARK_H
#define RR_PARK_H

#include <stddef.h>
#include <stdint.h>
#include "loop.h"

#define PARK_QUEUE_MAX (64 * 1024)

enum park_rc {
    PARK_OK = 0,        /* all written */
    PARK_AGAIN = 1,     /* some queued: watch for EPOLLOUT */
    PARK_ERROR = -1     /* peer gone, or queue over the limit */
};

struct park {
    struct loop_io io;          /* fd and on_io set by the owner */
    int request_id;
    int ended;                  /* END_REQUEST queued */
    unsigned char *q;           /* unsent bytes, NULL when none */
    size_t qlen, qoff;
};

/* Take over fd (made non-blocking) for request_id, and watch it for the
 * peer going away. on_io is the owner's handler. 0 or -1. */
int park_open(struct park *p, struct loop *l, int fd, int request_id,
              void (*on_io)(struct loop_io *, uint32_t));

/* Allocate size zeroed bytes that begin with a struct park, and
 * park_open() it. NULL on failure, with fd closed. */
void *park_new(struct loop *l, size_t size, int fd, int request_id,
               void (*on_io)(struct loop_io *, uint32_t));

/* Send len bytes of response as FCGI_STDOUT. */
enum park_rc park_write(struct park *p, struct loop *l, const void *data, size_t len);

/* Send the last len bytes of the response and its end, in one write. */
enum park_rc park_finish(struct park *p, struct loop *l, const void *data, size_t len);

/* Send the end of the response (empty STDOUT, END_REQUEST). */
enum park_rc park_end(struct park *p, struct loop *l);

/* On the owner's on_io: PARK_ERROR if the peer went away (any readable
 * data or hang-up: the request was read to its end before parking), else
 * flush the queue on EPOLLOUT. */
enum park_rc park_on_io(struct park *p, struct loop *l, uint32_t revents);

/* 1 when nothing is left to send. */
int park_drained(const struct park *p);

/* Stop watching and close the socket; frees the queue. */
void park_close(struct park *p, struct loop *l);

#endif
