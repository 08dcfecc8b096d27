/* durable.h -- changes a client is told succeeded, kept until replicas have them.
 *
 * With --redis-wait N, the transitions whose success a client is told
 * (register, deregister, a connect answer) go through a Redis connection
 * of their own, and each loop turn that sent any ends with one
 * "WAIT N timeout": Redis answers it once N replicas acknowledged every
 * write before it, or at the timeout. Only then do the callers get their
 * replies, so a failover to a replica that acknowledged loses none of
 * them. A WAIT that timed out short of N replicas is logged and counted,
 * and the changes are still answered as done (they are, on the primary
 * that answered), since a Hysteria server exits on an error to its first
 * register (--redis-wait-strict fails them instead). A WAIT with no answer at all (the connection, most likely the
 * primary, went away) fails its changes with 503, as any call whose reply
 * was lost.
 *
 * WAIT blocks the connection it is sent on, which is why it has its own:
 * heartbeats and streams never queue behind it. Loop thread only.
 */
#ifndef RR_DURABLE_H
#define RR_DURABLE_H

#include <stdint.h>
#include "aredis.h"

struct loop;
struct durable;

/* NULL on out of memory. */
/* strict (--redis-wait-strict): a WAIT short of the replicas fails its
 * changes with 503 too. */
struct durable *durable_new(struct loop *l, const struct redis_target *t,
                            long replicas, long timeout_ms, int strict);
/* Every waiting caller gets an error result first. */
void durable_free(struct durable *d);

/* aredis_script() on the durable connection; cb runs after the WAIT. */
int durable_script(struct durable *d, enum script_id id,
                   int nkeys, const char *const *keys,
                   int nargs, const char *const *args,
                   aredis_fn *cb, void *priv);

/* End of the loop turn: one WAIT after this turn's calls, then write. */
void durable_flush(struct durable *d);

void durable_tick(struct durable *d, uint64_t now);
int durable_ready(const struct durable *d);

#endif
