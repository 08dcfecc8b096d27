/* revoke_call.c -- the FCALL of sql/token_revoke.lua (see revoke_call.h):
 * KEYS hr:tok:{id} hr:toks hr:tokrealms:{id} hr:realms hr:realmip hr:byip
 * hr:realmtok hr:metrics, then four keys per name; ARGV id, then name and channel per
 * name.
 *
 * Pure; any thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "keys.h"
#include "revoke_call.h"

#define FIXED_KEYS 8
#define NAME_KEYS 4               /* realm, ev, att, ans */

/* Append the key of kind for name to *p (left bytes left) and to argv. */
static int put_key(struct revoke_call *rc, char **p, size_t *left, enum key_kind kind,
                   const char *name)
{
    if (key_for(kind, name, *p, *left) != 0)
        return -1;
    size_t len = strlen(*p) + 1;
    rc->argv[rc->argc++] = *p;
    *p += len;
    *left -= len;
    return 0;
}

/* Append the n usable names' keys (as_keys) or names and channels. */
static int put_names(struct revoke_call *rc, char **p, size_t *left, const char *names,
                     size_t n, int as_keys)
{
    static const enum key_kind kinds[NAME_KEYS] = { KEY_REALM, KEY_EVENTS, KEY_ATTEMPTS,
                                                    KEY_ANSWERS };
    const char *name = names;
    for (size_t i = 0; i < n; i++, name += strlen(name) + 1) {
        if (!as_keys) {
            rc->argv[rc->argc++] = name;
            if (put_key(rc, p, left, KEY_CHANNEL, name) != 0)
                return -1;
            continue;
        }
        for (int k = 0; k < NAME_KEYS; k++)
            if (put_key(rc, p, left, kinds[k], name) != 0)
                return -1;
    }
    return 0;
}

/* A name Redis gave that could be a realm's: 1..RR_NAME_MAX bytes, no NUL. */
static int usable(const char *name, size_t len)
{
    return len > 0 && len <= RR_NAME_MAX && memchr(name, '\0', len) == NULL;
}

int revoke_call_build(struct revoke_call *rc, const char *function, const char *id,
                      const char *const *names, const size_t *lens, size_t n)
{
    size_t use = 0, bytes = 3 * (KEY_MAX + 1);
    for (size_t i = 0; i < n; i++)
        if (usable(names[i], lens[i])) {
            use++;
            bytes += (lens[i] + 1) + (NAME_KEYS + 1) * (KEY_MAX + 1);
        }
    memset(rc, 0, sizeof(*rc));
    rc->argv = malloc((3 + FIXED_KEYS + 1 + use * (NAME_KEYS + 2)) * sizeof(*rc->argv));
    rc->buf = malloc(bytes);
    if (rc->argv == NULL || rc->buf == NULL) {
        revoke_call_free(rc);
        return -1;
    }
    /* the names first, NUL-terminated, then numkeys and the keys */
    char *p = rc->buf, *copied = p;
    for (size_t i = 0; i < n; i++)
        if (usable(names[i], lens[i])) {
            memcpy(p, names[i], lens[i]);
            p[lens[i]] = '\0';
            p += lens[i] + 1;
        }
    size_t left = bytes - (size_t)(p - rc->buf);
    char *nkeys = p;
    int w = snprintf(nkeys, left, "%zu", FIXED_KEYS + use * NAME_KEYS);
    p += w + 1;
    left -= (size_t)w + 1;
    rc->argv[rc->argc++] = "FCALL";
    rc->argv[rc->argc++] = function;
    rc->argv[rc->argc++] = nkeys;
    if (put_key(rc, &p, &left, KEY_TOKEN, id) != 0)
        goto fail;
    rc->argv[rc->argc++] = KEY_TOKENS;
    if (put_key(rc, &p, &left, KEY_TOKEN_REALMS, id) != 0)
        goto fail;
    rc->argv[rc->argc++] = KEY_REALMS;
    rc->argv[rc->argc++] = KEY_REALMIP;
    rc->argv[rc->argc++] = KEY_BYIP;
    rc->argv[rc->argc++] = KEY_REALMTOK;
    rc->argv[rc->argc++] = KEY_METRICS;
    if (put_names(rc, &p, &left, copied, use, 1) != 0)
        goto fail;
    rc->argv[rc->argc++] = id;
    if (put_names(rc, &p, &left, copied, use, 0) != 0)
        goto fail;
    return 0;
fail:
    revoke_call_free(rc);
    return -1;
}

void revoke_call_free(struct revoke_call *rc)
{
    free(rc->argv);
    free(rc->buf);
    memset(rc, 0, sizeof(*rc));
}
