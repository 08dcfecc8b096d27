/* durable.c -- FCALLs answered after WAIT confirms the replicas have them.
 *
 * A call's reply is copied (hiredis frees it after the callback) and kept
 * on the list of its loop turn; the turn's WAIT carries that list, and its
 * reply hands every kept reply to its caller. Replies on one connection
 * come in order, so every FCALL of the list is answered before the WAIT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "durable.h"
#include "log.h"
#include "metrics.h"

struct dcall {
    struct dcall *next;
    aredis_fn *cb;
    void *priv;
    struct aresult res;          /* err until the FCALL answered */
    struct aitem *items;         /* one block: the items, then their strings */
};

struct durable {
    struct aredis *a;
    long replicas;
    int strict;                  /* a short WAIT fails its changes too */
    char nrep[24], tmo[24];
    struct dcall *turn, **turn_tail;    /* sent this turn, no WAIT yet */
};

/* Keep a copy of res in dc. On out of memory dc stays an error. */
static void keep(struct dcall *dc, const struct aresult *res)
{
    size_t size = res->n * sizeof(struct aitem);
    for (size_t k = 0; k < res->n; k++)
        size += res->items[k].s != NULL ? res->items[k].len + 1 : 0;
    dc->items = malloc(size > 0 ? size : 1);
    if (dc->items == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=durable_reply");
        return;
    }
    char *text = (char *)(dc->items + res->n);
    for (size_t k = 0; k < res->n; k++) {
        dc->items[k] = res->items[k];
        if (res->items[k].s != NULL) {
            memcpy(text, res->items[k].s, res->items[k].len);
            text[res->items[k].len] = '\0';
            dc->items[k].s = text;
            text += res->items[k].len + 1;
        }
    }
    dc->res.err = res->err;
    dc->res.n = res->n;
    dc->res.items = dc->items;
}

static void on_fcall(void *priv, const struct aresult *res)
{
    keep(priv, res);
}

/* Hand every call of the list its reply, and free it. unknown: no WAIT
 * reply came (the connection went away, most likely with the primary), so
 * whether a change survives is not known: each call fails, as one whose
 * own reply was lost would. */
static void deliver(struct dcall *dc, int unknown)
{
    while (dc != NULL) {
        struct dcall *next = dc->next;
        if (unknown)
            dc->res.err = 1;
        if (dc->cb != NULL)
            dc->cb(dc->priv, &dc->res);
        free(dc->items);
        free(dc);
        dc = next;
    }
}

/* The turn's WAIT: its list, and the durable it belongs to. */
struct batch {
    struct durable *d;
    struct dcall *list;
};

static void on_wait(void *priv, const struct aresult *res)
{
    struct batch *b = priv;
    long long acked = !res->err && res->n == 1 && res->items[0].is_int ? res->items[0].i : -1;
    if (acked < b->d->replicas) {
        /* Timed out short of the replicas (answered as done: the primary,
         * which answered, has the changes), or no answer at all (failed). */
        log_msg(LOG_WARN, "redis_wait_short", "replicas=%lld wanted=%ld", acked, b->d->replicas);
        metrics_redis_wait_short();
    }
    deliver(b->list, acked < 0 || (b->d->strict && acked < b->d->replicas));
    free(b);
}

int durable_script(struct durable *d, enum script_id id,
                   int nkeys, const char *const *keys,
                   int nargs, const char *const *args,
                   aredis_fn *cb, void *priv)
{
    struct dcall *dc = calloc(1, sizeof(*dc));
    if (dc == NULL)
        return -1;
    dc->cb = cb;
    dc->priv = priv;
    dc->res.err = 1;
    if (aredis_script(d->a, id, nkeys, keys, nargs, args, on_fcall, dc) != 0) {
        free(dc);
        return -1;
    }
    *d->turn_tail = dc;
    d->turn_tail = &dc->next;
    return 0;
}

void durable_flush(struct durable *d)
{
    if (d == NULL)
        return;
    if (d->turn != NULL) {
        const char *argv[3] = { "WAIT", d->nrep, d->tmo };
        struct batch *b = malloc(sizeof(*b));
        struct dcall *list = d->turn;
        d->turn = NULL;
        d->turn_tail = &d->turn;
        if (b != NULL) {
            b->d = d;
            b->list = list;
        }
        if (b == NULL || aredis_command(d->a, 3, argv, on_wait, b) != 0) {
            /* No WAIT could be sent: the FCALLs failed with the
             * connection (or will, as it closes), or we are out of
             * memory. The calls answer with what they have. */
            log_msg(LOG_WARN, "redis_wait_short", "replicas=-1 wanted=%ld", d->replicas);
            metrics_redis_wait_short();
            free(b);
            aredis_drop(d->a);       /* fails any FCALL still pending: none outlives its list */
            deliver(list, 1);
            return;
        }
    }
    aredis_flush(d->a);
}

struct durable *durable_new(struct loop *l, const struct redis_target *t,
                            long replicas, long timeout_ms, int strict)
{
    struct durable *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    struct aredis_hooks h = { NULL, NULL, NULL, d, NULL };
    d->replicas = replicas;
    d->strict = strict;
    snprintf(d->nrep, sizeof(d->nrep), "%ld", replicas);
    snprintf(d->tmo, sizeof(d->tmo), "%ld", timeout_ms);
    d->turn_tail = &d->turn;
    d->a = aredis_new(l, t, AREDIS_COMMANDS, &h);
    if (d->a == NULL) {
        free(d);
        return NULL;
    }
    return d;
}

void durable_free(struct durable *d)
{
    if (d == NULL)
        return;
    /* Pending FCALLs and WAITs fail now; the WAITs deliver their lists. */
    aredis_free(d->a);
    struct dcall *list = d->turn;
    d->turn = NULL;
    deliver(list, 1);
    free(d);
}

void durable_tick(struct durable *d, uint64_t now)
{
    aredis_tick(d->a, now);
}

int durable_ready(const struct durable *d)
{
    return aredis_ready(d->a);
}
