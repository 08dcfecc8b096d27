/* relay_table.c -- the UDP relay's attempts, slots and flows (see
 * relay_table.h). Pure, one thread, time passed in.
 *
 * Four chained hash tables with a seeded hash (so that collisions cannot
 * be aimed at), each of a power-of-two size fixed at start from the limits:
 *   by_ip     source IP -> the attempts listing it (one node per distinct
 *             IP of an attempt)
 *   by_nonce  nonce -> attempt (a record read again updates its IPs)
 *   by_ep     endpoint (relay socket, source IP, port) -> its side of a flow
 *   counts    realm name or IP -> flows counted against it
 * Attempts are on a list swept for expiry; flows on a list in order of
 * last traffic (least recent first), so expiry stops at the first live one.
 *
 * An endpoint is the source address AND the relay socket it talks to: a
 * holder punches all its clients from one socket, and the rendezvous gives
 * each attempt its own port of the relay's range, so the holder's two
 * attempts on two ports are two endpoints, two flows. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "relay_table.h"

#define BUCKETS_MIN 64
#define BUCKETS_MAX (1u << 20)
#define EP_KEY_LEN 22                  /* IP (16), port (2), socket (4) */

struct relay_flow;

struct relay_ipnode {
    uint8_t ip[16];
    struct relay_attempt *att;
    struct relay_ipnode *next;
};

struct relay_attempt {
    struct relay_spec spec;
    struct relay_ep slot[2];
    int filled[2];
    struct relay_flow *flow;           /* paired, while it lives */
    struct relay_ipnode *nodes;        /* nnodes, each in by_ip */
    size_t nnodes;
    struct relay_attempt *hnext;       /* by_nonce chain */
    struct relay_attempt *prev, *next; /* all attempts */
};

struct relay_side {
    struct relay_ep ep;
    uint8_t key[EP_KEY_LEN];
    struct relay_side *hnext;          /* by_ep chain */
    struct relay_flow *flow;
};

struct relay_flow {
    struct relay_side side[2];
    struct relay_attempt *att;         /* NULL once the attempt expired */
    char realm[RELAY_REALM_MAX];
    uint64_t last_ms;                  /* last traffic */
    uint64_t milli;                    /* rate bucket, thousandths of a byte */
    uint64_t bucket_ms;
    struct relay_flow *prev, *next;    /* least recent first */
};

struct relay_count {
    struct relay_count *next;
    long n;
    size_t klen;
    uint8_t key[RELAY_REALM_MAX];
};

struct relay_map {
    void **b;
    size_t mask;
};

struct relay_table {
    struct relay_limits lim;
    uint64_t seed;
    struct relay_map by_ip, by_nonce, by_ep, counts;
    struct relay_attempt *atts;
    struct relay_flow *lru_head, *lru_tail;
    size_t nattempts, nflows;
    uint64_t total_milli, total_ms;    /* the total-rate bucket */
    struct relay_events ev;
};

static const char *const result_names[RELAY_RESULTS] = {
    "forwarded", "held", "garbage", "unknown", "expired", "invalid", "replay",
    "limit_flows", "limit_realm", "limit_ip", "busy", "rate_flow", "rate_total",
};

const char *relay_result_name(enum relay_result r)
{
    return (unsigned)r < RELAY_RESULTS ? result_names[r] : "?";
}

/* ---- hashing ---- */

/* The bucket of the n bytes at p in m: FNV-1a from the seed, then mixed. */
static size_t map_slot(const struct relay_table *t, const struct relay_map *m,
                       const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = t->seed ^ 14695981039346656037ull;

    for (size_t k = 0; k < n; k++)
        h = (h ^ s[k]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h & m->mask;
}

/* Allocate m with a power of two >= 2 * want buckets. 0 or -1. */
static int map_init(struct relay_map *m, long want)
{
    size_t n = BUCKETS_MIN;

    while (n < BUCKETS_MAX && n < 2 * (size_t)want)
        n <<= 1;
    m->b = calloc(n, sizeof *m->b);
    m->mask = n - 1;
    return m->b != NULL ? 0 : -1;
}

/* ---- counts per realm and per IP ---- */

/* The key of a count into buf: kind (so realms and IPs differ), then the
 * klen bytes of key. Its length. */
static size_t count_key(char kind, const void *key, size_t klen, uint8_t *buf)
{
    buf[0] = (uint8_t)kind;
    memcpy(buf + 1, key, klen);
    return klen + 1;
}

/* The count of buf (blen bytes) in bucket b and the one before it in the
 * chain (*prev, NULL if first); NULL if none. */
static struct relay_count *count_find(struct relay_table *t, size_t b, const uint8_t *buf,
                                      size_t blen, struct relay_count **prev)
{
    struct relay_count *c = t->counts.b[b];

    *prev = NULL;
    while (c != NULL && (c->klen != blen || memcmp(c->key, buf, blen) != 0)) {
        *prev = c;
        c = c->next;
    }
    return c;
}

static long count_get(struct relay_table *t, char kind, const void *key, size_t klen)
{
    uint8_t buf[RELAY_REALM_MAX + 1];
    size_t blen = count_key(kind, key, klen, buf);
    struct relay_count *prev, *c = count_find(t, map_slot(t, &t->counts, buf, blen), buf, blen, &prev);

    return c != NULL ? c->n : 0;
}

/* Add delta to the count of key; a count at 0 is freed. 0, or -1 if out of memory. */
static int count_add(struct relay_table *t, char kind, const void *key, size_t klen, long delta)
{
    uint8_t buf[RELAY_REALM_MAX + 1];
    size_t blen = count_key(kind, key, klen, buf), b = map_slot(t, &t->counts, buf, blen);
    struct relay_count *prev, *c = count_find(t, b, buf, blen, &prev);

    if (c == NULL) {
        if (delta <= 0)
            return 0;
        if ((c = calloc(1, sizeof *c)) == NULL)
            return -1;
        c->klen = blen;
        memcpy(c->key, buf, blen);
        c->next = t->counts.b[b];
        t->counts.b[b] = c;
        prev = NULL;
    }
    c->n += delta;
    if (c->n <= 0) {
        if (prev != NULL)
            prev->next = c->next;
        else
            t->counts.b[b] = c->next;
        free(c);
    }
    return 0;
}

/* ---- keys ---- */

int relay_ip_key(const struct sockaddr_storage *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->ss_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

/* The key of endpoint e: its IP (first, as relay_ip_key), port and
 * socket. 0 or -1. */
static int ep_key(const struct relay_ep *e, uint8_t key[EP_KEY_LEN])
{
    const struct sockaddr_storage *sa = &e->addr;
    uint16_t port = sa->ss_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                             : ((const struct sockaddr_in6 *)sa)->sin6_port;
    if (relay_ip_key(sa, key) != 0)
        return -1;
    memcpy(key + 16, &port, 2);
    memcpy(key + 18, &e->sock, 4);
    return 0;
}

int relay_spec_add_ip(struct relay_spec *s, enum relay_side_id side, const char *ip)
{
    uint8_t *key;

    if (s->nips[side] >= RELAY_IPS_MAX)
        return -1;
    key = s->ips[side][s->nips[side]];
    memset(key, 0, 16);
    if (inet_pton(AF_INET, ip, key + 12) == 1)
        key[10] = key[11] = 0xff;
    else if (inet_pton(AF_INET6, ip, key) != 1)
        return -1;
    s->nips[side]++;
    return 0;
}

int relay_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t n)
{
    if (hexlen != 2 * n || !hex_check(hex, hexlen, 1))
        return -1;
    for (size_t k = 0; k < n; k++)
        out[k] = (uint8_t)(hex_value(hex[2 * k]) << 4 | hex_value(hex[2 * k + 1]));
    return 0;
}

/* ---- the table ---- */

struct relay_table *relay_table_new(const struct relay_limits *lim, uint64_t seed)
{
    struct relay_table *t = calloc(1, sizeof *t);

    if (t == NULL)
        return NULL;
    t->lim = *lim;
    t->seed = seed;
    if (map_init(&t->by_ip, lim->max_attempts * 2) != 0
        || map_init(&t->by_nonce, lim->max_attempts) != 0
        || map_init(&t->by_ep, lim->max_flows * 2) != 0
        || map_init(&t->counts, lim->max_flows * 3) != 0) {
        relay_table_free(t);
        return NULL;
    }
    return t;
}

size_t relay_table_flows(const struct relay_table *t)
{
    return t->nflows;
}

size_t relay_table_attempts(const struct relay_table *t)
{
    return t->nattempts;
}

const struct relay_events *relay_table_events(const struct relay_table *t)
{
    return &t->ev;
}

/* ---- attempts ---- */

/* The attempt of nonce, or NULL. */
static struct relay_attempt *attempt_find(struct relay_table *t, const uint8_t *nonce)
{
    struct relay_attempt *a = t->by_nonce.b[map_slot(t, &t->by_nonce, nonce, PUNCH_NONCE_LEN)];

    while (a != NULL && memcmp(a->spec.nonce, nonce, PUNCH_NONCE_LEN) != 0)
        a = a->hnext;
    return a;
}

/* 1 if ip is among the first n nodes of a. */
static int attempt_has_node(const struct relay_attempt *a, size_t n, const uint8_t *ip)
{
    for (size_t k = 0; k < n; k++)
        if (memcmp(a->nodes[k].ip, ip, 16) == 0)
            return 1;
    return 0;
}

/* Index a under each distinct IP of the two lists of s (a->spec's, or
 * the new ones of an update), in new nodes. 0, or -1 if out of memory
 * (nothing changed). */
static int attempt_index_ips(struct relay_table *t, struct relay_attempt *a,
                             const struct relay_spec *s)
{
    struct relay_ipnode *nodes = calloc(s->nips[0] + s->nips[1] + 1, sizeof *nodes);

    if (nodes == NULL)
        return -1;
    a->nodes = nodes;
    a->nnodes = 0;
    for (int side = 0; side < 2; side++)
        for (size_t k = 0; k < s->nips[side]; k++) {
            const uint8_t *ip = s->ips[side][k];
            if (attempt_has_node(a, a->nnodes, ip))
                continue;
            struct relay_ipnode *node = &a->nodes[a->nnodes++];
            size_t b = map_slot(t, &t->by_ip, ip, 16);
            memcpy(node->ip, ip, 16);
            node->att = a;
            node->next = t->by_ip.b[b];
            t->by_ip.b[b] = node;
        }
    return 0;
}

static void ipnode_unlink(struct relay_table *t, struct relay_ipnode *node);

/* A record of a known attempt a again: take its IP lists and expiry from
 * s (the rendezvous adds the holder's answer's IPs), keep its slots and
 * flow. RELAY_ADD_DUP if nothing changed, RELAY_ADD_UPDATED, or
 * RELAY_ADD_NOMEM (nothing changed). */
static enum relay_add attempt_update(struct relay_table *t, struct relay_attempt *a,
                                     const struct relay_spec *s)
{
    struct relay_ipnode *old = a->nodes;
    size_t nold = a->nnodes;

    if (a->spec.expires_ms == s->expires_ms && a->spec.nips[0] == s->nips[0]
        && a->spec.nips[1] == s->nips[1]
        && memcmp(a->spec.ips, s->ips, sizeof s->ips) == 0)
        return RELAY_ADD_DUP;
    for (size_t k = 0; k < nold; k++)
        ipnode_unlink(t, &old[k]);
    if (attempt_index_ips(t, a, s) != 0) {
        for (size_t k = 0; k < nold; k++) {                /* back as they were */
            size_t b = map_slot(t, &t->by_ip, old[k].ip, 16);
            old[k].next = t->by_ip.b[b];
            t->by_ip.b[b] = &old[k];
        }
        a->nodes = old;
        a->nnodes = nold;
        return RELAY_ADD_NOMEM;
    }
    free(old);
    a->spec.expires_ms = s->expires_ms;
    memcpy(a->spec.nips, s->nips, sizeof s->nips);
    memcpy(a->spec.ips, s->ips, sizeof s->ips);
    return RELAY_ADD_UPDATED;
}

enum relay_add relay_table_add(struct relay_table *t, const struct relay_spec *s, int64_t real_ms)
{
    struct relay_attempt *a;
    size_t b;

    if (s->expires_ms <= real_ms)
        return RELAY_ADD_EXPIRED;
    if ((a = attempt_find(t, s->nonce)) != NULL)
        return attempt_update(t, a, s);
    if (t->nattempts >= (size_t)t->lim.max_attempts)
        return RELAY_ADD_FULL;
    if ((a = calloc(1, sizeof *a)) == NULL)
        return RELAY_ADD_NOMEM;
    a->spec = *s;
    a->spec.realm[RELAY_REALM_MAX - 1] = '\0';
    if (attempt_index_ips(t, a, &a->spec) != 0) {
        free(a);
        return RELAY_ADD_NOMEM;
    }
    b = map_slot(t, &t->by_nonce, s->nonce, PUNCH_NONCE_LEN);
    a->hnext = t->by_nonce.b[b];
    t->by_nonce.b[b] = a;
    a->next = t->atts;
    if (t->atts != NULL)
        t->atts->prev = a;
    t->atts = a;
    t->nattempts++;
    return RELAY_ADD_OK;
}

/* Take node out of its by_ip chain. */
static void ipnode_unlink(struct relay_table *t, struct relay_ipnode *node)
{
    size_t b = map_slot(t, &t->by_ip, node->ip, 16);
    struct relay_ipnode *prev = NULL, *cur = t->by_ip.b[b];

    while (cur != NULL && cur != node) {
        prev = cur;
        cur = cur->next;
    }
    if (cur == NULL)
        return;
    if (prev != NULL)
        prev->next = cur->next;
    else
        t->by_ip.b[b] = cur->next;
}

/* Take a out of its by_nonce chain. */
static void attempt_unlink_nonce(struct relay_table *t, struct relay_attempt *a)
{
    size_t b = map_slot(t, &t->by_nonce, a->spec.nonce, PUNCH_NONCE_LEN);
    struct relay_attempt *prev = NULL, *cur = t->by_nonce.b[b];

    while (cur != NULL && cur != a) {
        prev = cur;
        cur = cur->hnext;
    }
    if (cur == NULL)
        return;
    if (prev != NULL)
        prev->hnext = cur->hnext;
    else
        t->by_nonce.b[b] = cur->hnext;
}

/* Take a out of every index and free it (its flow lives on). */
static void attempt_remove(struct relay_table *t, struct relay_attempt *a)
{
    for (size_t k = 0; k < a->nnodes; k++)
        ipnode_unlink(t, &a->nodes[k]);
    attempt_unlink_nonce(t, a);
    if (a->prev != NULL)
        a->prev->next = a->next;
    else
        t->atts = a->next;
    if (a->next != NULL)
        a->next->prev = a->prev;
    if (a->flow != NULL)
        a->flow->att = NULL;
    t->nattempts--;
    free(a->nodes);
    free(a);
}

/* ---- flows ---- */

/* The flow side whose endpoint has the key, or NULL. */
static struct relay_side *side_find(struct relay_table *t, const uint8_t key[EP_KEY_LEN])
{
    struct relay_side *s = t->by_ep.b[map_slot(t, &t->by_ep, key, EP_KEY_LEN)];

    while (s != NULL && memcmp(s->key, key, EP_KEY_LEN) != 0)
        s = s->hnext;
    return s;
}

static void side_unlink(struct relay_table *t, struct relay_side *s)
{
    size_t b = map_slot(t, &t->by_ep, s->key, EP_KEY_LEN);
    struct relay_side *prev = NULL, *cur = t->by_ep.b[b];

    while (cur != NULL && cur != s) {
        prev = cur;
        cur = cur->hnext;
    }
    if (cur == NULL)
        return;
    if (prev != NULL)
        prev->hnext = cur->hnext;
    else
        t->by_ep.b[b] = cur->hnext;
}

/* Move f to the most recent end of the traffic list (unlinked first if linked). */
static void lru_unlink(struct relay_table *t, struct relay_flow *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else if (t->lru_head == f)
        t->lru_head = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    else if (t->lru_tail == f)
        t->lru_tail = f->prev;
    f->prev = f->next = NULL;
}

static void lru_touch(struct relay_table *t, struct relay_flow *f, uint64_t now)
{
    f->last_ms = now;
    if (t->lru_tail == f)
        return;
    lru_unlink(t, f);
    f->prev = t->lru_tail;
    if (t->lru_tail != NULL)
        t->lru_tail->next = f;
    else
        t->lru_head = f;
    t->lru_tail = f;
}

/* The distinct endpoint IPs of a flow into ips: 1 or 2. */
static int flow_ips(const struct relay_ep *a, const struct relay_ep *b, uint8_t ips[2][16])
{
    relay_ip_key(&a->addr, ips[0]);
    relay_ip_key(&b->addr, ips[1]);
    return memcmp(ips[0], ips[1], 16) == 0 ? 1 : 2;
}

/* Count a flow of realm between a and b (delta +1) or uncount it (-1).
 * 0, or -1 if out of memory (nothing counted then). */
static int flow_count(struct relay_table *t, const char *realm, const struct relay_ep *a,
                      const struct relay_ep *b, long delta)
{
    uint8_t ips[2][16];
    int n = flow_ips(a, b, ips);

    if (count_add(t, 'r', realm, strlen(realm), delta) != 0)
        return -1;
    for (int k = 0; k < n; k++)
        if (count_add(t, 'i', ips[k], 16, delta) != 0) {
            for (int j = 0; j < k; j++)
                count_add(t, 'i', ips[j], 16, -delta);
            count_add(t, 'r', realm, strlen(realm), -delta);
            return -1;
        }
    return 0;
}

/* Which flow limit pairing a with b for realm would break, or RELAY_FORWARD. */
static enum relay_result flow_limits(struct relay_table *t, const char *realm,
                                     const struct relay_ep *a, const struct relay_ep *b)
{
    uint8_t ips[2][16];
    int n = flow_ips(a, b, ips);

    if (t->nflows >= (size_t)t->lim.max_flows)
        return RELAY_DROP_LIMIT_FLOWS;
    if (t->lim.max_flows_per_realm > 0
        && count_get(t, 'r', realm, strlen(realm)) >= t->lim.max_flows_per_realm)
        return RELAY_DROP_LIMIT_REALM;
    for (int k = 0; k < n && t->lim.max_flows_per_ip > 0; k++)
        if (count_get(t, 'i', ips[k], 16) >= t->lim.max_flows_per_ip)
            return RELAY_DROP_LIMIT_IP;
    return RELAY_FORWARD;
}

/* Pair the two slots of a into a new flow. RELAY_FORWARD, or why not. */
static enum relay_result flow_pair(struct relay_table *t, struct relay_attempt *a, uint64_t now)
{
    struct relay_flow *f;
    enum relay_result r = flow_limits(t, a->spec.realm, &a->slot[0], &a->slot[1]);

    if (r != RELAY_FORWARD)
        return r;
    for (int k = 0; k < 2; k++) {
        uint8_t key[EP_KEY_LEN];
        if (ep_key(&a->slot[k], key) != 0 || side_find(t, key) != NULL)
            return RELAY_DROP_BUSY;
    }
    if ((f = calloc(1, sizeof *f)) == NULL)
        return RELAY_DROP_LIMIT_FLOWS;
    snprintf(f->realm, sizeof f->realm, "%s", a->spec.realm);
    if (flow_count(t, f->realm, &a->slot[0], &a->slot[1], 1) != 0) {
        free(f);
        return RELAY_DROP_LIMIT_FLOWS;
    }
    for (int k = 0; k < 2; k++) {
        struct relay_side *s = &f->side[k];
        size_t b;
        s->ep = a->slot[k];
        s->flow = f;
        ep_key(&s->ep, s->key);
        b = map_slot(t, &t->by_ep, s->key, EP_KEY_LEN);
        s->hnext = t->by_ep.b[b];
        t->by_ep.b[b] = s;
    }
    f->att = a;
    a->flow = f;
    f->milli = (uint64_t)t->lim.flow_rate * 1000;        /* a full bucket */
    f->bucket_ms = now;
    lru_touch(t, f, now);
    t->nflows++;
    t->ev.paired++;
    return RELAY_FORWARD;
}

/* Take f out of every index, uncount and free it. */
static void flow_remove(struct relay_table *t, struct relay_flow *f)
{
    side_unlink(t, &f->side[0]);
    side_unlink(t, &f->side[1]);
    lru_unlink(t, f);
    flow_count(t, f->realm, &f->side[0].ep, &f->side[1].ep, -1);
    if (f->att != NULL)
        f->att->flow = NULL;
    t->nflows--;
    free(f);
}

/* ---- rates ---- */

/* Refill the bucket (*milli thousandths of a byte, last filled at *at) of
 * rate bytes per second up to a burst of one second, at now. */
static void bucket_fill(uint64_t *milli, uint64_t *at, long rate, uint64_t now)
{
    uint64_t cap = (uint64_t)rate * 1000, idle = now > *at ? now - *at : 0;

    if (idle > 1000)
        idle = 1000;                                   /* enough to fill it */
    *milli += idle * (uint64_t)rate;                   /* rate per s = rate milli per ms */
    if (*milli > cap)
        *milli = cap;
    *at = now;
}

/* Take n bytes from the flow's and the total buckets if both have them.
 * RELAY_FORWARD, or which rate it is over (nothing taken then). */
static enum relay_result rate_take(struct relay_table *t, struct relay_flow *f, size_t n,
                                   uint64_t now)
{
    uint64_t need = (uint64_t)n * 1000;

    if (t->lim.flow_rate > 0) {
        bucket_fill(&f->milli, &f->bucket_ms, t->lim.flow_rate, now);
        if (f->milli < need)
            return RELAY_DROP_RATE_FLOW;
    }
    if (t->lim.total_rate > 0) {
        bucket_fill(&t->total_milli, &t->total_ms, t->lim.total_rate, now);
        if (t->total_milli < need)
            return RELAY_DROP_RATE_TOTAL;
        t->total_milli -= need;
    }
    if (t->lim.flow_rate > 0)
        f->milli -= need;
    return RELAY_FORWARD;
}

/* ---- datagrams ---- */

/* A datagram of n bytes from src, the endpoint of side s of a flow. */
static enum relay_result flow_packet(struct relay_table *t, struct relay_side *s,
                                     const struct relay_ep *src, size_t n, uint64_t now,
                                     const struct relay_ep **to)
{
    struct relay_flow *f = s->flow;
    struct relay_side *other = &f->side[s == &f->side[0] ? 1 : 0];
    enum relay_result r;

    s->ep.local = src->local;                          /* answer where it talks now */
    lru_touch(t, f, now);
    r = rate_take(t, f, n, now);
    if (r == RELAY_FORWARD)
        *to = &other->ep;
    return r;
}

/* 1 if side of a lists ip. */
static int spec_lists(const struct relay_spec *s, int side, const uint8_t ip[16])
{
    for (size_t k = 0; k < s->nips[side]; k++)
        if (memcmp(s->ips[side][k], ip, 16) == 0)
            return 1;
    return 0;
}

/* A valid punch packet of a (n bytes) from src (whose address key is
 * key): fill or refresh a slot, pair when both are filled. */
static enum relay_result punch_slot(struct relay_table *t, struct relay_attempt *a,
                                    const struct relay_ep *src, const uint8_t key[EP_KEY_LEN],
                                    size_t n, uint64_t now, const struct relay_ep **to)
{
    int k, found = -1;
    uint8_t other[EP_KEY_LEN];

    for (k = 0; k < 2 && found < 0; k++)
        if (a->filled[k] && ep_key(&a->slot[k], other) == 0
            && memcmp(other, key, EP_KEY_LEN) == 0)
            found = k;
    if (found < 0 && a->flow != NULL)
        return RELAY_DROP_REPLAY;                      /* paired already: a third address */
    for (k = 0; k < 2 && found < 0; k++)
        if (!a->filled[k] && spec_lists(&a->spec, k, key))
            found = k;
    if (found < 0)
        return RELAY_DROP_REPLAY;
    a->slot[found] = *src;
    a->filled[found] = 1;
    if (!a->filled[1 - found])
        return RELAY_HELD;
    enum relay_result r = flow_pair(t, a, now);
    if (r != RELAY_FORWARD)
        return r;
    rate_take(t, a->flow, n, now);                     /* counted; sent anyway */
    *to = &a->flow->side[1 - found].ep;
    return RELAY_FORWARD;
}

#define PUNCH_TRIES_MAX 64             /* attempts tried per datagram */

/* A datagram of n bytes from src, in no flow: a punch packet? */
static enum relay_result punch_packet(struct relay_table *t, const struct relay_ep *src,
                                      const uint8_t key[EP_KEY_LEN], const uint8_t *p, size_t n,
                                      uint64_t now, int64_t real, const struct relay_ep **to)
{
    struct relay_ipnode *node = t->by_ip.b[map_slot(t, &t->by_ip, key, 16)];
    int seen = 0, live = 0;
    struct punch pk;

    if (n < PUNCH_MIN || n > PUNCH_MAX)
        return RELAY_DROP_GARBAGE;
    for (; node != NULL && live < PUNCH_TRIES_MAX; node = node->next) {
        struct relay_attempt *a = node->att;
        if (memcmp(node->ip, key, 16) != 0)
            continue;
        seen = 1;
        if (a->spec.expires_ms <= real)
            continue;
        live++;
        if (punch_decode(a->spec.obfs, p, n, &pk) == 0
            && memcmp(pk.nonce, a->spec.nonce, PUNCH_NONCE_LEN) == 0)
            return punch_slot(t, a, src, key, n, now, to);
    }
    return !seen ? RELAY_DROP_UNKNOWN : !live ? RELAY_DROP_EXPIRED : RELAY_DROP_INVALID;
}

/* A datagram of n bytes from the endpoint (key) of flow f: the attempt
 * it is a valid punch packet of, if that is another live attempt listing
 * the endpoint's IP, not paired yet, with a slot filled; else NULL. A
 * holder's second attempt meeting its first on one relay socket (the two
 * nonces' ports collide) then fails as busy instead of its punch packets
 * going to the first flow's peer. Only the newest PUNCH_TRIES_MAX attempts
 * listing the IP are looked at. */
static struct relay_attempt *punch_of_other(struct relay_table *t, const struct relay_flow *f,
                                            const uint8_t key[EP_KEY_LEN], const uint8_t *p,
                                            size_t n, int64_t real)
{
    const struct relay_ipnode *node;
    int looked = 0;
    struct punch pk;

    if (n < PUNCH_MIN || n > PUNCH_MAX)
        return NULL;
    for (node = t->by_ip.b[map_slot(t, &t->by_ip, key, 16)];
         node != NULL && looked < PUNCH_TRIES_MAX; node = node->next) {
        struct relay_attempt *a = node->att;
        if (memcmp(node->ip, key, 16) != 0)
            continue;
        looked++;
        if (a == f->att || a->flow != NULL || a->spec.expires_ms <= real
            || !(a->filled[0] || a->filled[1]))
            continue;
        if (punch_decode(a->spec.obfs, p, n, &pk) == 0
            && memcmp(pk.nonce, a->spec.nonce, PUNCH_NONCE_LEN) == 0)
            return a;
    }
    return NULL;
}

enum relay_result relay_table_packet(struct relay_table *t, const struct relay_ep *src,
                                     const uint8_t *p, size_t n, uint64_t mono_ms,
                                     int64_t real_ms, const struct relay_ep **to)
{
    uint8_t key[EP_KEY_LEN];
    struct relay_side *s;

    *to = NULL;
    if (ep_key(src, key) != 0)
        return RELAY_DROP_GARBAGE;
    if ((s = side_find(t, key)) != NULL) {
        struct relay_attempt *a = punch_of_other(t, s->flow, key, p, n, real_ms);
        if (a != NULL)
            return punch_slot(t, a, src, key, n, mono_ms, to);
        return flow_packet(t, s, src, n, mono_ms, to);
    }
    return punch_packet(t, src, key, p, n, mono_ms, real_ms, to);
}

/* ---- expiry ---- */

void relay_table_expire(struct relay_table *t, uint64_t mono_ms, int64_t real_ms)
{
    struct relay_attempt *a, *next;

    while (t->lru_head != NULL && mono_ms >= t->lru_head->last_ms
           && mono_ms - t->lru_head->last_ms >= (uint64_t)t->lim.idle_ms) {
        flow_remove(t, t->lru_head);
        t->ev.flows_expired++;
    }
    for (a = t->atts; a != NULL; a = next) {
        next = a->next;
        if (a->spec.expires_ms <= real_ms) {
            attempt_remove(t, a);
            t->ev.attempts_expired++;
        }
    }
}

void relay_table_free(struct relay_table *t)
{
    if (t == NULL)
        return;
    while (t->lru_head != NULL)
        flow_remove(t, t->lru_head);
    while (t->atts != NULL)
        attempt_remove(t, t->atts);
    for (size_t b = 0; t->counts.b != NULL && b <= t->counts.mask; b++)
        while (t->counts.b[b] != NULL) {                /* none left, unless out of memory */
            struct relay_count *c = t->counts.b[b];
            t->counts.b[b] = c->next;
            free(c);
        }
    free(t->by_ip.b);
    free(t->by_nonce.b);
    free(t->by_ep.b);
    free(t->counts.b);
    free(t);
}
