/* name.c -- realm-name validation with the operator's PCRE2 pattern.
 *
 * The only file that includes pcre2.h. name_compile() runs once in main();
 * name_match() may then be called from any thread (the compiled code is
 * read-only; each call has its own match data). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>

#include "contract.h"
#include "name.h"

struct name_matcher {
    pcre2_code *code;
};

/* Compile pattern with PCRE2_UTF and PCRE2_DOLLAR_ENDONLY. NULL on error,
 * with "invalid regex at offset N: <PCRE2's message>" in err. */
struct name_matcher *name_compile(const char *pattern, char *err, size_t errlen)
{
    struct name_matcher *m;
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE erroff = 0;
    int errcode = 0;

    if (pattern == NULL) {
        snprintf(err, errlen, "no regex given");
        return NULL;
    }
    m = malloc(sizeof *m);
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                            PCRE2_UTF | PCRE2_DOLLAR_ENDONLY,
                            &errcode, &erroff, NULL);
    if (m->code == NULL) {
        if (pcre2_get_error_message(errcode, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", errcode);
        snprintf(err, errlen, "invalid regex at offset %zu: %s",
                 (size_t)erroff, (const char *)msg);
        free(m);
        return NULL;
    }
    return m;
}

/* 1 if the len bytes at name match m somewhere (as the pattern's anchors
 * say), 0 if not, -1 if PCRE2 could not tell (match or depth limit, out of
 * memory). Empty names, names over RR_NAME_MAX bytes and invalid UTF-8
 * never match. */
int name_match(const struct name_matcher *m, const char *name, size_t len)
{
    pcre2_match_data *md;
    int rc;

    if (m == NULL || name == NULL || len == 0 || len > RR_NAME_MAX)
        return 0;
    md = pcre2_match_data_create_from_pattern(m->code, NULL);
    if (md == NULL)
        return -1;
    rc = pcre2_match(m->code, (PCRE2_SPTR)name, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 1;
    /* No match, or input that can never match (bad UTF-8): 0. Limits and
     * memory: -1, a fault that may pass. */
    if (rc == PCRE2_ERROR_NOMATCH || (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21))
        return 0;
    return -1;
}

/* Free m (NULL is fine). */
void name_free(struct name_matcher *m)
{
    if (m == NULL)
        return;
    pcre2_code_free(m->code);
    free(m);
}
