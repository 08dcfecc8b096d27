/* keys.c -- the Redis key and channel names of a realm (layout in sql/README.md).
 *
 * Pure; any thread. */
#include <stdio.h>

#include "keys.h"

/* The prefix of each key kind, in enum key_kind order. */
static const char *const key_prefix[] = {
    [KEY_REALM] = "hr:realm:",
    [KEY_EVENTS] = "hr:ev:",
    [KEY_ATTEMPTS] = "hr:att:",
    [KEY_ANSWERS] = "hr:ans:",
    [KEY_CHANNEL] = "hr:ch:",
    [KEY_HEAL] = "hr:heal:",
    [KEY_TOKEN] = "hr:tok:",
    [KEY_TOKEN_REALMS] = "hr:tokrealms:",
};

/* Write the key of kind for realm name into out (outlen bytes).
 * 0, or -1 if kind is unknown, name is NULL or the key does not fit. */
int key_for(enum key_kind kind, const char *name, char *out, size_t outlen)
{
    int n;

    if ((unsigned)kind >= sizeof key_prefix / sizeof key_prefix[0]
        || name == NULL || out == NULL || outlen == 0)
        return -1;
    n = snprintf(out, outlen, "%s%s", key_prefix[kind], name);
    if (n < 0 || (size_t)n >= outlen) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

int session_keys_for(struct session_keys *k, const char *name)
{
    if (key_for(KEY_REALM, name, k->realm, sizeof k->realm) != 0
        || key_for(KEY_EVENTS, name, k->events, sizeof k->events) != 0
        || key_for(KEY_ATTEMPTS, name, k->attempts, sizeof k->attempts) != 0
        || key_for(KEY_ANSWERS, name, k->answers, sizeof k->answers) != 0
        || key_for(KEY_CHANNEL, name, k->channel, sizeof k->channel) != 0)
        return -1;
    k->keys[0] = k->realm;
    k->keys[1] = k->events;
    k->keys[2] = k->attempts;
    k->keys[3] = k->answers;
    k->keys[4] = KEY_REALMS;
    k->keys[5] = KEY_REALMIP;
    k->keys[6] = KEY_BYIP;
    k->keys[7] = KEY_REALMTOK;
    return 0;
}
