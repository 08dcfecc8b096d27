/* unit.h -- a tiny unit-test framework for the pure modules.
 *
 *   TEST(addr_plain) { ASSERT_TRUE(addr_valid("1.2.3.4:5")); }
 *
 * TEST(name) defines a test and registers it (a constructor adds it to the
 * runner's list before main() starts), so a new test needs no other edit.
 * A failed ASSERT_* prints file:line and what was expected, marks the test
 * failed and returns from it. main.c runs every test in registration order
 * and ends with "N passed, N failed". */
#ifndef UNIT_H
#define UNIT_H

#include <stdio.h>
#include <string.h>

typedef void (*unit_fn)(void);

/* Add a test to the runner (called by the TEST constructors). */
void unit_register(const char *name, unit_fn fn);

/* Mark the running test failed, with a file:line message. */
void unit_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                        \
    static void test_##name(void);                                        \
    static void unit_reg_##name(void) __attribute__((constructor));      \
    static void unit_reg_##name(void) { unit_register(#name, test_##name); } \
    static void test_##name(void)

#define ASSERT_TRUE(cond)                                                 \
    do {                                                                  \
        if (!(cond)) {                                                    \
            unit_fail(__FILE__, __LINE__, "expected true: %s", #cond);    \
            return;                                                       \
        }                                                                 \
    } while (0)

#define ASSERT_EQ_INT(want, got)                                          \
    do {                                                                  \
        long long unit_w_ = (long long)(want), unit_g_ = (long long)(got); \
        if (unit_w_ != unit_g_) {                                         \
            unit_fail(__FILE__, __LINE__, "%s: expected %lld, got %lld",  \
                      #got, unit_w_, unit_g_);                            \
            return;                                                       \
        }                                                                 \
    } while (0)

#define ASSERT_EQ_STR(want, got)                                          \
    do {                                                                  \
        const char *unit_ws_ = (want), *unit_gs_ = (got);                 \
        if (unit_ws_ == NULL || unit_gs_ == NULL                          \
            || strcmp(unit_ws_, unit_gs_) != 0) {                         \
            unit_fail(__FILE__, __LINE__, "%s: expected \"%s\", got \"%s\"", \
                      #got, unit_ws_ ? unit_ws_ : "(null)",               \
                      unit_gs_ ? unit_gs_ : "(null)");                    \
            return;                                                       \
        }                                                                 \
    } while (0)

/* n bytes equal (for binary output such as FastCGI records). */
#define ASSERT_EQ_MEM(want, got, n)                                       \
    do {                                                                  \
        if (memcmp((want), (got), (n)) != 0) {                            \
            unit_fail(__FILE__, __LINE__, "%s: %zu bytes differ from %s", \
                      #got, (size_t)(n), #want);                          \
            return;                                                       \
        }                                                                 \
    } while (0)

#endif
