/* admin_realms.h -- hysteria-realm-admin's realm commands (realms, realm
 * NAME, kick NAME), and what every command of the tool shares: its
 * context, its exit codes, and reading Redis (TIME, the live realms).
 *
 * Blocking; single-threaded.
 */
#ifndef RR_ADMIN_REALMS_H
#define RR_ADMIN_REALMS_H

#include <stddef.h>

struct redisContext;

/* The exit codes of the tool. */
enum admin_exit {
    ADMIN_OK = 0,
    ADMIN_NOT_FOUND = 1,    /* not found, or refused by Redis */
    ADMIN_USAGE = 2,        /* bad command line or configuration */
    ADMIN_UNREACHABLE = 3,  /* Redis unreachable or the connection failed */
};

/* What a command runs with: the connection (to the primary), the output
 * form, and where the Lua sources are (for commands that FCALL). */
struct admin_ctx {
    struct redisContext *redis;
    int json;
    const char *scripts_dir;
};

/* Each command: argc/argv are its arguments after the command name
 * (options taken out). Returns an enum admin_exit; errors are printed. */
int admin_cmd_realms(struct admin_ctx *a, int argc, char **argv);
int admin_cmd_realm(struct admin_ctx *a, int argc, char **argv);
int admin_cmd_kick(struct admin_ctx *a, int argc, char **argv);

/* Redis's clock (TIME) in ms since the epoch into *now. An admin_exit. */
int admin_redis_time(struct admin_ctx *a, long long *now);

/* The names of the live realms (members of hr:realms scored after now),
 * sorted, each once: a malloc'd array of malloc'd strings in *names and
 * its length in *n (free with admin_names_free). Read with ZSCAN, so a
 * large namespace is read in batches. An admin_exit. */
int admin_live_realms(struct admin_ctx *a, long long now, char ***names, size_t *n);
void admin_names_free(char **names, size_t n);

/* The exit code and the one-line error for a failed Redis command: r is
 * its reply (NULL when the connection failed); what names the command. */
int admin_redis_failed(struct admin_ctx *a, const void *r, const char *what);

/* Live realms read per pipelined batch. */
#define ADMIN_BATCH 256

#endif
