/* test_name.c -- realm names against PCRE2 patterns (name.c). */
#include "contract.h"
#include "name.h"
#include "unit.h"

#define DEFAULT_PATTERN "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"

/* name_match on a NUL-terminated name. */
static int match(const struct name_matcher *m, const char *s)
{
    return name_match(m, s, strlen(s));
}

TEST(name_default_pattern)
{
    char err[256];
    struct name_matcher *m = name_compile(DEFAULT_PATTERN, err, sizeof err);
    int ok;

    ASSERT_TRUE(m != NULL);
    ok = match(m, "home") && match(m, "a") && match(m, "Z9_-x") && match(m, "0")
         && !match(m, "") && !match(m, "-home") && !match(m, "_home")
         && !match(m, "ho me") && !match(m, "home.") && !match(m, "hom\xc3\xa9")
         && !match(m, "name\n") && !match(m, "\nname") && !match(m, "na/me")
         && !match(m, "\xff") && !match(m, "home\xff");
    name_free(m);
    ASSERT_TRUE(ok);
}

TEST(name_64_vs_65)
{
    char err[256], s[80];
    struct name_matcher *m = name_compile(DEFAULT_PATTERN, err, sizeof err);
    int ok64, ok65;

    ASSERT_TRUE(m != NULL);
    memset(s, 'a', 65);
    ok64 = name_match(m, s, 64);
    ok65 = name_match(m, s, 65);
    name_free(m);
    ASSERT_TRUE(ok64);
    ASSERT_TRUE(!ok65);
}

TEST(name_embedded_nul)
{
    char err[256];
    struct name_matcher *m = name_compile("^[a-z\\x00]+$", err, sizeof err);
    struct name_matcher *d = name_compile(DEFAULT_PATTERN, err, sizeof err);
    int ok;

    ASSERT_TRUE(m != NULL && d != NULL);
    ok = name_match(m, "ab\0cd", 5) && !name_match(d, "ab\0cd", 5) && name_match(d, "ab\0cd", 2);
    name_free(m);
    name_free(d);
    ASSERT_TRUE(ok);
}

TEST(name_utf8_patterns)
{
    char err[256];
    struct name_matcher *m = name_compile("^\\S{1,3}$", err, sizeof err);
    int ok;

    ASSERT_TRUE(m != NULL);
    /* Three characters (seven bytes) match; invalid UTF-8 never does. */
    ok = match(m, "\xc3\xa9\xe2\x82\xac\x41") && !match(m, "\xc3") && !match(m, "\xff")
         && !match(m, "abcd") && !match(m, "\xc0\xaf");
    name_free(m);
    ASSERT_TRUE(ok);
}

TEST(name_unanchored_and_cap)
{
    char err[256], s[RR_NAME_MAX + 2];
    struct name_matcher *m = name_compile("x", err, sizeof err);
    int ok;

    ASSERT_TRUE(m != NULL);
    memset(s, 'x', sizeof s);
    ok = match(m, "abxcd") && !match(m, "abc") && name_match(m, s, RR_NAME_MAX)
         && !name_match(m, s, RR_NAME_MAX + 1) && !name_match(m, s, 0);
    name_free(m);
    ASSERT_TRUE(ok);
}

TEST(name_dollar_endonly)
{
    char err[256];
    struct name_matcher *m = name_compile("^[a-z]+$", err, sizeof err);
    int ok;

    ASSERT_TRUE(m != NULL);
    ok = match(m, "abc") && !match(m, "abc\n") && !match(m, "abc\r\n");
    name_free(m);
    ASSERT_TRUE(ok);
}

TEST(name_invalid_regex)
{
    char err[256];

    ASSERT_TRUE(name_compile("^[a-z", err, sizeof err) == NULL);
    ASSERT_TRUE(strstr(err, "invalid regex at offset 5") != NULL);
    ASSERT_TRUE(strstr(err, "missing terminating ]") != NULL);
    ASSERT_TRUE(name_compile("(abc", err, sizeof err) == NULL);
    ASSERT_TRUE(strstr(err, "missing closing parenthesis") != NULL);
    ASSERT_TRUE(name_compile("a{2,1}", err, sizeof err) == NULL);
    ASSERT_TRUE(strstr(err, "offset") != NULL);
    ASSERT_TRUE(name_compile("\xff", err, sizeof err) == NULL);   /* pattern not UTF-8 */
    ASSERT_TRUE(strstr(err, "UTF-8") != NULL);
    ASSERT_TRUE(name_compile(NULL, err, sizeof err) == NULL);
    name_free(NULL);
}
