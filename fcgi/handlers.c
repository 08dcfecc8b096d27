/* handlers.c -- the endpoints, as run on a request thread.
 *
 * Checks run in the contract's order: path and method (404, 405), body size
 * (413), realm name (400), credentials (401), body (400), then the store.
 * When the body is bad but the credential is a session id, the session is
 * checked first (read-only) so that a wrong session still answers 401.
 * Nothing is written to Redis for a request that fails a check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "addr.h"
#include "body.h"
#include "handlers.h"
#include "hex.h"
#include "contract.h"
#include "log.h"
#include "loop.h"
#include "name.h"
#include "request.h"
#include "route.h"
#include "status.h"
#include "store.h"
#include "stream.h"
#include "waiter.h"

#define PATH_MAX_LEN 2048

/* One request's facts, gathered once. */
struct call {
    struct handler_ctx *h;
    struct request *r;
    struct route_match m;
    const char *bearer;              /* credential after "Bearer ", or NULL */
    size_t bearer_len;
    const char *body;
    size_t body_len;
};

/* ---- replies ---- */

static void reply_error(struct call *c, int status, const char *code, const char *msg)
{
    char *body = body_error(code, msg);
    request_reply(c->r, status, NULL, body);
    free(body);
}

static void reply_unavailable(struct call *c)
{
    log_msg(LOG_WARN, "store_unavailable", "error=\"%s\"", store_last_error(c->h->store));
    reply_error(c, 503, "store_unavailable", "the state store is unavailable, try again");
}

static void reply_owned(struct call *c, int status, char *body)
{
    if (body == NULL) {
        reply_error(c, 500, "internal", "out of memory");
        return;
    }
    request_reply(c->r, status, NULL, body);
    free(body);
}

/* ---- credentials ---- */

static void parse_bearer(struct call *c)
{
    const char *v = request_param(c->r, "HTTP_AUTHORIZATION");
    c->bearer = NULL;
    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
        return;
    v += 7;
    while (*v == ' ')
        v++;
    size_t len = strlen(v);
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len > 0) {
        c->bearer = v;
        c->bearer_len = len;
    }
}

/* Constant-time for equal lengths. */
static int token_ok(const struct call *c)
{
    const char *t = c->h->cfg->token;
    size_t len = strlen(t);
    unsigned char diff = 0;
    if (c->bearer == NULL || c->bearer_len != len)
        return 0;
    for (size_t k = 0; k < len; k++)
        diff |= (unsigned char)(t[k] ^ c->bearer[k]);
    return diff == 0;
}

/* A session id we could have made: 32 lowercase hex. Copied into sid. */
static int session_shape_ok(const struct call *c, char sid[RR_SESSION_HEX + 1])
{
    if (c->bearer == NULL || c->bearer_len != RR_SESSION_HEX)
        return 0;
    memcpy(sid, c->bearer, RR_SESSION_HEX);
    sid[RR_SESSION_HEX] = '\0';
    return hex_check(sid, RR_SESSION_HEX, 1);
}

/* The body was bad: 401 if the session is not good either, else 400. */
static void reply_bad_body(struct call *c, const char *sid, const char *why)
{
    enum store_status st = store_session(c->h->store, c->m.name, sid, NULL);
    if (st == STORE_UNAVAILABLE)
        reply_unavailable(c);
    else if (st != STORE_OK)
        reply_error(c, 401, "invalid_token", "invalid or expired session");
    else
        reply_error(c, 400, "bad_request", why);
}

static void client_ip(const struct call *c, char out[RR_IP_STRLEN])
{
    const char *param = c->h->cfg->trusted_proxy_param;
    const char *v = param ? request_param(c->r, param) : NULL;
    if (v != NULL && addr_ip_from_header(v, out, RR_IP_STRLEN) == 0)
        return;
    v = request_param(c->r, "REMOTE_ADDR");
    if (v != NULL && addr_normalize_ip(v, out, RR_IP_STRLEN) == 0)
        return;
    snprintf(out, RR_IP_STRLEN, "unknown");
}

static long ttl_s(const struct call *c)
{
    return c->h->cfg->session_ttl;
}

static struct store_limits limits(const struct call *c)
{
    struct store_limits lim = {
        c->h->cfg->max_realms, c->h->cfg->max_realms_per_ip, ttl_s(c) * 1000
    };
    return lim;
}

/* ---- endpoints ---- */

static void do_register(struct call *c)
{
    struct addr_list addrs;
    char why[160], sid[RR_SESSION_HEX + 1], ip[RR_IP_STRLEN];
    if (!token_ok(c)) {
        reply_error(c, 401, "invalid_token", "invalid token");
        return;
    }
    if (body_parse_addresses(c->body, c->body_len, &addrs, why, sizeof(why)) != BODY_OK) {
        reply_error(c, 400, "bad_request", why);
        return;
    }
    char *json = body_addresses_json(&addrs);
    if (json == NULL || hex_random(sid, RR_SESSION_HEX / 2) != 0) {
        free(json);
        reply_error(c, 500, "internal", "entropy or memory failure");
        return;
    }
    client_ip(c, ip);
    struct store_limits lim = limits(c);
    enum store_status st = store_register(c->h->store, c->m.name, sid, json, ip, &lim);
    free(json);
    switch (st) {
    case STORE_OK:
        log_msg(LOG_DEBUG, "registered", "realm=%s ip=%s session=%s", c->m.name, ip, log_sid(sid));
        reply_owned(c, 200, body_register_reply(sid, ttl_s(c)));
        break;
    case STORE_TAKEN:
        reply_error(c, 409, "realm_taken", "realm already registered");
        break;
    case STORE_REALM_LIMIT:
        reply_error(c, 429, "realm_limit_reached", "global realm limit reached");
        break;
    case STORE_IP_LIMIT:
        reply_error(c, 429, "ip_limit_reached", "per-IP realm limit reached");
        break;
    default:
        reply_unavailable(c);
    }
}

static void do_heartbeat(struct call *c, const char *sid)
{
    struct addr_list addrs;
    char why[160];
    enum body_result br = body_parse_heartbeat(c->body, c->body_len, &addrs, why, sizeof(why));
    if (br == BODY_BAD) {
        reply_bad_body(c, sid, why);
        return;
    }
    char *json = br == BODY_OK ? body_addresses_json(&addrs) : NULL;
    struct store_limits lim = limits(c);
    enum store_status st = br == BODY_OK && json == NULL
        ? STORE_UNAVAILABLE
        : store_heartbeat(c->h->store, c->m.name, sid, json, c->h->ttl_event, &lim);
    free(json);
    if (st == STORE_OK) {
        log_msg(LOG_DEBUG, "heartbeat", "realm=%s session=%s addresses=%s",
                c->m.name, log_sid(sid), br == BODY_OK ? "replaced" : "kept");
        request_reply(c->r, 200, NULL, c->h->ttl_reply);
    } else if (st == STORE_BAD_SESSION)
        reply_error(c, 401, "invalid_token", "invalid or expired session");
    else
        reply_unavailable(c);
}

static void do_deregister(struct call *c, const char *sid)
{
    enum store_status st = store_deregister(c->h->store, c->m.name, sid);
    if (st == STORE_OK) {
        log_msg(LOG_DEBUG, "deregistered", "realm=%s session=%s", c->m.name, log_sid(sid));
        request_reply(c->r, 204, NULL, NULL);
    } else if (st == STORE_BAD_SESSION)
        reply_error(c, 401, "invalid_token", "invalid or expired session");
    else
        reply_unavailable(c);
}

static void do_answer(struct call *c, const char *sid)
{
    struct addr_list addrs;
    char why[160], key[RR_NONCE_HEX + 1];
    if (c->m.nonce_bad || !hex_check(c->m.nonce, RR_NONCE_HEX, 0)) {
        reply_bad_body(c, sid, "nonce must be 32 hex digits");
        return;
    }
    if (body_parse_addresses(c->body, c->body_len, &addrs, why, sizeof(why)) != BODY_OK) {
        reply_bad_body(c, sid, why);
        return;
    }
    char *json = body_addresses_json(&addrs);
    hex_lower(key, c->m.nonce, RR_NONCE_HEX);
    enum store_status st = json == NULL ? STORE_UNAVAILABLE
        : store_connect_answer(c->h->store, c->m.name, sid, key, json);
    free(json);
    if (st == STORE_OK) {
        log_msg(LOG_DEBUG, "answer_posted", "realm=%s nonce=%.8s...", c->m.name, key);
        request_reply(c->r, 204, NULL, NULL);
    } else if (st == STORE_BAD_SESSION)
        reply_error(c, 401, "invalid_token", "invalid or expired session");
    else if (st == STORE_NO_ATTEMPT)
        reply_error(c, 404, "attempt_not_found", "no connect attempt in flight for this nonce");
    else
        reply_unavailable(c);
}

/* ---- the parked ones ---- */

static long long last_event_id(const struct call *c)
{
    const char *v = request_param(c->r, "HTTP_LAST_EVENT_ID");
    char *end;
    if (v == NULL || *v < '0' || *v > '9')
        return -1;
    long long id = strtoll(v, &end, 10);
    return *end == '\0' && id >= 0 ? id : -1;
}

static void do_events(struct call *c, const char *sid)
{
    long long pttl = 0;
    int fd, rid;
    enum store_status st = store_session(c->h->store, c->m.name, sid, &pttl);
    if (st == STORE_UNAVAILABLE) {
        reply_unavailable(c);
        return;
    }
    if (st != STORE_OK) {
        reply_error(c, 401, "invalid_token", "invalid or expired session");
        return;
    }
    long long after = last_event_id(c);      /* params are gone after detach */
    struct stream_start *s = stream_start_new(c->m.name);
    if (s == NULL || request_detach(c->r, &fd, &rid) != 0) {
        free(s);
        reply_error(c, 500, "internal", "out of memory");
        return;
    }
    s->fd = fd;
    s->request_id = rid;
    memcpy(s->sid, sid, sizeof(s->sid));
    s->after = after;
    s->pttl_ms = pttl;
    if (loop_hand_stream(c->h->loop, s) != 0) {
        close(fd);
        free(s);
    }
}

static void do_connect(struct call *c)
{
    struct connect_body cb;
    char why[160];
    int fd, rid;
    if (!token_ok(c)) {
        reply_error(c, 401, "invalid_token", "invalid token");
        return;
    }
    if (body_parse_connect(c->body, c->body_len, &cb, why, sizeof(why)) != BODY_OK) {
        reply_error(c, 400, "bad_request", why);
        return;
    }
    struct waiter_start *w = waiter_start_new(c->m.name);
    char *json = body_addresses_json(&cb.addrs);
    if (w != NULL && json != NULL)
        w->punch = body_punch_event(json, cb.nonce, cb.obfs);
    free(json);
    if (w == NULL || w->punch == NULL || request_detach(c->r, &fd, &rid) != 0) {
        waiter_start_free(w);
        reply_error(c, 500, "internal", "out of memory");
        return;
    }
    w->fd = fd;
    w->request_id = rid;
    memcpy(w->nonce, cb.nonce, sizeof(w->nonce));
    hex_lower(w->key, cb.nonce, RR_NONCE_HEX);
    memcpy(w->obfs, cb.obfs, sizeof(w->obfs));
    log_msg(LOG_DEBUG, "punch", "realm=%s nonce=%.8s...", c->m.name, w->key);
    if (loop_hand_waiter(c->h->loop, w) != 0) {
        close(fd);
        waiter_start_free(w);
    }
}

/* ---- per thread ---- */

int handler_ctx_init(struct handler_ctx *h, const struct config *cfg,
                     const struct name_matcher *names, struct loop *loop)
{
    memset(h, 0, sizeof(*h));
    h->cfg = cfg;
    h->names = names;
    h->loop = loop;
    h->store = store_new(&cfg->redis);
    h->ttl_reply = body_ttl_reply(cfg->session_ttl);
    h->ttl_event = body_heartbeat_event(cfg->session_ttl);
    if (h->store == NULL || h->ttl_reply == NULL || h->ttl_event == NULL) {
        handler_ctx_free(h);
        return -1;
    }
    return 0;
}

void handler_ctx_free(struct handler_ctx *h)
{
    store_free(h->store);
    free(h->ttl_reply);
    free(h->ttl_event);
    memset(h, 0, sizeof(*h));
}

/* ---- dispatch ---- */

static void dispatch(struct call *c)
{
    char sid[RR_SESSION_HEX + 1];
    if (c->m.auth == AUTH_SESSION && !session_shape_ok(c, sid)) {
        reply_error(c, 401, "invalid_token", "invalid or expired session");
        return;
    }
    switch (c->m.ep) {
    case EP_REGISTER: do_register(c); break;
    case EP_DEREGISTER: do_deregister(c, sid); break;
    case EP_EVENTS: do_events(c, sid); break;
    case EP_HEARTBEAT: do_heartbeat(c, sid); break;
    case EP_CONNECT: do_connect(c); break;
    case EP_ANSWER: do_answer(c, sid); break;
    default: reply_error(c, 404, "not_found", "not found");
    }
}

/* The request path without its query string, or NULL if too long. */
static const char *request_path(struct request *r, char buf[PATH_MAX_LEN])
{
    const char *uri = request_param(r, "REQUEST_URI");
    if (uri == NULL)
        uri = request_param(r, "SCRIPT_NAME");
    if (uri == NULL)
        return "";
    size_t len = strcspn(uri, "?");
    if (len >= PATH_MAX_LEN)
        return NULL;
    memcpy(buf, uri, len);
    buf[len] = '\0';
    return buf;
}

void handle_request(struct handler_ctx *h, struct request *r)
{
    char body[RR_BODY_MAX + 1], pathbuf[PATH_MAX_LEN], allow[64];
    struct call c = { .h = h, .r = r, .body = body };
    enum body_read br = request_read_body(r, body, RR_BODY_MAX, &c.body_len);
    if (br == BODY_READ_ERROR)
        return;       /* the proxy went away: nobody to answer */
    const char *method = request_param(r, "REQUEST_METHOD");
    const char *path = request_path(r, pathbuf);
    route_match(method ? method : "", path ? path : "", &c.m);
    if (c.m.ep == EP_NONE) {
        reply_error(&c, 404, "not_found", "not found");
    } else if (!c.m.method_ok) {
        snprintf(allow, sizeof(allow), "Allow: %s\r\n", c.m.allow);
        char *err = body_error("method_not_allowed", "method not allowed");
        request_reply(r, 405, allow, err);
        free(err);
    } else if (br == BODY_READ_TOO_LARGE) {
        reply_error(&c, 413, "bad_request", "request body over 4096 bytes");
    } else if (c.m.name_len == 0 || !name_match(h->names, c.m.name, c.m.name_len)) {
        reply_error(&c, 400, "bad_request", "invalid realm name");
    } else {
        parse_bearer(&c);
        dispatch(&c);
    }
}
