/* waiter.h -- parked connects (POST /v1/{id}/connect), loop thread only.
 *
 * A waiter joins its realm's channel, and once the subscription is live
 * records the attempt and publishes the punch (connect_begin.lua), so an
 * answer can never be published before it listens. It answers with the
 * holder's addresses as soon as they are published, 404 at once when the
 * realm is deregistered, and after --connect-wait seconds the realm's stored
 * addresses (connect_end.lua).
 */
#ifndef RR_WAITER_H
#define RR_WAITER_H

#include <stddef.h>
#include <stdint.h>
#include "contract.h"

struct loop;

/* What a request thread hands over (loop_hand_waiter). */
struct waiter_start {
    int fd;                          /* the request's socket, stdin read to EOF */
    int request_id;
    char nonce[RR_NONCE_HEX + 1];    /* as the client sent it */
    char key[RR_NONCE_HEX + 1];      /* lowercased: the attempt's key */
    char obfs[RR_OBFS_HEX + 1];
    char *punch;                     /* punch event data (malloc'd, owned) */
    char name[];                     /* realm */
};

/* NULL on out of memory. name is copied. */
struct waiter_start *waiter_start_new(const char *name);
void waiter_start_free(struct waiter_start *w);

struct waiter_list *waiter_list_new(void);
void waiter_list_free(struct waiter_list *wl);
size_t waiter_count(const struct waiter_list *wl);

/* Park a connect. Takes ownership of w and its descriptor. */
void waiter_open(struct loop *l, struct waiter_start *w);

/* Answer the waits that reached their deadline; returns the next deadline
 * (UINT64_MAX if none). */
uint64_t waiter_tick(struct loop *l, uint64_t now);

/* Shutdown: answer every waiter 503. */
void waiter_close_all(struct loop *l);

#endif
