/* scripts.h -- the Lua scripts of sql/: loaded from disk once, called by SHA.
 *
 * scripts_load() runs once in main() before any thread starts; after that the
 * table is read-only and shared by the synchronous store (store.c, one
 * context per request thread) and the asynchronous calls of the event loop.
 * Both call EVALSHA and, on a NOSCRIPT reply, fall back to EVAL with the
 * body (which also puts the script back in Redis's cache).
 */
#ifndef RR_SCRIPTS_H
#define RR_SCRIPTS_H

#include <stddef.h>

enum script_id {
    SCRIPT_REGISTER,
    SCRIPT_HEARTBEAT,
    SCRIPT_DEREGISTER,
    SCRIPT_SESSION,
    SCRIPT_EVENTS,
    SCRIPT_ACK,
    SCRIPT_CONNECT_BEGIN,
    SCRIPT_CONNECT_ANSWER,
    SCRIPT_CONNECT_END,
    SCRIPT_COUNT
};

struct script {
    const char *file;      /* "register.lua" */
    char *body;            /* file contents */
    size_t len;
    char sha[41];          /* lowercase hex SHA-1 of body */
};

/* Read every script from dir and compute its SHA-1. 0, or -1 with a line
 * naming the missing or unreadable file in err. */
int scripts_load(const char *dir, char *err, size_t errlen);
void scripts_free(void);

/* The loaded script (valid after scripts_load succeeded). */
const struct script *scripts_get(enum script_id id);

#endif
