/* respond.c -- whole HTTP responses on a FastCGI connection, in one write. */
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "respond.h"

#define HEAD_MAX 256
#define SMALL_REPLY 2048

void respond_account(struct conn *c, int status, const char *code)
{
    struct conn_note *n = conn_note(c);
    if (n->counted)
        return;
    n->counted = 1;
    double took = n->route == MR_EVENTS ? -1 : (double)(metrics_now_us() - n->start_us) / 1e6;
    metrics_http((enum metrics_route)n->route, n->method, status, code, took);
}

static int respond_with(struct conn *c, int status, const char *code, const char *ctype,
                        const char *extra, const char *body, size_t blen)
{
    char head[HEAD_MAX], small[SMALL_REPLY];
    int n = http_head(head, sizeof(head), status, body ? ctype : NULL, extra);
    if (n < 0)
        n = http_head(head, sizeof(head), 500, NULL, NULL);
    size_t len = (size_t)n + blen;
    respond_account(c, status, code);
    char *all = len <= sizeof(small) ? small : malloc(len);
    if (all == NULL) {
        log_msg(LOG_ERROR, "out_of_memory", "what=response bytes=%zu", len);
        conn_close(c);
        return -1;
    }
    memcpy(all, head, (size_t)n);
    if (blen > 0)
        memcpy(all + n, body, blen);
    enum conn_rc rc = conn_finish(c, all, len);
    if (all != small)
        free(all);
    return rc == CONN_ERROR ? -1 : 0;
}

int respond(struct conn *c, int status, const char *extra, const char *body)
{
    return respond_with(c, status, NULL, "application/json", extra, body, body ? strlen(body) : 0);
}

int respond_typed(struct conn *c, int status, const char *ctype, const char *body, size_t len)
{
    return respond_with(c, status, NULL, ctype, NULL, body, len);
}

int respond_error(struct conn *c, int status, const char *code, const char *msg)
{
    char *body = body_error(code, msg);
    if (body == NULL) {
        /* Out of memory: still an answer the peer can act on. */
        static const char fallback[] =
            "{\"error\":\"internal\",\"message\":\"out of memory\"}\n";
        log_msg(LOG_ERROR, "out_of_memory", "what=error_body");
        return respond_with(c, 503, "internal", "application/json", NULL, fallback, strlen(fallback));
    }
    int rc = respond_with(c, status, code, "application/json", NULL, body, strlen(body));
    free(body);
    return rc;
}

int respond_unavailable(struct conn *c)
{
    return respond_error(c, 503, "store_unavailable", "the state store is unavailable, try again");
}
