/* handlers.h -- the endpoints, run on the event loop.
 *
 * A complete request is checked here (route, size, name, credentials,
 * body) and then either answered from one Redis function call (register,
 * heartbeat, deregister, connect answer), or held on its connection (an
 * event stream, a waiting connect).
 */
#ifndef RR_HANDLERS_H
#define RR_HANDLERS_H

#include "config.h"

struct conn;
struct loop;

/* What every request shares: replies made once. 0, or -1 on out of memory. */
int handlers_init(const struct config *cfg);
void handlers_free(void);

/* Answer, or hold, the request just read on c (conn_request(c)). */
void handle_request(struct loop *l, struct conn *c);

#endif
