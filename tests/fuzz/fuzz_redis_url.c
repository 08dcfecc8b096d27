/* fuzz_redis_url.c -- libFuzzer harness for the Redis URL parser (redis_url.c).
 *
 * Input: the URL itself (no NUL, at most 4096 bytes; others are skipped),
 * copied into a heap buffer of exactly its length plus the NUL so ASan sees
 * any read past the end. The target is filled with garbage before each parse
 * (redis_url_parse promises to zero it first). Checked:
 *
 * On success (0):
 *   - err is untouched (guard bytes intact);
 *   - exactly one form: host set (redis://, port 1..65535), path set
 *     (unix://, absolute, no '?'), or master_name set (sentinel://, with
 *     1..REDIS_SENTINELS_MAX Sentinels, each a non-empty host and a port
 *     1..65535; the unused slots empty); no Sentinels or sentinel_password
 *     outside sentinel://, no user or password for unix://;
 *   - db >= 0; a user only with a password; a set secret is non-empty;
 *   - redis_target_describe (into 256 bytes, and into 1 and 8 bytes, which
 *     must truncate with a NUL and write nothing past len) never shows the
 *     password or sentinel_password: a secret of 4 bytes or more does not
 *     occur in the output unless it also occurs in the output for the same
 *     target with the secrets replaced (e.g. the password "6379"), and the
 *     output does not change when the secrets are replaced;
 *   - redis_target_free leaves the struct all zero bytes (and a second free
 *     of the zeroed target is harmless).
 * On failure (-1):
 *   - err is non-empty, NUL-terminated within errlen, nothing written past
 *     errlen, and does not contain the input when it is 8 bytes or more
 *     (the parser never echoes the URL, which may hold a password) unless
 *     the input is a piece of the fixed text every message carries;
 *   - the target is all zero bytes (the parser frees it on failure).
 * Every input is parsed again with errlen 0, 1 and 16: the same result (and
 * the same target on success), err NUL-terminated within errlen (untouched
 * for 0), nothing written past errlen. A broken check aborts (a crash
 * libFuzzer reports). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_url.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_redis_url: check failed at %s:%d: %s\n",   \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

#define URL_MAX 4096
#define ERR_LEN 512
#define GUARD 0x5a
#define GARBAGE 0xa5
#define SECRET_MIN 4

/* The text every failure message carries whatever the URL (redis_url.c). An
 * input that is a piece of it may show up in err without being echoed. */
static const char fixed_text[] =
    "invalid Redis URL: unknown scheme; expected " REDIS_URL_FORMS;

/* Stand-ins for the secrets: no URL can put these bytes into a host, a
 * master name or a number. */
static char canary_pw[] = "\x01pw-canary\x01";
static char canary_spw[] = "\x02spw-canary\x02";

static int all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *s = p;
    for (size_t k = 0; k < n; k++)
        if (s[k] != v)
            return 0;
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Two parses of the same URL gave the same target. */
static int same_target(const struct redis_target *a, const struct redis_target *b)
{
    if (!str_eq(a->host, b->host) || a->port != b->port || !str_eq(a->path, b->path) ||
        a->db != b->db || !str_eq(a->user, b->user) || !str_eq(a->password, b->password) ||
        !str_eq(a->master_name, b->master_name) ||
        !str_eq(a->sentinel_password, b->sentinel_password) || a->nsentinels != b->nsentinels)
        return 0;
    for (size_t k = 0; k < a->nsentinels && k < REDIS_SENTINELS_MAX; k++)
        if (!str_eq(a->sentinels[k].host, b->sentinels[k].host) ||
            a->sentinels[k].port != b->sentinels[k].port)
            return 0;
    return 1;
}

/* describe into len bytes of a guarded buffer: NUL within len, nothing past. */
static void describe_checked(const struct redis_target *t, char *out, size_t len)
{
    char buf[256 + 16];

    CHECK(len <= 256);
    memset(buf, GUARD, sizeof buf);
    redis_target_describe(t, buf, len);
    CHECK(memchr(buf, '\0', len) != NULL);
    CHECK(all_bytes(buf + len, sizeof buf - len, GUARD));
    memcpy(out, buf, len);
}

/* A secret (password or sentinel_password) must not show in the description. */
static void check_secret(const char *secret, const char *out, const char *redacted_out)
{
    size_t n;

    if (secret == NULL)
        return;
    n = strlen(secret);
    CHECK(n > 0);
    if (n >= SECRET_MIN && memmem(out, strlen(out), secret, n) != NULL)
        CHECK(memmem(redacted_out, strlen(redacted_out), secret, n) != NULL);
}

static void check_success(const struct redis_target *t)
{
    int forms = (t->host != NULL) + (t->path != NULL) + (t->master_name != NULL);
    char out[256], redacted_out[256], small[8];
    struct redis_target r;

    CHECK(forms == 1);
    CHECK(t->db >= 0);
    CHECK(t->user == NULL || t->password != NULL);
    CHECK(t->nsentinels <= REDIS_SENTINELS_MAX);
    if (t->host != NULL) {                          /* redis:// */
        CHECK(t->host[0] != '\0');
        CHECK(t->port >= 1 && t->port <= 65535);
        CHECK(t->nsentinels == 0 && t->sentinel_password == NULL);
    } else if (t->path != NULL) {                   /* unix:// */
        CHECK(t->path[0] == '/' && t->path[1] != '\0' && strchr(t->path, '?') == NULL);
        CHECK(t->nsentinels == 0 && t->sentinel_password == NULL);
        CHECK(t->user == NULL && t->password == NULL);
    } else {                                        /* sentinel:// */
        CHECK(t->master_name[0] != '\0');
        CHECK(t->nsentinels >= 1);
        for (size_t k = 0; k < t->nsentinels; k++) {
            CHECK(t->sentinels[k].host != NULL && t->sentinels[k].host[0] != '\0');
            CHECK(t->sentinels[k].port >= 1 && t->sentinels[k].port <= 65535);
        }
        for (size_t k = t->nsentinels; k < REDIS_SENTINELS_MAX; k++)
            CHECK(t->sentinels[k].host == NULL && t->sentinels[k].port == 0);
    }

    describe_checked(t, out, sizeof out);
    describe_checked(t, small, 1);
    CHECK(small[0] == '\0');
    describe_checked(t, small, sizeof small);
    CHECK(strncmp(small, out, sizeof small - 1) == 0);

    r = *t;
    r.password = t->password != NULL ? canary_pw : NULL;
    r.sentinel_password = t->sentinel_password != NULL ? canary_spw : NULL;
    describe_checked(&r, redacted_out, sizeof redacted_out);
    check_secret(t->password, out, redacted_out);
    check_secret(t->sentinel_password, out, redacted_out);
    CHECK(strcmp(out, redacted_out) == 0);
}

/* Parse with an err of errlen bytes inside a guarded buffer; check err. */
static int parse_checked(const char *url, size_t url_len, struct redis_target *t,
                         size_t errlen, char *err_out)
{
    char err[ERR_LEN + 16];
    int rc;

    CHECK(errlen <= ERR_LEN);
    memset(err, GUARD, sizeof err);
    memset(t, GARBAGE, sizeof *t);
    rc = redis_url_parse(url, t, err, errlen);
    CHECK(rc == 0 || rc == -1);
    CHECK(all_bytes(err + errlen, sizeof err - errlen, GUARD));
    if (rc == 0) {
        CHECK(all_bytes(err, errlen, GUARD));
    } else {
        CHECK(all_bytes(t, sizeof *t, 0));
        if (errlen > 0) {
            const char *nul = memchr(err, '\0', errlen);
            CHECK(nul != NULL);
            CHECK(errlen == 1 || nul > err);
            if (url_len >= 8 && memmem(err, (size_t)(nul - err), url, url_len) != NULL)
                CHECK(memmem(fixed_text, sizeof fixed_text - 1, url, url_len) != NULL);
        }
    }
    if (err_out != NULL)
        memcpy(err_out, err, ERR_LEN);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t small_errlens[] = { 0, 1, 16 };
    struct redis_target t, u;
    char err[ERR_LEN];
    char *url;
    int rc;

    if (size > URL_MAX || memchr(data, '\0', size) != NULL)
        return 0;
    url = malloc(size + 1);
    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';

    rc = parse_checked(url, size, &t, 256, err);
    if (rc == 0)
        check_success(&t);

    for (size_t k = 0; k < sizeof small_errlens / sizeof small_errlens[0]; k++) {
        size_t errlen = small_errlens[k];
        char small_err[ERR_LEN];
        int rc2 = parse_checked(url, size, &u, errlen, small_err);
        CHECK(rc2 == rc);
        if (rc2 == 0) {
            CHECK(same_target(&t, &u));
            redis_target_free(&u);
            CHECK(all_bytes(&u, sizeof u, 0));
        } else if (errlen > 1) {
            /* The same message, cut short. */
            CHECK(strncmp(small_err, err, errlen - 1) == 0);
        }
    }

    if (rc == 0) {
        redis_target_free(&t);
        CHECK(all_bytes(&t, sizeof t, 0));
        redis_target_free(&t);
        CHECK(all_bytes(&t, sizeof t, 0));
    }
    free(url);
    return 0;
}
