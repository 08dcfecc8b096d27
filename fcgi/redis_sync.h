/* redis_sync.h -- one blocking Redis connection to the primary, for the
 * tools and UDP services beside the worker (hysteria-realm-admin,
 * hysteria-realm-relay). The worker itself never blocks: it uses aredis.
 *
 * For a sentinel:// target the Sentinels are asked for the primary first
 * (each in turn, SENTINEL get-master-addr-by-name). The connection then
 * authenticates (AUTH [user] password), selects the database and checks
 * with ROLE that the server is a primary, so a tool never writes to a
 * replica that a failover left behind.
 */
#ifndef RR_REDIS_SYNC_H
#define RR_REDIS_SYNC_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "redis_url.h"

/* Connect to the primary of t; timeout_ms bounds the connect and every
 * command of the handshake, and stays set on the context for later
 * commands. The context, or NULL with one line (never a password) in err. */
redisContext *redis_sync_connect(const struct redis_target *t, int timeout_ms,
                                 char *err, size_t errlen);

/* Load the function library of sql/ (scripts_load() must have run) with
 * FUNCTION LOAD REPLACE, so that FCALL of scripts_get(id)->function works.
 * 0, or -1 with a line in err. */
int redis_sync_load_library(redisContext *c, char *err, size_t errlen);

#endif
