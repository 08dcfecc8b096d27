/* admin_api.c -- the admin HTTP API for panels: create, list and revoke
 * scoped tokens (loop thread only).
 *
 * Served only where the proxy sets the FastCGI param HR_ADMIN=1 (a listen
 * of its own, loopback in the shipped configurations) and only when the
 * worker has --admin-token-file; the admin token is compared through
 * SHA-256 digests in constant time. JSON in and out:
 *
 *   POST   /admin/v1/tokens       token_json.h body -> 201 the record + "token"
 *   GET    /admin/v1/tokens       200 {"tokens":[record...]}, soonest expiry first
 *   DELETE /admin/v1/tokens/{id}  204, or 404 token_not_found
 *
 * Creating needs --token-key-file too (503 no_token_key without it). The
 * token itself is in the answer to its POST only: Redis keeps its mac.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "admin_api.h"
#include "aredis.h"
#include "authz.h"
#include "bearer.h"
#include "conn.h"
#include "fcgi_reader.h"
#include "hex.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "respond.h"
#include "scripts.h"
#include "token_json.h"

#define TOKENS_PATH "/admin/v1/tokens"
#define LIST_MAX 10000                 /* tokens one listing shows */

/* A listing in progress: one HMGET per token, answered when all are in. */
struct listing {
    struct loop *l;
    struct conn *c;
    struct json_object *arr;
    size_t waiting;
    int failed;
};

/* A create or revoke in flight. */
struct change {
    struct conn *c;
    struct token_rec rec;
    char token[TOKEN_LEN + 1];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void respond_json(struct conn *c, int status, struct json_object *o)
{
    const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN) : NULL;
    char *body = s ? malloc(strlen(s) + 2) : NULL;
    if (body == NULL) {
        respond_error(c, 503, "internal", "out of memory, try again");
    } else {
        snprintf(body, strlen(s) + 2, "%s\n", s);
        respond(c, status, NULL, body);
    }
    free(body);
}

/* The call finished: 0 and the connection unreferenced, or -1 when nobody waits. */
static int still_there(struct conn *c)
{
    int alive = conn_alive(c);
    conn_unref(c);
    return alive ? 0 : -1;
}

/* ---- POST: create ---- */

static void on_added(void *priv, const struct aresult *res)
{
    struct change *k = priv;
    if (still_there(k->c) == 0) {
        if (res->err || res->n < 1 || !res->items[0].is_int || res->items[0].i != 0) {
            respond_unavailable(k->c);      /* an error, or an id drawn twice */
        } else {
            struct json_object *o = token_json(&k->rec);
            if (o != NULL)
                json_object_object_add(o, "token", json_object_new_string(k->token));
            log_msg(LOG_INFO, "token_added", "id=%s scope=%s", k->rec.id,
                    token_scope_name(k->rec.scope));
            respond_json(k->c, 201, o);
            json_object_put(o);
        }
    }
    explicit_bzero(k->token, sizeof(k->token));
    free(k);
}

static void create(struct loop *l, struct conn *c, const struct fcgi_request *fr)
{
    const struct config *cfg = loop_config(l);
    char err[160], key[KEY_MAX], exp[24], bufs[TOKEN_FIELDS][TOKEN_FIELD_BUF];
    const char *vals[TOKEN_FIELDS];
    if (cfg->token_key == NULL) {
        respond_error(c, 503, "no_token_key", "the worker has no --token-key-file");
        return;
    }
    struct change *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    if (token_json_parse(fr->body, fr->body_len, now_ms(), &k->rec, err, sizeof(err)) != 0) {
        respond_error(c, 400, "bad_request", err);
        free(k);
        return;
    }
    if (token_new(&k->rec, cfg->token_key, strlen(cfg->token_key), k->token) != 0) {
        respond_error(c, 503, "internal", "entropy failure, try again");
        free(k);
        return;
    }
    key_for(KEY_TOKEN, k->rec.id, key, sizeof(key));
    snprintf(exp, sizeof(exp), "%lld", k->rec.expires);
    token_fields(&k->rec, bufs, vals);
    const char *keys[2] = { key, KEY_TOKENS };
    const char *args[2 + 2 * TOKEN_FIELDS] = { k->rec.id, exp };
    for (int f = 0; f < TOKEN_FIELDS; f++) {
        args[2 + 2 * f] = token_field_names[f];
        args[3 + 2 * f] = vals[f];
    }
    k->c = c;
    if (aredis_script(loop_redis(l), SCRIPT_TOKEN_ADD, 2, keys, 2 + 2 * TOKEN_FIELDS, args,
                      on_added, k) != 0) {
        free(k);
        respond_unavailable(c);
        return;
    }
    conn_ref(c);
}

/* ---- GET: list ---- */

static void listing_done(struct listing *g)
{
    if (still_there(g->c) == 0) {
        if (g->failed) {
            respond_unavailable(g->c);
        } else {
            struct json_object *o = json_object_new_object();
            if (o != NULL && json_object_object_add(o, "tokens", g->arr) == 0)
                g->arr = NULL;
            respond_json(g->c, 200, o);
            json_object_put(o);
        }
    }
    json_object_put(g->arr);
    free(g);
}

struct one { struct listing *g; char id[TOKEN_ID_HEX + 1]; };

static void on_record(void *priv, const struct aresult *res)
{
    struct one *k = priv;
    struct listing *g = k->g;
    struct token_rec rec;
    int got = authz_record(res, k->id, &rec);
    if (got < 0)
        g->failed = 1;
    else if (got > 0)           /* else gone since the listing (expired, revoked): left out */
        json_object_array_add(g->arr, token_json(&rec));
    free(k);
    if (--g->waiting == 0)
        listing_done(g);
}

/* Ask the record of every listed id; 0, or -1 (nothing asked) on failure. */
static int ask_records(struct loop *l, struct listing *g, const struct aresult *res)
{
    for (size_t i = 0; i < res->n; i++) {
        char key[KEY_MAX];
        const char *argv[2 + TOKEN_FIELDS] = { "HMGET", key };
        struct one *k = calloc(1, sizeof(*k));
        if (k == NULL || res->items[i].s == NULL || res->items[i].len != TOKEN_ID_HEX) {
            free(k);
            continue;
        }
        memcpy(k->id, res->items[i].s, TOKEN_ID_HEX);
        k->g = g;
        key_for(KEY_TOKEN, k->id, key, sizeof(key));
        for (size_t f = 0; f < TOKEN_FIELDS; f++)
            argv[2 + f] = token_field_names[f];
        if (aredis_command(loop_redis(l), 2 + TOKEN_FIELDS, argv, on_record, k) != 0) {
            free(k);
            g->failed = 1;
            return g->waiting == 0 ? -1 : 0;
        }
        g->waiting++;
    }
    return 0;
}

static void on_ids(void *priv, const struct aresult *res)
{
    struct listing *g = priv;
    g->failed = res->err;
    if (!res->err && conn_alive(g->c) && ask_records(g->l, g, res) == 0 &&
        g->waiting > 0)
        return;
    listing_done(g);
}

static void list(struct loop *l, struct conn *c)
{
    char now[24], limit[24];
    struct listing *g = calloc(1, sizeof(*g));
    if (g == NULL || (g->arr = json_object_new_array()) == NULL) {
        free(g);
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    snprintf(now, sizeof(now), "(%lld", now_ms());
    snprintf(limit, sizeof(limit), "%d", LIST_MAX);
    const char *argv[7] = { "ZRANGEBYSCORE", KEY_TOKENS, now, "+inf", "LIMIT", "0", limit };
    g->l = l;
    g->c = c;
    if (aredis_command(loop_redis(l), 7, argv, on_ids, g) != 0) {
        json_object_put(g->arr);
        free(g);
        respond_unavailable(c);
        return;
    }
    conn_ref(c);
}

/* ---- DELETE: revoke ---- */

static void on_revoked(void *priv, const struct aresult *res)
{
    struct change *k = priv;
    if (still_there(k->c) == 0) {
        if (res->err || res->n < 1 || !res->items[0].is_int) {
            respond_unavailable(k->c);
        } else if (res->items[0].i == 0) {
            log_msg(LOG_INFO, "token_revoked", "id=%s", k->rec.id);
            respond(k->c, 204, NULL, NULL);
        } else {
            respond_error(k->c, 404, "token_not_found", "no such token");
        }
    }
    free(k);
}

static void revoke(struct loop *l, struct conn *c, const char *id)
{
    char key[KEY_MAX], realms[KEY_MAX];
    if (strlen(id) != TOKEN_ID_HEX || !hex_check(id, TOKEN_ID_HEX, 1)) {
        respond_error(c, 404, "token_not_found", "no such token");
        return;
    }
    struct change *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        respond_error(c, 503, "internal", "out of memory, try again");
        return;
    }
    snprintf(k->rec.id, sizeof(k->rec.id), "%s", id);
    key_for(KEY_TOKEN, id, key, sizeof(key));
    key_for(KEY_TOKEN_REALMS, id, realms, sizeof(realms));
    const char *keys[3] = { key, KEY_TOKENS, realms };
    const char *args[1] = { id };
    k->c = c;
    if (aredis_script(loop_redis(l), SCRIPT_TOKEN_REVOKE, 3, keys, 1, args, on_revoked, k) != 0) {
        free(k);
        respond_unavailable(c);
        return;
    }
    conn_ref(c);
}

/* ---- routing ---- */

static int admin_token_ok(const struct config *cfg, const struct fcgi_request *fr)
{
    const char *cred;
    size_t len;
    if (!bearer_parse(fcgi_request_param(fr, "HTTP_AUTHORIZATION"), &cred, &len))
        return 0;
    return token_secret_equal(cfg->admin_token, strlen(cfg->admin_token), cred, len);
}

int admin_api_request(struct loop *l, struct conn *c, const struct fcgi_request *fr,
                      const char *path)
{
    const struct config *cfg = loop_config(l);
    const char *method = fcgi_request_param(fr, "REQUEST_METHOD");
    const char *allowed = fcgi_request_param(fr, "HR_ADMIN");
    if (strncmp(path, "/admin/", 7) != 0 || allowed == NULL || strcmp(allowed, "1") != 0 ||
        cfg->admin_token == NULL)
        return 0;
    method = method ? method : "";
    int whole = strcmp(path, TOKENS_PATH) == 0;
    int one = strncmp(path, TOKENS_PATH "/", sizeof(TOKENS_PATH)) == 0;
    if (!whole && !one)
        respond_error(c, 404, "not_found", "not found");
    else if (!admin_token_ok(cfg, fr))
        respond_error(c, 401, "invalid_token", "invalid admin token");
    else if (whole && strcmp(method, "GET") == 0)
        list(l, c);
    else if (whole && strcmp(method, "POST") == 0)
        create(l, c, fr);
    else if (one && strcmp(method, "DELETE") == 0)
        revoke(l, c, path + sizeof(TOKENS_PATH));
    else
        respond(c, 405, whole ? "Allow: GET, POST\r\n" : "Allow: DELETE\r\n",
                "{\"error\":\"method_not_allowed\",\"message\":\"method not allowed\"}\n");
    return 1;
}
