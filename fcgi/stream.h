/* stream.h -- held event streams (GET /v1/{id}/events), on the event loop.
 *
 * A stream checks the session with its first read of the realm's buffer
 * (401 if it is not the realm's live session), then answers 200 with the
 * buffered events, each event as it is published, a keepalive comment
 * every --keepalive seconds, and ends when the session is deregistered or
 * expires.
 */
#ifndef RR_STREAM_H
#define RR_STREAM_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct loop;

/* The list of a loop's streams. */
struct stream_list *stream_list_new(void);
void stream_list_free(struct stream_list *sl);
size_t stream_count(const struct stream_list *sl);

/* Hold the request on c as the stream of realm name for session sid,
 * resuming after event id after (-1: after the realm's delivered cursor).
 * Answers the request itself on any failure. */
void stream_open(struct loop *l, struct conn *c, const char *name, const char *sid,
                 const char *ip, long long after);

/* Once a second: keepalives, expiry checks, retries after Redis trouble. */
void stream_tick(struct loop *l, uint64_t now);

/* Shutdown: end every stream. */
void stream_close_all(struct loop *l);

#endif
