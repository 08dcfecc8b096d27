/* test_config.c -- settings from defaults, environment and flags (config.c). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "unit.h"

static const char *const env_names[] = {
    "HYSTERIA_REALM_TOKEN", "HYSTERIA_REALM_MAX_REALMS", "HYSTERIA_REALM_MAX_REALMS_PER_IP",
    "HYSTERIA_REALM_TRUSTED_PROXY_HEADER", "HYSTERIA_REALM_NAME_PATTERN",
    "HYSTERIA_REALM_DEBUG", "HYSTERIA_REALM_REDIS", "HYSTERIA_REALM_LISTEN",
    "HYSTERIA_REALM_THREADS", "HYSTERIA_REALM_SESSION_TTL", "HYSTERIA_REALM_CONNECT_WAIT",
    "HYSTERIA_REALM_KEEPALIVE", "HYSTERIA_REALM_SCRIPTS_DIR", "HYSTERIA_REALM_TOKEN_FILE",
    "HYSTERIA_REALM_MAX_HELD", "HYSTERIA_REALM_FCGI_TIMEOUT", "HYSTERIA_REALM_FCGI_ALLOW",
    "HYSTERIA_REALM_HEAL", "HYSTERIA_REALM_STATUS_LOOKUP", "HYSTERIA_REALM_RELAY_ADDRESS",
};

static void clear_env(void)
{
    size_t i;

    for (i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
        unsetenv(env_names[i]);
}

/* config_load with argv from a NULL-terminated list (argv[0] added). */
static enum config_result load(struct config *cfg, char *err, const char *const *args)
{
    char *argv[32];
    int argc = 0;

    argv[argc++] = (char *)"hysteria-realm-fcgi";
    while (*args != NULL && argc < 31)
        argv[argc++] = (char *)*args++;
    argv[argc] = NULL;
    return config_load(cfg, argc, argv, err, 256);
}

/* load() with stdout sent to /dev/null (for --help and --version). */
static enum config_result load_quiet(struct config *cfg, char *err, const char *const *args)
{
    enum config_result r;
    int saved, null;

    fflush(stdout);
    saved = dup(1);
    null = open("/dev/null", O_WRONLY);
    if (saved < 0 || null < 0 || dup2(null, 1) < 0) {
        if (saved >= 0)
            close(saved);
        if (null >= 0)
            close(null);
        return CONFIG_ERROR;
    }
    r = load(cfg, err, args);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(null);
    return r;
}

TEST(config_defaults)
{
    const char *args[] = { "--token", "secret", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, args));
    ASSERT_EQ_STR("secret", c.token);
    ASSERT_EQ_INT(65536, c.max_realms);
    ASSERT_EQ_INT(4, c.max_realms_per_ip);
    ASSERT_TRUE(c.trusted_proxy_header == NULL);
    ASSERT_TRUE(c.trusted_proxy_param == NULL);
    ASSERT_EQ_STR("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", c.name_pattern);
    ASSERT_EQ_INT(0, c.debug);
    ASSERT_EQ_STR("redis://127.0.0.1:6379/0", c.redis_url);
    ASSERT_EQ_STR("127.0.0.1", c.redis.host);
    ASSERT_EQ_INT(6379, c.redis.port);
    ASSERT_EQ_INT(0, c.redis.db);
    ASSERT_TRUE(c.redis.path == NULL && c.redis.password == NULL);
    ASSERT_TRUE(c.listen == NULL);
    ASSERT_EQ_INT(4, c.threads);
    ASSERT_EQ_INT(60, c.session_ttl);
    ASSERT_EQ_INT(10, c.connect_wait);
    ASSERT_EQ_INT(20, c.keepalive);
    ASSERT_EQ_STR(RR_SCRIPTS_DIR, c.scripts_dir);
    ASSERT_EQ_INT(1, c.heal);
    ASSERT_EQ_INT(1, c.status_lookup);
    ASSERT_TRUE(c.relay_address == NULL);
    ASSERT_EQ_INT(0, (int)c.relays.n);
    config_free(&c);
    config_free(&c);   /* a second free is harmless */
}

TEST(config_extensions)
{
    const char *args[] = { "--token", "t", "--heal", "false", "--status-lookup=no",
                           "--relay-address", "192.0.2.1:7000 [2001:db8::1]:7000", NULL };
    const char *bad[] = { "--token", "t", "--relay-address", "relay.example:7000", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, args));
    ASSERT_EQ_INT(0, c.heal);
    ASSERT_EQ_INT(0, c.status_lookup);
    ASSERT_EQ_INT(2, (int)c.relays.n);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, bad));
    ASSERT_TRUE(strstr(err, "--relay-address") != NULL);
    ASSERT_TRUE(strstr(err, "relay.example:7000") != NULL);
}

TEST(config_token_required)
{
    const char *none[] = { NULL };
    const char *empty[] = { "--token=", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, none));
    ASSERT_EQ_STR("HYSTERIA_REALM_TOKEN (--token) or HYSTERIA_REALM_TOKEN_FILE (--token-file) is required", err);
    ASSERT_TRUE(c.name_pattern == NULL);   /* freed on error */
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, empty));
    ASSERT_EQ_STR("HYSTERIA_REALM_TOKEN (--token) or HYSTERIA_REALM_TOKEN_FILE (--token-file) is required", err);
    setenv("HYSTERIA_REALM_TOKEN", "", 1);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, none));
    setenv("HYSTERIA_REALM_TOKEN", "from-env", 1);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, none));
    ASSERT_EQ_STR("from-env", c.token);
    config_free(&c);
    clear_env();
}

TEST(config_env_and_flag_precedence)
{
    const char *flags[] = { "--max-realms", "7", "--redis=unix:///run/r.sock",
                            "--debug=no", "--threads=8", NULL };
    const char *none[] = { NULL };
    struct config c;
    char err[256];

    clear_env();
    setenv("HYSTERIA_REALM_TOKEN", "t", 1);
    setenv("HYSTERIA_REALM_MAX_REALMS", "100", 1);
    setenv("HYSTERIA_REALM_MAX_REALMS_PER_IP", "0", 1);
    setenv("HYSTERIA_REALM_DEBUG", "YES", 1);
    setenv("HYSTERIA_REALM_REDIS", "redis://10.0.0.1:6380/3", 1);
    setenv("HYSTERIA_REALM_NAME_PATTERN", "^[a-z]+$", 1);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, none));
    ASSERT_EQ_INT(100, c.max_realms);
    ASSERT_EQ_INT(0, c.max_realms_per_ip);
    ASSERT_EQ_INT(1, c.debug);
    ASSERT_EQ_STR("10.0.0.1", c.redis.host);
    ASSERT_EQ_INT(6380, c.redis.port);
    ASSERT_EQ_INT(3, c.redis.db);
    ASSERT_EQ_STR("^[a-z]+$", c.name_pattern);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, flags));
    ASSERT_EQ_INT(7, c.max_realms);
    ASSERT_EQ_INT(0, c.debug);
    ASSERT_EQ_INT(8, c.threads);
    ASSERT_TRUE(c.redis.host == NULL);
    ASSERT_EQ_STR("/run/r.sock", c.redis.path);
    config_free(&c);
    clear_env();
}

TEST(config_flag_overrides_bad_env)
{
    const char *flags[] = { "--token", "t", "--max-realms", "5", NULL };
    struct config c;
    char err[256];

    clear_env();
    setenv("HYSTERIA_REALM_MAX_REALMS", "lots", 1);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, flags));
    ASSERT_EQ_INT(5, c.max_realms);
    config_free(&c);
    clear_env();
}

TEST(config_debug_forms)
{
    const char *bare[] = { "--debug", "--token", "t", NULL };
    const char *last[] = { "--token", "t", "--debug", NULL };
    const char *spaced[] = { "--debug", "False", "--token", "t", NULL };
    const char *bad[] = { "--token", "t", "--debug=maybe", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, bare));
    ASSERT_EQ_INT(1, c.debug);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, last));
    ASSERT_EQ_INT(1, c.debug);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, spaced));
    ASSERT_EQ_INT(0, c.debug);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, bad));
    ASSERT_TRUE(strstr(err, "--debug") != NULL && strstr(err, "maybe") != NULL);
    setenv("HYSTERIA_REALM_DEBUG", "on", 1);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, bare + 1));   /* just --token t */
    ASSERT_TRUE(strstr(err, "HYSTERIA_REALM_DEBUG") != NULL);
    clear_env();
}

TEST(config_bad_numbers)
{
    static const char *const values[] = {
        "12x", "-1", "99999999999999999999", "", " 5", "5 ", "+5", "0x10", "1e3", "1.0",
    };
    struct config c;
    char err[256], flag[64];
    size_t i;

    clear_env();
    for (i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *args[] = { "--token", "t", flag, NULL };
        snprintf(flag, sizeof flag, "--max-realms=%s", values[i]);
        if (load(&c, err, args) != CONFIG_ERROR) {
            unit_fail(__FILE__, __LINE__, "accepted --max-realms=\"%s\"", values[i]);
            config_free(&c);
            return;
        }
        ASSERT_TRUE(strstr(err, "--max-realms") != NULL);
        ASSERT_TRUE(strstr(err, values[i]) != NULL);
    }
    setenv("HYSTERIA_REALM_SESSION_TTL", "12x", 1);
    {
        const char *args[] = { "--token", "t", NULL };
        ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, args));
        ASSERT_TRUE(strstr(err, "HYSTERIA_REALM_SESSION_TTL") != NULL);
        ASSERT_TRUE(strstr(err, "\"12x\"") != NULL);
    }
    clear_env();
}

TEST(config_number_bounds)
{
    const char *zero[] = { "--token", "t", "--threads", "0", NULL };
    const char *over[] = { "--token", "t", "--threads", "257", NULL };
    const char *max[] = { "--token", "t", "--threads", "256", "--connect-wait", "60",
                          "--session-ttl", "86400", "--keepalive", "1", "--max-realms", "0", NULL };
    const char *wait[] = { "--token", "t", "--connect-wait", "61", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, zero));
    ASSERT_TRUE(strstr(err, "--threads") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, over));
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, wait));
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, max));
    ASSERT_EQ_INT(256, c.threads);
    ASSERT_EQ_INT(60, c.connect_wait);
    ASSERT_EQ_INT(86400, c.session_ttl);
    ASSERT_EQ_INT(1, c.keepalive);
    ASSERT_EQ_INT(0, c.max_realms);
    config_free(&c);
}

TEST(config_bad_arguments)
{
    const char *unknown[] = { "--token", "t", "--bogus", "1", NULL };
    const char *unknown_eq[] = { "--token=t", "--max-realm=1", NULL };
    const char *novalue[] = { "--token", NULL };
    const char *flagvalue[] = { "--token", "--max-realms", "3", NULL };
    const char *positional[] = { "--token", "t", "extra", NULL };
    const char *single[] = { "-token", "t", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, unknown));
    ASSERT_TRUE(strstr(err, "--bogus") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, unknown_eq));
    ASSERT_TRUE(strstr(err, "--max-realm ") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, novalue));
    ASSERT_TRUE(strstr(err, "--token") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, flagvalue));
    ASSERT_TRUE(strstr(err, "--token") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, positional));
    ASSERT_TRUE(strstr(err, "extra") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, single));
}

TEST(config_help_and_version)
{
    const char *help[] = { "--help", NULL };
    const char *help_late[] = { "--token", "t", "--help", "--bogus", NULL };
    const char *version[] = { "--version", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_HELP, load_quiet(&c, err, help));
    ASSERT_TRUE(c.token == NULL && c.name_pattern == NULL);
    ASSERT_EQ_INT(CONFIG_HELP, load_quiet(&c, err, help_late));
    ASSERT_EQ_INT(CONFIG_VERSION, load_quiet(&c, err, version));
    config_free(&c);
}

TEST(config_usage_lists_every_setting)
{
    char *text = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&text, &len);

    ASSERT_TRUE(f != NULL);
    config_usage(f);
    fclose(f);
    for (i = 0; i < sizeof env_names / sizeof env_names[0]; i++) {
        if (strstr(text, env_names[i]) == NULL) {
            unit_fail(__FILE__, __LINE__, "usage lacks %s", env_names[i]);
            free(text);
            return;
        }
    }
    ASSERT_TRUE(strstr(text, "--realm-name-pattern") != NULL);
    free(text);
}

TEST(config_trusted_proxy_header)
{
    const char *xff[] = { "--token", "t", "--trusted-proxy-header", "X-Forwarded-For", NULL };
    const char *empty[] = { "--token", "t", "--trusted-proxy-header=", NULL };
    const char *bad[] = { "--token", "t", "--trusted-proxy-header", "X Real: IP", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, xff));
    ASSERT_EQ_STR("X-Forwarded-For", c.trusted_proxy_header);
    ASSERT_EQ_STR("HTTP_X_FORWARDED_FOR", c.trusted_proxy_param);
    config_free(&c);
    setenv("HYSTERIA_REALM_TRUSTED_PROXY_HEADER", "cf-connecting-ip", 1);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, empty));
    ASSERT_TRUE(c.trusted_proxy_header == NULL && c.trusted_proxy_param == NULL);
    config_free(&c);
    {
        const char *env_only[] = { "--token", "t", NULL };
        ASSERT_EQ_INT(CONFIG_OK, load(&c, err, env_only));
        ASSERT_EQ_STR("HTTP_CF_CONNECTING_IP", c.trusted_proxy_param);
        config_free(&c);
    }
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, bad));
    ASSERT_TRUE(strstr(err, "header") != NULL);
    clear_env();
}

TEST(config_redis_bad_url_in_config)
{
    const char *args[] = { "--token", "t", "--redis", "http://x", NULL };
    struct config c;
    char err[256];

    clear_env();
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, args));
    ASSERT_TRUE(strstr(err, "--redis") != NULL);
    setenv("HYSTERIA_REALM_REDIS", "redis://:hunter2@", 1);
    args[2] = "--threads";
    args[3] = "2";
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, args));
    ASSERT_TRUE(strstr(err, "HYSTERIA_REALM_REDIS") != NULL);
    ASSERT_TRUE(strstr(err, "hunter2") == NULL);   /* never echo a password */
    clear_env();
}

TEST(config_redis_url_forms)
{
    struct redis_target t;
    char err[256];

    ASSERT_EQ_INT(0, redis_url_parse("redis://cache.internal:6380/2", &t, err, sizeof err));
    ASSERT_EQ_STR("cache.internal", t.host);
    ASSERT_EQ_INT(6380, t.port);
    ASSERT_EQ_INT(2, t.db);
    ASSERT_TRUE(t.path == NULL && t.password == NULL);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("redis://host", &t, err, sizeof err));
    ASSERT_EQ_STR("host", t.host);
    ASSERT_EQ_INT(6379, t.port);
    ASSERT_EQ_INT(0, t.db);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("redis://host/", &t, err, sizeof err));
    ASSERT_EQ_INT(0, t.db);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("redis://:s%40cret:x@10.1.2.3:7000/15", &t, err, sizeof err));
    ASSERT_EQ_STR("s@cret:x", t.password);
    ASSERT_EQ_STR("10.1.2.3", t.host);
    ASSERT_EQ_INT(7000, t.port);
    ASSERT_EQ_INT(15, t.db);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("redis://hr%2Dworker:pw:x@host/2", &t, err, sizeof err));
    ASSERT_EQ_STR("hr-worker", t.user);
    ASSERT_EQ_STR("pw:x", t.password);
    ASSERT_EQ_INT(2, t.db);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("redis://[::1]:6379/0", &t, err, sizeof err));
    ASSERT_EQ_STR("::1", t.host);
    ASSERT_EQ_INT(6379, t.port);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("redis://[2001:db8::7]", &t, err, sizeof err));
    ASSERT_EQ_STR("2001:db8::7", t.host);
    ASSERT_EQ_INT(6379, t.port);
    redis_target_free(&t);
}

TEST(config_redis_unix_forms)
{
    struct redis_target t;
    char err[256];

    ASSERT_EQ_INT(0, redis_url_parse("unix:///path/to/sock", &t, err, sizeof err));
    ASSERT_EQ_STR("/path/to/sock", t.path);
    ASSERT_TRUE(t.host == NULL);
    ASSERT_EQ_INT(0, t.db);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("unix:///path?db=2", &t, err, sizeof err));
    ASSERT_EQ_STR("/path", t.path);
    ASSERT_EQ_INT(2, t.db);
    redis_target_free(&t);
}

TEST(config_redis_bad_urls)
{
    static const char *const bad[] = {
        "", "127.0.0.1:6379", "http://host", "rediss://host", "redis://", "redis://:6379",
        "redis://host:", "redis://host:0", "redis://host:65536", "redis://host:port",
        "redis://host:6379/x", "redis://host:6379/-1", "redis://host/0?x=1",
        "redis://user@host", "redis://user:@host", "redis://::1:6379", "redis://[::1", "redis://[::1]x",
        "redis://ho st", "redis://host:6379/99999999999999999999", "redis://:%zz@host",
        "redis://:%00@host", "unix://", "unix:///", "unix://relative/sock", "unix:/path",
        "unix:///path?db=", "unix:///path?db=x", "unix:///path?foo=1", NULL,
        "sentinel://", "sentinel://h:1", "sentinel://h:1/", "sentinel://h/m", "sentinel://h:1,/m",
        "sentinel://,h:1/m", "sentinel:///m", "sentinel://h:1/m?db=x", "sentinel://h:1/m?x=1",
        "sentinel://h:1/m?db=1&db=2x", "sentinel://h:1/m n", "sentinel://h:0/m",
        "sentinel://h:1/m?db=1&db=2",
        "redis://host/0?x=@h2",
        "sentinel://h:1/m?sentinel_password=%zz", "sentinel://user@h:1/m",
        "sentinel://h:1/m?sentinel_password=a&sentinel_password=b",
        "sentinel://a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9/m",
    };
    struct redis_target t;
    char err[256];
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (redis_url_parse(bad[i], &t, err, sizeof err) != -1) {
            unit_fail(__FILE__, __LINE__, "accepted \"%s\"", bad[i] ? bad[i] : "(null)");
            redis_target_free(&t);
            return;
        }
        ASSERT_TRUE(strstr(err, "Redis URL") != NULL);
        ASSERT_TRUE(t.host == NULL && t.path == NULL && t.password == NULL);
    }
}

TEST(config_redis_sentinel_forms)
{
    struct redis_target t;
    char err[256], where[128];

    ASSERT_EQ_INT(0, redis_url_parse("sentinel://10.0.0.1:26379,[::1]:26380,s3:5000/hr-main",
                                     &t, err, sizeof err));
    ASSERT_EQ_STR("hr-main", t.master_name);
    ASSERT_EQ_INT(3, (int)t.nsentinels);
    ASSERT_EQ_STR("10.0.0.1", t.sentinels[0].host);
    ASSERT_EQ_INT(26379, t.sentinels[0].port);
    ASSERT_EQ_STR("::1", t.sentinels[1].host);
    ASSERT_EQ_INT(26380, t.sentinels[1].port);
    ASSERT_EQ_STR("s3", t.sentinels[2].host);
    ASSERT_TRUE(t.host == NULL && t.password == NULL && t.sentinel_password == NULL && t.db == 0);
    redis_target_describe(&t, where, sizeof where);
    ASSERT_EQ_STR("sentinel:hr-main/0 sentinels=3", where);
    redis_target_free(&t);

    ASSERT_EQ_INT(0, redis_url_parse("sentinel://hr:p%40ss@h:1/m?db=3&sentinel_password=s%26p",
                                     &t, err, sizeof err));
    ASSERT_EQ_STR("hr", t.user);
    ASSERT_EQ_STR("p@ss", t.password);
    ASSERT_EQ_STR("s&p", t.sentinel_password);
    ASSERT_EQ_INT(3, t.db);
    redis_target_describe(&t, where, sizeof where);
    ASSERT_TRUE(strstr(where, "p@ss") == NULL && strstr(where, "s&p") == NULL);
    redis_target_free(&t);

    /* an '@' after the '?' belongs to the query, not to a user:password */
    ASSERT_EQ_INT(0, redis_url_parse("sentinel://h:1/m?sentinel_password=x@h2:2/m2", &t, err, sizeof err));
    ASSERT_TRUE(t.user == NULL && t.password == NULL);
    ASSERT_EQ_STR("h", t.sentinels[0].host);
    ASSERT_EQ_STR("m", t.master_name);
    ASSERT_EQ_STR("x@h2:2/m2", t.sentinel_password);
    redis_target_free(&t);
}

/* Write text to a fresh temporary file; its path into path (64 bytes). */
static int temp_file(char *path, const char *text)
{
    snprintf(path, 64, "/tmp/rr-unit-token-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

TEST(config_token_file)
{
    struct config c;
    char err[256], path[64], empty[64];
    clear_env();
    ASSERT_EQ_INT(0, temp_file(path, "  s3cret-token \nsecond line\n"));
    ASSERT_EQ_INT(0, temp_file(empty, "\n"));
    const char *ok[] = { "--token-file", path, NULL };
    const char *both[] = { "--token", "t", "--token-file", path, NULL };
    const char *missing[] = { "--token-file", "/nonexistent/token", NULL };
    const char *blank[] = { "--token-file", empty, NULL };
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, ok));
    ASSERT_EQ_STR("s3cret-token", c.token);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, both));
    ASSERT_TRUE(strstr(err, "not both") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, missing));
    ASSERT_TRUE(strstr(err, "/nonexistent/token") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, blank));
    ASSERT_TRUE(strstr(err, "no token") != NULL);
    setenv("HYSTERIA_REALM_TOKEN_FILE", path, 1);
    const char *none[] = { NULL };
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, none));
    ASSERT_EQ_STR("s3cret-token", c.token);
    config_free(&c);
    clear_env();
    unlink(path);
    unlink(empty);
}

TEST(config_event_loop_settings)
{
    struct config c;
    char err[256];
    clear_env();
    const char *def[] = { "--token", "t", NULL };
    const char *set[] = { "--token", "t", "--max-held", "5", "--fcgi-timeout", "2",
                          "--fcgi-allow", "10.0.0.0/8, ::1", NULL };
    const char *bad[] = { "--token", "t", "--fcgi-allow", "10.0.0.0/99", NULL };
    const char *slow[] = { "--token", "t", "--fcgi-timeout", "301", NULL };
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, def));
    ASSERT_EQ_INT(0, c.max_held);
    ASSERT_EQ_INT(5, c.fcgi_timeout);
    ASSERT_EQ_INT(2, (long)c.fcgi_allow_list.n);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_OK, load(&c, err, set));
    ASSERT_EQ_INT(5, c.max_held);
    ASSERT_EQ_INT(2, c.fcgi_timeout);
    ASSERT_EQ_INT(2, (long)c.fcgi_allow_list.n);
    config_free(&c);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, bad));
    ASSERT_TRUE(strstr(err, "--fcgi-allow") != NULL);
    ASSERT_EQ_INT(CONFIG_ERROR, load(&c, err, slow));
    ASSERT_TRUE(strstr(err, "--fcgi-timeout") != NULL);
}
