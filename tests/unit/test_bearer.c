/* test_bearer.c -- the credential of an Authorization header (bearer.c). */
#include <string.h>

#include "bearer.h"
#include "unit.h"

/* 1 if bearer_parse(h) gives exactly the credential want (NULL: none). */
static int bearer_is(const char *h, const char *want)
{
    const char *out = (const char *)1;
    size_t len = 99;
    int rc = bearer_parse(h, &out, &len);

    if (want == NULL)
        return rc == 0 && out == NULL && len == 0;
    return rc == 1 && out != NULL && len == strlen(want) && memcmp(out, want, len) == 0;
}

TEST(bearer_plain)
{
    const char *h = "Bearer s3cret", *out;
    size_t len;

    ASSERT_EQ_INT(1, bearer_parse(h, &out, &len));
    ASSERT_TRUE(out == h + 7);          /* points into the header */
    ASSERT_EQ_INT(6, len);
    ASSERT_TRUE(bearer_is("Bearer 0123456789abcdef0123456789abcdef",
                          "0123456789abcdef0123456789abcdef"));
}

TEST(bearer_scheme_any_case)
{
    ASSERT_TRUE(bearer_is("bearer tok", "tok"));
    ASSERT_TRUE(bearer_is("BEARER tok", "tok"));
    ASSERT_TRUE(bearer_is("bEaReR tok", "tok"));
}

TEST(bearer_spaces)
{
    ASSERT_TRUE(bearer_is("Bearer    tok", "tok"));        /* spaces skipped */
    ASSERT_TRUE(bearer_is("Bearer tok  \t \t", "tok"));    /* spaces and tabs trimmed */
    ASSERT_TRUE(bearer_is("Bearer  a b ", "a b"));         /* inner space kept */
    ASSERT_TRUE(bearer_is("Bearer \ttok", "\ttok"));       /* only spaces are skipped in front */
    ASSERT_TRUE(bearer_is("Bearer tok\r", "tok\r"));       /* only spaces and tabs trimmed */
}

TEST(bearer_none)
{
    ASSERT_TRUE(bearer_is(NULL, NULL));
    ASSERT_TRUE(bearer_is("", NULL));
    ASSERT_TRUE(bearer_is("Bearer", NULL));                /* no space after the scheme */
    ASSERT_TRUE(bearer_is("Bearer ", NULL));               /* empty */
    ASSERT_TRUE(bearer_is("Bearer    ", NULL));
    ASSERT_TRUE(bearer_is("Bearer \t \t", NULL));
    ASSERT_TRUE(bearer_is("Bearer\ttok", NULL));           /* a tab is not the separator */
    ASSERT_TRUE(bearer_is("Basic dXNlcjpwYXNz", NULL));
    ASSERT_TRUE(bearer_is(" Bearer tok", NULL));           /* nothing before the scheme */
    ASSERT_TRUE(bearer_is("Bearertok", NULL));
}
