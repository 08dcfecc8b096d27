/* authz.h -- a presented scoped token, checked against its record in Redis
 * (loop thread only).
 *
 * The record hr:tok:<id> is read for each request that presents the token
 * (one HMGET on the command connection, pipelined with the rest of the
 * turn), so a revoked token is refused by every worker from its next
 * request on. The presented secret's keyed hash is compared with the
 * stored one in constant time (token.h); what the token allows is the
 * caller's to decide (token_may_register / token_may_connect).
 */
#ifndef RR_AUTHZ_H
#define RR_AUTHZ_H

#include <stddef.h>
#include "token.h"

struct loop;

enum authz_result {
    AUTHZ_OK,            /* rec is the token's record */
    AUTHZ_REFUSED,       /* no such token, a damaged record, or another secret */
    AUTHZ_UNAVAILABLE    /* Redis did not answer */
};

/* rec is valid during the call only. */
typedef void authz_done(void *priv, enum authz_result r, const struct token_rec *rec);

/* 1 if bearer (len bytes) has a scoped token's form and the worker has a
 * token key: id and mac are then filled. 0 otherwise. */
int authz_parse(const char *key, const char *bearer, size_t len, char id[TOKEN_ID_HEX + 1],
                char mac[TOKEN_MAC_HEX + 1]);

struct aresult;

/* The record of id from the reply to an HMGET of token_field_names: 1 (rec
 * filled), 0 (no such record, or a damaged one, logged), -1 (no reply). */
int authz_record(const struct aresult *res, const char *id, struct token_rec *rec);

/* Read the record of id and check mac against it; done is called once,
 * later. 0, or -1 when Redis is not connected (done is not called). */
int authz_lookup(struct loop *l, const char *id, const char *mac, authz_done *done, void *priv);

#endif
