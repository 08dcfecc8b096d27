/* admin_api.h -- the admin HTTP API for panels (scoped tokens): see admin_api.c. */
#ifndef RR_ADMIN_API_H
#define RR_ADMIN_API_H

struct loop;
struct conn;
struct fcgi_request;

/* Answer path if it is the admin API's (under /admin/, where the proxy set
 * HR_ADMIN=1 and the worker has an admin token): 1, else 0 (not ours). */
int admin_api_request(struct loop *l, struct conn *c, const struct fcgi_request *fr,
                      const char *path);

#endif
