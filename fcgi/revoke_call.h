/* revoke_call.h -- the FCALL of sql/token_revoke.lua: one token's id and
 * every realm name registered with it, each with its keys, built once for
 * the admin tool (hiredis, blocking) and the worker's admin API (aredis). */
#ifndef RR_REVOKE_CALL_H
#define RR_REVOKE_CALL_H

#include <stddef.h>

struct revoke_call {
    int argc;
    const char **argv;      /* "FCALL", function, numkeys, keys..., args... */
    char *buf;              /* the keys and names argv points into */
};

/* Build into rc the call revoking token id, given the n names (names[i],
 * lens[i] bytes; not NUL-terminated) read from hr:tokrealms:{id}. function
 * is the loaded function's name. A name that cannot be a realm's (empty,
 * longer than RR_NAME_MAX, holding a NUL) is left out. 0, or -1 (out of memory: rc is empty). */
int revoke_call_build(struct revoke_call *rc, const char *function, const char *id,
                      const char *const *names, const size_t *lens, size_t n);

/* Free what revoke_call_build made; rc may be empty. */
void revoke_call_free(struct revoke_call *rc);

#endif
