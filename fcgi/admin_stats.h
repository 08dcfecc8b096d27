/* admin_stats.h -- hysteria-realm-admin stats: the deployment at a glance
 * (live realms, streams, multi-address realms, workers, the counters of
 * hr:metrics, Redis's role and memory). Blocking; single-threaded.
 */
#ifndef RR_ADMIN_STATS_H
#define RR_ADMIN_STATS_H

#include "admin_realms.h"

int admin_cmd_stats(struct admin_ctx *a, int argc, char **argv);

#endif
