/* scripts.h -- the transitions of sql/ as one Redis 7 function library.
 *
 * scripts_load() runs once in main(); after that the table is read-only.
 * The command connection loads the library (FUNCTION LOAD REPLACE) each
 * time it connects, and every transition is one FCALL of a function of
 * it. Redis persists and replicates functions with the data, so a
 * restarted or promoted Redis still has them.
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
    SCRIPT_METRICS_FLUSH,
    SCRIPT_METRICS_READ,
    SCRIPT_KICK,
    SCRIPT_STATUS,
    SCRIPT_TOKEN_ADD,
    SCRIPT_TOKEN_REVOKE,
    SCRIPT_COUNT
};

struct script {
    const char *file;      /* "register.lua" */
    char *body;            /* file contents */
    size_t len;
    char function[48];     /* "hr_<crc>_register": the name to FCALL */
};

/* Read every script from dir and build the library. 0, or -1 with a line
 * naming the missing or unreadable file in err. */
int scripts_load(const char *dir, char *err, size_t errlen);
void scripts_free(void);

/* The loaded script (valid after scripts_load succeeded). */
const struct script *scripts_get(enum script_id id);

/* The library text for FUNCTION LOAD, and its length. */
const char *scripts_library(size_t *len);

#endif
