/* respond.h -- whole HTTP responses on a FastCGI connection, in one write.
 *
 * Every answer that is not an event stream: the CGI head, the JSON body,
 * the end of the request. Used by the handlers, a waiting connect and a
 * stream that never opened.
 */
#ifndef RR_RESPOND_H
#define RR_RESPOND_H

struct conn;

/* Status, optional extra header lines ("Allow: POST\r\n"), and body (NULL
 * for none) as application/json; ends the request. 0, or -1 if the
 * connection failed. */
int respond(struct conn *c, int status, const char *extra, const char *body);

/* len bytes of body as ctype (text/plain for /metrics). */
int respond_typed(struct conn *c, int status, const char *ctype, const char *body, size_t len);

/* {"error":code,"message":msg} with status. */
int respond_error(struct conn *c, int status, const char *code, const char *msg);

/* Count the request's answer (status) in the metrics, once; respond()
 * does it, an event stream calls it when it opens. */
void respond_account(struct conn *c, int status, const char *code);

/* 503 store_unavailable: Redis could not be reached or answered an error. */
int respond_unavailable(struct conn *c);

#endif
