/* main.c -- the unit-test runner: runs every registered TEST in order and
 * ends with one line "N passed, N failed" (exit status 1 if any failed).
 *
 * An argument runs only the tests whose names contain it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define UNIT_MAX 1024

struct unit_test {
    const char *name;
    unit_fn fn;
};

static struct unit_test unit_tests[UNIT_MAX];
static int unit_count;
static int unit_failed_now;      /* the running test has failed */
static const char *unit_current;

/* Add a test to the list (from the TEST constructors, before main). */
void unit_register(const char *name, unit_fn fn)
{
    if (unit_count >= UNIT_MAX) {
        fprintf(stderr, "unit: too many tests, %s dropped\n", name);
        return;
    }
    unit_tests[unit_count].name = name;
    unit_tests[unit_count].fn = fn;
    unit_count++;
}

/* Report a failed assertion of the running test. */
void unit_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(stdout, "FAIL %s: %s:%d: ", unit_current, file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    unit_failed_now = 1;
}

int main(int argc, char **argv)
{
    int i, passed = 0, failed = 0;
    const char *only = argc > 1 ? argv[1] : NULL;

    for (i = 0; i < unit_count; i++) {
        if (only != NULL && strstr(unit_tests[i].name, only) == NULL)
            continue;
        unit_current = unit_tests[i].name;
        unit_failed_now = 0;
        unit_tests[i].fn();
        fflush(stdout);
        if (unit_failed_now)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
