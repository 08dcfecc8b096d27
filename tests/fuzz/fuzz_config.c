/* fuzz_config.c -- libFuzzer harness for the worker's configuration
 * (config.c, with allow.c, redis_url.c and number.c behind it).
 *
 * Input: the arguments, separated by NUL bytes (at most ARGS_MAX of them),
 * each copied into a heap buffer of exactly its length plus the NUL so ASan
 * sees a read past the end; argv[0] is "hysteria-realm-fcgi". Before the
 * first input LLVMFuzzerInitialize clears every HYSTERIA_REALM_* variable
 * (so only flags count), sends stdout to /dev/null (--help and --version
 * print there) and makes a fresh directory, where each config_load runs
 * (the fuzzer's own directory is restored after it), holding files for
 * --token-file: "token" (a token among spaces), "blank" (an empty first
 * line), "long" (a first line past the reader's 1024 bytes) and a
 * directory "dir". An input naming --token-file is run only if no argument
 * holds a '/' (so it reads nothing outside that directory: no FIFO, no
 * /proc file that blocks). Checked:
 *   - the result is CONFIG_OK, CONFIG_HELP, CONFIG_VERSION or CONFIG_ERROR;
 *     err is NUL-terminated within errlen with nothing written past it,
 *     non-empty exactly on CONFIG_ERROR;
 *   - on anything but CONFIG_OK the struct is all zero bytes (freed);
 *   - on CONFIG_OK a token is set and not empty, every number is within
 *     its row's bounds, booleans are 0 or 1, the required strings are set
 *     and not empty, trusted_proxy_param is "HTTP_" and the header in
 *     upper case with '-' as '_' (NULL without a header), the Redis target
 *     has exactly one form; config_free leaves the struct zero, and a
 *     second config_free is harmless;
 *   - no leak (LeakSanitizer, at the end of each input).
 * A broken check aborts (a crash libFuzzer reports). */
#include <ctype.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "fuzz_config: check failed at %s:%d: %s\n",      \
                    __FILE__, __LINE__, #cond);                              \
            abort();                                                         \
        }                                                                    \
    } while (0)

#define ARGS_MAX 64
#define ERR_LEN 256
#define GUARD 0x5a

extern char **environ;

static char workdir[] = "/tmp/fuzz_config.XXXXXX";
static int origdir = -1;       /* the fuzzer's directory, for its paths */

static int all_bytes(const void *p, size_t n, unsigned char v)
{
    const unsigned char *s = p;
    for (size_t k = 0; k < n; k++)
        if (s[k] != v)
            return 0;
    return 1;
}

static void write_file(const char *name, const char *text, size_t repeat)
{
    char path[sizeof workdir + 16];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", workdir, name);
    f = fopen(path, "w");
    CHECK(f != NULL);
    for (size_t k = 0; k < repeat; k++)
        fputs(text, f);
    fclose(f);
}

static void cleanup(void)
{
    static const char *const names[] = { "token", "blank", "long", "dir" };
    char path[sizeof workdir + 16];

    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", workdir, names[k]);
        if (unlink(path) != 0)
            rmdir(path);
    }
    rmdir(workdir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Unset every HYSTERIA_REALM_* (collect the names first: unsetenv
     * changes environ). */
    for (;;) {
        char name[256];
        size_t n = 0;
        for (char **e = environ; e != NULL && *e != NULL; e++) {
            if (strncmp(*e, "HYSTERIA_REALM_", 15) == 0) {
                const char *eq = strchr(*e, '=');
                n = eq != NULL ? (size_t)(eq - *e) : strlen(*e);
                if (n >= sizeof name)
                    n = sizeof name - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                break;
            }
        }
        if (n == 0)
            break;
        unsetenv(name);
    }
    CHECK(freopen("/dev/null", "w", stdout) != NULL);
    CHECK(mkdtemp(workdir) != NULL);
    atexit(cleanup);
    write_file("token", "  s3cret-token \t\r\n second line\n", 1);
    write_file("blank", "\n", 1);
    write_file("long", "x", 1500);
    {
        char path[sizeof workdir + 16];
        snprintf(path, sizeof path, "%s/dir", workdir);
        CHECK(mkdir(path, 0700) == 0);
    }
    origdir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(origdir >= 0);
    return 0;
}

static void check_ok(const struct config *c)
{
    const struct redis_target *t = &c->redis;

    CHECK(c->token != NULL && c->token[0] != '\0');
    CHECK(c->max_realms >= 0 && c->max_realms <= 1000000000L);
    CHECK(c->max_realms_per_ip >= 0 && c->max_realms_per_ip <= 1000000000L);
    CHECK(c->name_pattern != NULL && c->name_pattern[0] != '\0');
    CHECK(c->debug == 0 || c->debug == 1);
    CHECK(c->metrics == 0 || c->metrics == 1);
    CHECK(c->redis_url != NULL && c->redis_url[0] != '\0');
    CHECK(c->redis_wait >= 0 && c->redis_wait <= 64);
    CHECK(c->redis_wait_timeout >= 1 && c->redis_wait_timeout <= 900);
    CHECK(c->redis_wait_strict == 0 || c->redis_wait_strict == 1);
    CHECK(c->listen == NULL || c->listen[0] != '\0');
    CHECK(c->token_file == NULL || c->token_file[0] != '\0');
    CHECK(c->threads >= 1 && c->threads <= 256);
    CHECK(c->max_held >= 0 && c->max_held <= 1000000000L);
    CHECK(c->fcgi_timeout >= 1 && c->fcgi_timeout <= 300);
    CHECK(c->fcgi_allow != NULL && c->fcgi_allow[0] != '\0');
    CHECK(c->session_ttl >= 1 && c->session_ttl <= 86400);
    CHECK(c->connect_wait >= 1 && c->connect_wait <= 60);
    CHECK(c->keepalive >= 1 && c->keepalive <= 3600);
    CHECK(c->scripts_dir != NULL && c->scripts_dir[0] != '\0');
    CHECK((c->trusted_proxy_header == NULL) == (c->trusted_proxy_param == NULL));
    if (c->trusted_proxy_header != NULL) {
        const char *h = c->trusted_proxy_header, *p = c->trusted_proxy_param;
        CHECK(h[0] != '\0');
        CHECK(strncmp(p, "HTTP_", 5) == 0 && strlen(p) == 5 + strlen(h));
        for (size_t k = 0; h[k] != '\0'; k++)
            CHECK(p[5 + k] == (h[k] == '-' ? '_' : toupper((unsigned char)h[k])));
    }
    CHECK((t->host != NULL) + (t->path != NULL) + (t->master_name != NULL) == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[ARGS_MAX + 2];
    char err[ERR_LEN + 16];
    struct config cfg;
    enum config_result r;
    int argc = 1, names_file = 0, slash = 0;
    size_t off = 0;

    argv[0] = (char *)"hysteria-realm-fcgi";
    while (off < size && argc <= ARGS_MAX) {
        const uint8_t *nul = memchr(data + off, '\0', size - off);
        size_t n = nul != NULL ? (size_t)(nul - (data + off)) : size - off;
        char *a = malloc(n + 1);
        CHECK(a != NULL);
        memcpy(a, data + off, n);
        a[n] = '\0';
        names_file |= strncmp(a, "--token-file", 12) == 0;
        slash |= memchr(a, '/', n) != NULL;
        argv[argc++] = a;
        off += n + 1;
    }
    argv[argc] = NULL;
    if (off < size || (names_file && slash))
        goto out;          /* too many arguments, or a path to stay away from */

    memset(&cfg, 0xa5, sizeof cfg);
    memset(err, GUARD, sizeof err);
    CHECK(chdir(workdir) == 0);
    r = config_load(&cfg, argc, argv, err, ERR_LEN);
    CHECK(fchdir(origdir) == 0);
    CHECK(r == CONFIG_OK || r == CONFIG_HELP || r == CONFIG_VERSION || r == CONFIG_ERROR);
    CHECK(all_bytes(err + ERR_LEN, 16, GUARD));
    CHECK(memchr(err, '\0', ERR_LEN) != NULL);
    CHECK((err[0] != '\0') == (r == CONFIG_ERROR));
    if (r != CONFIG_OK) {
        CHECK(all_bytes(&cfg, sizeof cfg, 0));
    } else {
        check_ok(&cfg);
        config_free(&cfg);
        CHECK(all_bytes(&cfg, sizeof cfg, 0));
        config_free(&cfg);
        CHECK(all_bytes(&cfg, sizeof cfg, 0));
    }
out:
    for (int k = 1; k < argc; k++)
        free(argv[k]);
    return 0;
}
