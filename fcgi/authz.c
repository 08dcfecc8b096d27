/* authz.c -- a presented scoped token, checked against its record (see authz.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "aredis.h"
#include "authz.h"
#include "keys.h"
#include "log.h"
#include "loop.h"

struct lookup {
    authz_done *done;
    void *priv;
    char id[TOKEN_ID_HEX + 1];
    char mac[TOKEN_MAC_HEX + 1];
};

int authz_parse(const char *key, const char *bearer, size_t len, char id[TOKEN_ID_HEX + 1],
                char mac[TOKEN_MAC_HEX + 1])
{
    char secret[TOKEN_SECRET_HEX + 1];
    if (key == NULL || token_parse(bearer, len, id, secret) != 0)
        return 0;
    int ok = token_mac(key, strlen(key), secret, mac) == 0;
    OPENSSL_cleanse(secret, sizeof(secret));
    return ok;
}

int authz_record(const struct aresult *res, const char *id, struct token_rec *rec)
{
    const char *vals[TOKEN_FIELDS];
    size_t lens[TOKEN_FIELDS];
    if (res->err || res->n != TOKEN_FIELDS)
        return -1;
    for (size_t f = 0; f < TOKEN_FIELDS; f++) {
        vals[f] = res->items[f].is_int ? NULL : res->items[f].s;
        lens[f] = res->items[f].len;
    }
    if (vals[0] == NULL)
        return 0;                           /* no such token: every field is nil */
    if (token_from_fields(rec, id, vals, lens) != 0) {
        log_msg(LOG_WARN, "token_record_damaged", "id=%s", id);
        return 0;
    }
    return 1;
}

static void on_record(void *priv, const struct aresult *res)
{
    struct lookup *k = priv;
    struct token_rec rec;
    int got = authz_record(res, k->id, &rec);
    enum authz_result r = got < 0 ? AUTHZ_UNAVAILABLE
                        : got > 0 && token_mac_equal(rec.mac, k->mac) ? AUTHZ_OK : AUTHZ_REFUSED;
    k->done(k->priv, r, r == AUTHZ_OK ? &rec : NULL);
    OPENSSL_cleanse(k->mac, sizeof(k->mac));
    free(k);
}

int authz_lookup(struct loop *l, const char *id, const char *mac, authz_done *done, void *priv)
{
    char key[KEY_MAX];
    const char *argv[2 + TOKEN_FIELDS] = { "HMGET", key };
    struct lookup *k = calloc(1, sizeof(*k));
    if (k == NULL || key_for(KEY_TOKEN, id, key, sizeof(key)) != 0) {
        free(k);
        return -1;
    }
    memcpy(k->id, id, sizeof(k->id));
    memcpy(k->mac, mac, sizeof(k->mac));
    k->done = done;
    k->priv = priv;
    for (size_t f = 0; f < TOKEN_FIELDS; f++)
        argv[2 + f] = token_field_names[f];
    if (aredis_command(loop_redis(l), 2 + TOKEN_FIELDS, argv, on_record, k) != 0) {
        free(k);
        return -1;
    }
    return 0;
}
