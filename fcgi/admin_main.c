/* admin_main.c -- hysteria-realm-admin: the operator's tool. Reads the
 * rendezvous state in Redis (the live realms and their health, the stats),
 * ends sessions (kick) and makes, lists and revokes scoped tokens, over one
 * blocking connection to the primary.
 *
 *   hysteria-realm-admin [--redis URL] [--scripts-dir DIR] [--json] COMMAND [ARG...]
 *
 * The options are a table (admin_opts) and so are the commands
 * (admin_cmds): a new command is one row and one function. A command
 * name may be two words ("token add"). A command may take options of its
 * own (the row's option function says which): they are handed to it
 * first, then "--", then its words. Options may come before or after the
 * command. Exit codes: enum admin_exit.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "admin_out.h"
#include "admin_realms.h"
#include "admin_stats.h"
#include "admin_tokens.h"
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
    /* The command's own options: 0 if arg is not one, 1 a flag, 2 one
     * with a value. NULL: it has none. */
    int (*option)(const char *arg);
};

static const struct admin_cmd admin_cmds[] = {
    { "realms", "", "one line per live realm: addresses, heartbeat, stream, punches, flags",
      admin_cmd_realms, NULL },
    { "realm", "NAME", "everything about one realm (exit 1 if it is not registered)",
      admin_cmd_realm, NULL },
    { "kick", "NAME", "end the realm's session as a deregister would (exit 1 if not registered)",
      admin_cmd_kick, NULL },
    { "stats", "", "live realms, streams, workers, counters, Redis role and memory",
      admin_cmd_stats, NULL },
    { "token add", "--scope S [OPTION...]",
      "make a scoped token; prints it once, with realm:// URLs (options below)",
      admin_cmd_token_add, admin_tokens_option },
    { "token list", "", "one line per live scoped token (never a token or its hash)",
      admin_cmd_token_list, admin_tokens_option },
    { "token revoke", "ID", "revoke a scoped token (exit 1 if there is none)",
      admin_cmd_token_revoke, admin_tokens_option },
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
        if (strlen(head) > 14)
            fprintf(f, "  %s\n  %-14s %s\n", head, "", admin_cmds[i].summary);
        else
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
    admin_tokens_usage(f);
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

/* As admin_cmd.option, for the options of any command. */
static int cmd_option(const char *arg)
{
    for (size_t k = 0; k < ADMIN_NCMDS; k++) {
        int r = admin_cmds[k].option ? admin_cmds[k].option(arg) : 0;
        if (r != 0)
            return r;
    }
    return 0;
}

/* The command the first words name (one or two of them: *used), or NULL. */
static const struct admin_cmd *cmd_find(char **words, int nwords, int *used)
{
    for (size_t k = 0; k < ADMIN_NCMDS; k++) {
        const char *name = admin_cmds[k].name, *sp = strchr(name, ' ');
        if (sp == NULL && nwords >= 1 && strcmp(words[0], name) == 0) {
            *used = 1;
            return &admin_cmds[k];
        }
        if (sp != NULL && nwords >= 2 && strlen(words[0]) == (size_t)(sp - name) &&
            strncmp(words[0], name, (size_t)(sp - name)) == 0 && strcmp(words[1], sp + 1) == 0) {
            *used = 2;
            return &admin_cmds[k];
        }
    }
    return NULL;
}

/* Split argv into options (into args), the commands' own options (into
 * opts, *nopts of them, each with its value) and the command's words (into
 * words, *nwords of them: the command name first). "--" ends the options.
 * 0, or -1 with the error printed. */
static int parse_args(int argc, char **argv, struct admin_args *args, char **words,
                      int *nwords, char **opts, int *nopts)
{
    int only_words = 0;
    *nwords = 0;
    *nopts = 0;
    for (int i = 1; i < argc; i++) {
        int own;
        if (!only_words && strcmp(argv[i], "--") == 0)
            only_words = 1;
        else if (!only_words && argv[i][0] == '-' && argv[i][1] != '\0' &&
                 (own = cmd_option(argv[i])) != 0) {
            opts[(*nopts)++] = argv[i];
            if (own == 2 && strchr(argv[i], '=') == NULL) {
                if (i + 1 >= argc) {
                    out_error("%s needs a value", argv[i]);
                    return -1;
                }
                opts[(*nopts)++] = argv[++i];
            }
        } else if (!only_words && argv[i][0] == '-' && argv[i][1] != '\0') {
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
    char **opts = calloc((size_t)argc + 2, sizeof(*opts));  /* then "--" and the words */
    char err[512];
    int nwords = 0, nopts = 0, used = 0, rc = ADMIN_USAGE;
    const struct admin_cmd *cmd = NULL;

    if (words == NULL || opts == NULL) {
        out_error("out of memory");
        free(words);
        free(opts);
        return ADMIN_UNREACHABLE;
    }
    if (parse_args(argc, argv, &args, words, &nwords, opts, &nopts) != 0)
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
    if ((cmd = cmd_find(words, nwords, &used)) == NULL) {
        if (strcmp(words[0], "token") == 0)
            out_error("token needs add, list or revoke%s%s (see --help)",
                      nwords > 1 ? ", not " : "", nwords > 1 ? words[1] : "");
        else
            out_error("unknown command %s (see --help)", words[0]);
        goto out;
    }
    for (int k = 0; k < nopts; k++) {
        int own = cmd->option != NULL ? cmd->option(opts[k]) : 0;
        if (own == 0) {
            out_error("%s is not an option of %s (see --help)", opts[k], cmd->name);
            goto out;
        }
        if (own == 2 && strchr(opts[k], '=') == NULL)
            k++;                /* its value */
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
    if (cmd->option != NULL) {
        /* its own options, "--", its words */
        opts[nopts] = "--";
        memcpy(opts + nopts + 1, words + used, (size_t)(nwords - used) * sizeof(*words));
        rc = cmd->run(&ctx, nopts + 1 + nwords - used, opts);
    } else {
        rc = cmd->run(&ctx, nwords - used, words + used);
    }
    if (fflush(stdout) != 0 && rc == ADMIN_OK) {
        out_error("cannot write the output");
        rc = ADMIN_UNREACHABLE;
    }
out:
    if (ctx.redis != NULL)
        redisFree(ctx.redis);
    redis_target_free(&target);
    free(words);
    free(opts);
    return rc;
}
