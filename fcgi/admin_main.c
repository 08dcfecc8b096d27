/* admin_main.c -- hysteria-realm-admin: the operator's tool. Reads the
 * rendezvous state in Redis (the live realms and their health, the stats)
 * and ends sessions (kick), over one blocking connection to the primary.
 *
 *   hysteria-realm-admin [--redis URL] [--scripts-dir DIR] [--json] COMMAND [ARG...]
 *
 * The options are a table (admin_opts) and so are the commands
 * (admin_cmds): a new command is one row and one function. Options may
 * come before or after the command. Exit codes: enum admin_exit.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "admin_out.h"
#include "admin_realms.h"
#include "admin_stats.h"
#include "redis_sync.h"
#include "redis_url.h"

#define ADMIN_PROG "hysteria-realm-admin"
#define ADMIN_DEFAULT_REDIS "redis://127.0.0.1:6379"
#define ADMIN_TIMEOUT_MS 5000

/* -- the command table ------------------------------------------------------ */

struct admin_cmd {
    const char *name;
    const char *args;       /* for the usage line */
    const char *summary;
    int (*run)(struct admin_ctx *a, int argc, char **argv);
};

static const struct admin_cmd admin_cmds[] = {
    { "realms", "", "one line per live realm: addresses, heartbeat, stream, punches, flags",
      admin_cmd_realms },
    { "realm", "NAME", "everything about one realm (exit 1 if it is not registered)",
      admin_cmd_realm },
    { "kick", "NAME", "end the realm's session as a deregister would (exit 1 if not registered)",
      admin_cmd_kick },
    { "stats", "", "live realms, streams, workers, counters, Redis role and memory",
      admin_cmd_stats },
};
#define ADMIN_NCMDS (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

/* -- the option table ------------------------------------------------------- */

struct admin_args {
    const char *redis;
    const char *scripts_dir;
    int json;
    int help;
    int version;
};

enum opt_kind { OPT_STRING, OPT_FLAG };

struct admin_opt {
    const char *name;       /* "--redis" */
    enum opt_kind kind;
    size_t field;           /* offsetof(struct admin_args, ...) */
    const char *env;        /* default from this variable, or NULL */
    const char *help;
};

#define OPT_FIELD(f) offsetof(struct admin_args, f)

static const struct admin_opt admin_opts[] = {
    { "--redis", OPT_STRING, OPT_FIELD(redis), "HYSTERIA_REALM_REDIS",
      "where the state lives (default " ADMIN_DEFAULT_REDIS ")" },
    { "--scripts-dir", OPT_STRING, OPT_FIELD(scripts_dir), "HYSTERIA_REALM_SCRIPTS_DIR",
      "the Lua sources of the Redis functions (default " RR_SCRIPTS_DIR ")" },
    { "--json", OPT_FLAG, OPT_FIELD(json), NULL, "print JSON instead of text" },
    { "--help", OPT_FLAG, OPT_FIELD(help), NULL, "print this help and exit" },
    { "--version", OPT_FLAG, OPT_FIELD(version), NULL, "print the version and exit" },
};
#define ADMIN_NOPTS (sizeof(admin_opts) / sizeof(admin_opts[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: " ADMIN_PROG " [OPTION...] COMMAND [ARG...]\n\nCommands:\n");
    for (size_t i = 0; i < ADMIN_NCMDS; i++) {
        char head[64];
        snprintf(head, sizeof(head), "%s %s", admin_cmds[i].name, admin_cmds[i].args);
        fprintf(f, "  %-14s %s\n", head, admin_cmds[i].summary);
    }
    fprintf(f, "\nOptions (before or after the command):\n");
    for (size_t i = 0; i < ADMIN_NOPTS; i++) {
        char head[64];
        snprintf(head, sizeof(head), "%s%s", admin_opts[i].name,
                 admin_opts[i].kind == OPT_STRING ? " VALUE" : "");
        fprintf(f, "  %-20s %s%s%s\n", head, admin_opts[i].help,
                admin_opts[i].env ? "; env " : "", admin_opts[i].env ? admin_opts[i].env : "");
    }
    fprintf(f, "\nExit status: 0 ok, 1 not found or refused, 2 usage error, "
               "3 Redis unreachable.\n");
}

/* Apply the option at argv[*i] (and its value) to args. 0, or -1 with the
 * error printed. */
static int take_option(struct admin_args *args, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    for (size_t k = 0; k < ADMIN_NOPTS; k++) {
        const struct admin_opt *o = &admin_opts[k];
        size_t n = strlen(o->name);
        if (strncmp(arg, o->name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
            continue;
        char *field = (char *)args + o->field;
        if (o->kind == OPT_FLAG) {
            if (arg[n] == '=') {
                out_error("%s takes no value", o->name);
                return -1;
            }
            *(int *)(void *)field = 1;
            return 0;
        }
        const char *val = arg[n] == '=' ? arg + n + 1 : NULL;
        if (val == NULL) {
            if (*i + 1 >= argc) {
                out_error("%s needs a value", o->name);
                return -1;
            }
            val = argv[++*i];
        }
        *(const char **)(void *)field = val;
        return 0;
    }
    if (strcmp(arg, "-h") == 0) {
        args->help = 1;
        return 0;
    }
    out_error("unknown option %s (see --help)", arg);
    return -1;
}

/* Split argv into options (into args) and the command's words (into
 * words, *nwords of them: the command name first). "--" ends the options.
 * 0, or -1 with the error printed. */
static int parse_args(int argc, char **argv, struct admin_args *args, char **words,
                      int *nwords)
{
    int only_words = 0;
    *nwords = 0;
    for (int i = 1; i < argc; i++) {
        if (!only_words && strcmp(argv[i], "--") == 0)
            only_words = 1;
        else if (!only_words && argv[i][0] == '-' && argv[i][1] != '\0') {
            if (take_option(args, argc, argv, &i) != 0)
                return -1;
        } else
            words[(*nwords)++] = argv[i];
    }
    return 0;
}

/* Defaults from the environment, then the compiled-in ones. */
static void apply_defaults(struct admin_args *args)
{
    for (size_t k = 0; k < ADMIN_NOPTS; k++) {
        const struct admin_opt *o = &admin_opts[k];
        const char **field = (const char **)(void *)((char *)args + o->field);
        const char *env = o->env ? getenv(o->env) : NULL;
        if (o->kind == OPT_STRING && *field == NULL && env != NULL && env[0] != '\0')
            *field = env;
    }
    if (args->redis == NULL)
        args->redis = ADMIN_DEFAULT_REDIS;
    if (args->scripts_dir == NULL)
        args->scripts_dir = RR_SCRIPTS_DIR;
}

int main(int argc, char **argv)
{
    struct admin_args args = { 0 };
    struct redis_target target = { 0 };
    struct admin_ctx ctx = { 0 };
    char **words = calloc((size_t)argc + 1, sizeof(*words));
    char err[512];
    int nwords = 0, rc = ADMIN_USAGE;
    const struct admin_cmd *cmd = NULL;

    if (words == NULL) {
        out_error("out of memory");
        return ADMIN_UNREACHABLE;
    }
    if (parse_args(argc, argv, &args, words, &nwords) != 0)
        goto out;
    if (args.help) {
        usage(stdout);
        rc = ADMIN_OK;
        goto out;
    }
    if (args.version) {
        printf(ADMIN_PROG " %s\n", RR_VERSION);
        rc = ADMIN_OK;
        goto out;
    }
    if (nwords == 0) {
        out_error("no command (see --help)");
        goto out;
    }
    for (size_t k = 0; k < ADMIN_NCMDS && cmd == NULL; k++)
        if (strcmp(words[0], admin_cmds[k].name) == 0)
            cmd = &admin_cmds[k];
    if (cmd == NULL) {
        out_error("unknown command %s (see --help)", words[0]);
        goto out;
    }
    apply_defaults(&args);
    if (redis_url_parse(args.redis, &target, err, sizeof(err)) != 0) {
        out_error("--redis: %s", err);
        goto out;
    }
    ctx.redis = redis_sync_connect(&target, ADMIN_TIMEOUT_MS, err, sizeof(err));
    if (ctx.redis == NULL) {
        char where[256];
        redis_target_describe(&target, where, sizeof(where));
        out_error("Redis unreachable at %s: %s", where, err);
        rc = ADMIN_UNREACHABLE;
        goto out;
    }
    ctx.json = args.json;
    ctx.scripts_dir = args.scripts_dir;
    rc = cmd->run(&ctx, nwords - 1, words + 1);
    if (fflush(stdout) != 0 && rc == ADMIN_OK) {
        out_error("cannot write the output");
        rc = ADMIN_UNREACHABLE;
    }
out:
    if (ctx.redis != NULL)
        redisFree(ctx.redis);
    redis_target_free(&target);
    free(words);
    return rc;
}
