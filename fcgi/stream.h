/* stream.h -- parked event streams (GET /v1/{id}/events), loop thread only.
 *
 * A stream writes its realm's buffered events when it opens, then each
 * event as it is published, a keepalive comment every --keepalive seconds,
 * and closes when the session is deregistered or expires.
 */
#ifndef RR_STREAM_H
#define RR_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include "contract.h"

struct loop;

/* What a request thread hands over (loop_hand_stream). */
struct stream_start {
    int fd;                          /* the request's socket, stdin read to EOF */
    int request_id;
    char sid[RR_SESSION_HEX + 1];
    long long after;                 /* Last-Event-ID, or -1: from the delivered cursor */
    long long pttl_ms;               /* session life left when checked */
    char name[];                     /* realm */
};

/* NULL on out of memory. name is copied. */
struct stream_start *stream_start_new(const char *name);

/* The list of a loop's streams. */
struct stream_list *stream_list_new(void);
void stream_list_free(struct stream_list *sl);
size_t stream_count(const struct stream_list *sl);

/* Open a stream: send the response head, join the realm's channel. Takes
 * ownership of s (freed here) and of its descriptor. */
void stream_open(struct loop *l, struct stream_start *s);

/* Once a second: keepalives, expiry checks, retries after Redis trouble. */
void stream_tick(struct loop *l, uint64_t now);

/* Shutdown: end every stream. */
void stream_close_all(struct loop *l);

#endif
