/* admin_tokens.h -- hysteria-realm-admin's scoped-token commands: token add
 * (make one, print it once with realm:// URLs), token list (the live ones,
 * never a token or its mac), token revoke ID.
 *
 * These commands take options of their own (--scope, --realm, ...,
 * --token-key-file): admin_tokens_option() tells admin_main.c which they
 * are, so they may stand anywhere on the command line; the command gets
 * them first, then "--", then its words. Blocking; single-threaded.
 */
#ifndef RR_ADMIN_TOKENS_H
#define RR_ADMIN_TOKENS_H

#include <stdio.h>

#include "admin_realms.h"

/* 0 if arg ("--scope" or "--scope=both") is not a token option, 1 if it is
 * a flag, 2 if it takes a value (after '=' or as the next word). */
int admin_tokens_option(const char *arg);

/* Print the token options (for --help) to f. */
void admin_tokens_usage(FILE *f);

/* The commands: argv is the token options, "--", then the words after the
 * command name. Each returns an enum admin_exit; errors are printed. */
int admin_cmd_token_add(struct admin_ctx *a, int argc, char **argv);
int admin_cmd_token_list(struct admin_ctx *a, int argc, char **argv);
int admin_cmd_token_revoke(struct admin_ctx *a, int argc, char **argv);

#endif
