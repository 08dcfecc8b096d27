/* respond.c -- whole HTTP responses on a FastCGI connection, in one write. */
#include <stdlib.h>
#include <string.h>

#include "body.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "respond.h"

#define HEAD_MAX 256
#define SMALL_REPLY 2048

int respond(struct conn *c, int status, const char *extra, const char *body)
{
    char head[HEAD_MAX], small[SMALL_REPLY];
    int n = http_head(head, sizeof(head), status, body ? "application/json" : NULL, extra);
    if (n < 0)
        n = http_head(head, sizeof(head), 500, NULL, NULL);
    size_t blen = body ? strlen(body) : 0, len = (size_t)n + blen;
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

int respond_error(struct conn *c, int status, const char *code, const char *msg)
{
    char *body = body_error(code, msg);
    if (body == NULL) {
        /* Out of memory: still an answer the peer can act on. */
        static const char fallback[] =
            "{\"error\":\"internal\",\"message\":\"out of memory\"}\n";
        log_msg(LOG_ERROR, "out_of_memory", "what=error_body");
        return respond(c, 503, NULL, fallback);
    }
    int rc = respond(c, status, NULL, body);
    free(body);
    return rc;
}

int respond_unavailable(struct conn *c)
{
    return respond_error(c, 503, "store_unavailable", "the state store is unavailable, try again");
}
