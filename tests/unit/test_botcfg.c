/* SPDX-License-Identifier: ISC */
/*
 * botcfg: the token's shape, the allowed list, and botcfg_load() from a
 * table of (environment, flags) -> settings or error. No error may ever
 * show a token's secret part, nor SECRET.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "tap.h"

#define SECRET	"S3cretTokenPart_xyz-123"
#define TOKEN	"123456:" SECRET
#define NSLOTS	8

static const struct {
	const char	*tk_token;
	int		 tk_valid;
} tokens[] = {
	{ TOKEN, 1 },
	{ "1:a", 1 },
	{ "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", 1 },
	{ "", 0 },
	{ ":abc", 0 },
	{ "123456", 0 },
	{ "123456:", 0 },
	{ "abc:def", 0 },
	{ "12a:def", 0 },
	{ "123:abc def", 0 },
	{ "123:abc/def", 0 },
	{ "123:abc:def", 0 },
	{ " 123:abc", 0 },
	{ "123:abc\n", 0 },
	{ "123:\xd0\x9f\xd1\x80", 0 },
	{ "123456789012345678901:abc", 0 },	/* 21 digits */
};

static const struct {
	const char	*al_list;
	const char	*al_err;	/* NULL: parses; else a substring */
	size_t		 al_n;
	int64_t		 al_ids[4];
} lists[] = {
	{ "", NULL, 0, { 0 } },
	{ "42", NULL, 1, { 42 } },
	{ "1,2,3", NULL, 3, { 1, 2, 3 } },
	{ " 1 , 2\t,3 ", NULL, 3, { 1, 2, 3 } },
	{ "1,,2,", NULL, 2, { 1, 2 } },
	{ " , ,", NULL, 0, { 0 } },
	{ "9223372036854775807", NULL, 1, { INT64_MAX } },
	{ "abc", "\"abc\" is not a user id", 0, { 0 } },
	{ "1,x2,3", "\"x2\"", 0, { 0 } },
	{ "1 2", "\"1 2\"", 0, { 0 } },
	{ "-5", "\"-5\"", 0, { 0 } },
	{ "0", "\"0\"", 0, { 0 } },
	{ "+5", "\"+5\"", 0, { 0 } },
	{ "1;2", "\"1;2\"", 0, { 0 } },
	{ "9223372036854775808", "not a user id", 0, { 0 } },
	{ "12345678901234567890", "not a user id", 0, { 0 } },
};

struct load_case {
	const char	*lc_name;
	const char	*lc_env[NSLOTS];
	const char	*lc_argv[NSLOTS];	/* after argv[0] */
	const char	*lc_err;	/* NULL: loads; else a substring */
	const char	*lc_token;
	const char	*lc_url;
	size_t		 lc_nallowed;
	long		 lc_poll;
};

static const struct load_case loads[] = {
	{ "env only", { "TELEGRAM_BOT_TOKEN=" TOKEN }, { NULL }, NULL,
	    TOKEN, BOT_DEFAULT_URL, 0, 30 },
	{ "all env", { "TELEGRAM_BOT_TOKEN=" TOKEN,
	    "TGSIDECAR_URL=http://127.0.0.1:9999/",
	    "ALLOWED_TELEGRAM_USER_ID=5,6" }, { NULL }, NULL,
	    TOKEN, "http://127.0.0.1:9999", 2, 30 },
	{ "flags beat env", { "TELEGRAM_BOT_TOKEN=1:envtoken",
	    "TGSIDECAR_URL=http://env:1", "ALLOWED_TELEGRAM_USER_ID=5,6" },
	    { "--token", TOKEN, "-u", "https://flag:2//", "--allowed=7",
	    "-p", "5" }, NULL, TOKEN, "https://flag:2", 1, 5 },
	{ "empty env is unset", { "TELEGRAM_BOT_TOKEN=" TOKEN,
	    "TGSIDECAR_URL=", "ALLOWED_TELEGRAM_USER_ID=" }, { NULL }, NULL,
	    TOKEN, BOT_DEFAULT_URL, 0, 30 },
	{ "poll timeout 0", { "TELEGRAM_BOT_TOKEN=" TOKEN },
	    { "--poll-timeout", "0" }, NULL, TOKEN, BOT_DEFAULT_URL, 0, 0 },
	{ "help needs no token", { NULL }, { "-h" }, NULL, NULL, NULL, 0, 30 },
	{ "version needs no token", { NULL }, { "--version" }, NULL, NULL,
	    NULL, 0, 30 },

	/* Refused: .lc_err is a substring of the error. */
#define TOK	"TELEGRAM_BOT_TOKEN=" TOKEN
	{ .lc_name = "missing token", .lc_env = { "TGSIDECAR_URL=http://x:1" },
	    .lc_err = "TELEGRAM_BOT_TOKEN is not set" },
	{ .lc_name = "empty token", .lc_env = { "TELEGRAM_BOT_TOKEN=" },
	    .lc_err = "TELEGRAM_BOT_TOKEN is not set" },
	{ .lc_name = "malformed env token",
	    .lc_env = { "TELEGRAM_BOT_TOKEN=123456" SECRET },
	    .lc_err = "TELEGRAM_BOT_TOKEN is malformed" },
	{ .lc_name = "malformed flag token", .lc_env = { TOK },
	    .lc_argv = { "--token", "123456:" SECRET "!" },
	    .lc_err = "--token is malformed" },
	{ .lc_name = "token with a space",
	    .lc_env = { "TELEGRAM_BOT_TOKEN=123456: " SECRET },
	    .lc_err = "malformed" },
	{ .lc_name = "bad url",
	    .lc_env = { TOK, "TGSIDECAR_URL=127.0.0.1:8081" },
	    .lc_err = "http:// or https://" },
	{ .lc_name = "garbage allowed list",
	    .lc_env = { TOK, "ALLOWED_TELEGRAM_USER_ID=12,me" },
	    .lc_err = "\"me\"" },
	{ .lc_name = "poll timeout too big", .lc_env = { TOK },
	    .lc_argv = { "-p", "51" }, .lc_err = "--poll-timeout" },
	{ .lc_name = "poll timeout garbage", .lc_env = { TOK },
	    .lc_argv = { "-p", "5s" }, .lc_err = "--poll-timeout" },
	{ .lc_name = "unknown option", .lc_env = { TOK },
	    .lc_argv = { "--tokn=" SECRET }, .lc_err = "unknown option" },
	{ .lc_name = "missing argument", .lc_argv = { "--token" },
	    .lc_err = "missing argument" },
	{ .lc_name = "stray argument", .lc_env = { TOK },
	    .lc_argv = { SECRET }, .lc_err = "unexpected argument" },
#undef TOK
};

static void
test_tokens(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
		is_int(botcfg_token_valid(tokens[i].tk_token),
		    tokens[i].tk_valid, "token #%zu is %svalid", i,
		    tokens[i].tk_valid ? "" : "in");
}

static void
test_lists(void)
{
	struct botcfg	 cfg;
	char		 err[BOT_ERRLEN];
	size_t		 i, j;
	int		 rv, same;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		botcfg_init(&cfg);
		err[0] = '\0';
		rv = botcfg_parse_allowed(&cfg, lists[i].al_list, err,
		    sizeof(err));
		if (lists[i].al_err != NULL) {
			ok(rv == -1, "list \"%s\" is refused", lists[i].al_list);
			like(err, lists[i].al_err, "list \"%s\": error names "
			    "the entry", lists[i].al_list);
		} else {
			same = rv == 0 && cfg.bc_nallowed == lists[i].al_n;
			for (j = 0; same && j < lists[i].al_n; j++)
				same = cfg.bc_allowed[j] == lists[i].al_ids[j];
			ok(same, "list \"%s\" parses to %zu id(s)",
			    lists[i].al_list, lists[i].al_n);
			if (rv == -1)
				diag("error: %s", err);
		}
		botcfg_free(&cfg);
	}

	/* A new list replaces the old one; an empty list allows nobody. */
	botcfg_init(&cfg);
	botcfg_parse_allowed(&cfg, "10, 20", err, sizeof(err));
	ok(botcfg_allowed(&cfg, 10) && botcfg_allowed(&cfg, 20) &&
	    !botcfg_allowed(&cfg, 30), "allowed: 10 and 20, not 30");
	botcfg_parse_allowed(&cfg, "", err, sizeof(err));
	ok(!botcfg_allowed(&cfg, 10), "an empty list allows nobody");
	botcfg_free(&cfg);
}

static void
test_load(const struct load_case *lc)
{
	struct botcfg	 cfg;
	char		*argv[NSLOTS + 2], *env[NSLOTS + 1];
	char		 err[BOT_ERRLEN];
	int		 argc = 0, n = 0, rv;

	argv[argc++] = "tgsidecar-bot";
	for (; argc <= NSLOTS && lc->lc_argv[argc - 1] != NULL; argc++)
		argv[argc] = (char *)lc->lc_argv[argc - 1];
	argv[argc] = NULL;
	for (; n < NSLOTS && lc->lc_env[n] != NULL; n++)
		env[n] = (char *)lc->lc_env[n];
	env[n] = NULL;

	err[0] = '\0';
	rv = botcfg_load(&cfg, argc, argv, env, err, sizeof(err));
	if (lc->lc_err != NULL) {
		ok(rv == -1, "%s: refused", lc->lc_name);
		like(err, lc->lc_err, "%s: error says why", lc->lc_name);
		unlike(err, SECRET, "%s: error hides the token", lc->lc_name);
		unlike(err, "S3cret", "%s: not even a piece of it",
		    lc->lc_name);
	} else {
		if (!ok(rv == 0, "%s: loads", lc->lc_name))
			diag("error: %s", err);
		is_str(cfg.bc_token, lc->lc_token, "%s: token", lc->lc_name);
		is_str(cfg.bc_url, lc->lc_url, "%s: url", lc->lc_name);
		is_int(cfg.bc_nallowed, lc->lc_nallowed, "%s: allowed ids",
		    lc->lc_name);
		is_int(cfg.bc_poll_timeout, lc->lc_poll, "%s: poll timeout",
		    lc->lc_name);
	}
	botcfg_free(&cfg);
}

int
main(void)
{
	size_t	 i;

	test_tokens();
	test_lists();
	for (i = 0; i < sizeof(loads) / sizeof(loads[0]); i++)
		test_load(&loads[i]);
	return (done_testing());
}
