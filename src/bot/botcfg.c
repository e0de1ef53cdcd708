/* SPDX-License-Identifier: ISC */
/*
 * The bot's settings: environment variables, overridden by flags.
 * The token is checked for its shape but never copied into an error
 * message: errors go to the terminal and into CI logs.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "bot.h"
#include "envopt.h"

#define BOTCFG_ENV_TOKEN	"TELEGRAM_BOT_TOKEN"
#define BOTCFG_ENV_URL		"TGSIDECAR_URL"
#define BOTCFG_ENV_ALLOWED	"ALLOWED_TELEGRAM_USER_ID"
#define BOTCFG_ID_DIGITS	19	/* fits an int64_t */

/* What the flags said; applied over the environment. */
struct botcfg_flags {
	const char	*bf_token;
	const char	*bf_url;
	const char	*bf_allowed;
	const char	*bf_poll;
};

static const struct option botcfg_opts[] = {
	{ "token",		required_argument,	NULL,	't' },
	{ "url",		required_argument,	NULL,	'u' },
	{ "allowed",		required_argument,	NULL,	'a' },
	{ "poll-timeout",	required_argument,	NULL,	'p' },
	{ "verbose",		no_argument,		NULL,	'v' },
	{ "help",		no_argument,		NULL,	'h' },
	{ "version",		no_argument,		NULL,	'V' },
	{ NULL,			0,			NULL,	0 },
};

void
botcfg_init(struct botcfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bc_poll_timeout = BOT_DEFAULT_POLL;
}

void
botcfg_free(struct botcfg *cfg)
{
	if (cfg->bc_token != NULL) {
		explicit_bzero(cfg->bc_token, strlen(cfg->bc_token));
		free(cfg->bc_token);
	}
	free(cfg->bc_url);
	free(cfg->bc_allowed);
	botcfg_init(cfg);
}

void
botcfg_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: tgsidecar-bot [-hvV] [-t TOKEN] [-u URL] [-a IDS] "
	    "[-p SECONDS]\n"
	    "  -t, --token TOKEN       bot token (env " BOTCFG_ENV_TOKEN
	    "; prefer the\n"
	    "                          environment: flags show in ps)\n"
	    "  -u, --url URL           tgsidecar root (env " BOTCFG_ENV_URL
	    ",\n"
	    "                          default " BOT_DEFAULT_URL ")\n"
	    "  -a, --allowed IDS       user ids allowed to talk to the bot, "
	    "comma-separated\n"
	    "                          (env " BOTCFG_ENV_ALLOWED
	    "; empty: nobody)\n"
	    "  -p, --poll-timeout SEC  getUpdates long-poll timeout, 0-%d "
	    "(default %d)\n"
	    "  -v, --verbose           debug logging\n"
	    "  -V, --version           print the version\n"
	    "  -h, --help              this text\n"
	    "Commands: /start, /help, /ping, /id; other text is echoed.\n",
	    BOT_MAX_POLL, BOT_DEFAULT_POLL);
}

/* "<digits>:<[A-Za-z0-9_-]+>", as @BotFather hands them out. */
int
botcfg_token_valid(const char *tok)
{
	/* The sidecar's own rule: a token it would refuse is no use. */
	return (route_token_valid(tok));
}

/* One list entry, spaces already trimmed: a positive decimal id. */
static int
botcfg_parse_id(const char *s, size_t n, int64_t *id)
{
	char	 buf[BOTCFG_ID_DIGITS + 1], *end;
	size_t	 i;
	long long v;

	if (n == 0 || n > BOTCFG_ID_DIGITS)
		return (-1);
	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return (-1);
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return (-1);
	*id = v;
	return (0);
}

/*
 * "1, 2,,3" -> {1, 2, 3}. Empty entries are skipped; anything else that
 * is not an id is an error, since a typo would silently lock a user out.
 */
int
botcfg_parse_allowed(struct botcfg *cfg, const char *list, char *err,
    size_t errlen)
{
	const char	*p, *e, *end;
	int64_t		*ids = NULL, *v;
	size_t		 n = 0;

	for (p = list; *p != '\0'; p = *e == ',' ? e + 1 : e) {
		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		while (p < e && isspace((unsigned char)*p))
			p++;
		for (end = e; end > p && isspace((unsigned char)end[-1]); end--)
			;
		if (end == p)
			continue;
		if ((v = reallocarray(ids, n + 1, sizeof(*ids))) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		ids = v;
		if (botcfg_parse_id(p, (size_t)(end - p), &ids[n]) == -1) {
			snprintf(err, errlen, "allowed user ids: \"%.*s\" is "
			    "not a user id (want digits, comma-separated)",
			    (int)(end - p > 32 ? 32 : end - p), p);
			goto fail;
		}
		n++;
	}
	free(cfg->bc_allowed);
	cfg->bc_allowed = ids;
	cfg->bc_nallowed = n;
	return (0);
 fail:
	free(ids);
	return (-1);
}

int
botcfg_allowed(const struct botcfg *cfg, int64_t id)
{
	size_t	 i;

	for (i = 0; i < cfg->bc_nallowed; i++)
		if (cfg->bc_allowed[i] == id)
			return (1);
	return (0);
}

static int
botcfg_set_token(struct botcfg *cfg, const char *tok, const char *where,
    char *err, size_t errlen)
{
	if (tok == NULL) {
		snprintf(err, errlen, BOTCFG_ENV_TOKEN " is not set: export "
		    "it or pass --token (get a token from @BotFather)");
		return (-1);
	}
	if (!botcfg_token_valid(tok)) {
		snprintf(err, errlen, "%s is malformed: a bot token looks "
		    "like <digits>:<letters, digits, _ or -> (value not shown)",
		    where);
		return (-1);
	}
	if ((cfg->bc_token = strdup(tok)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	return (0);
}

static int
botcfg_set_url(struct botcfg *cfg, const char *url, char *err,
    size_t errlen)
{
	size_t	 n;

	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "tgsidecar URL must start with http:// "
		    "or https://: \"%.64s\"", url);
		return (-1);
	}
	if ((cfg->bc_url = strdup(url)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	/* We append "/bot<token>/method" ourselves. */
	for (n = strlen(cfg->bc_url); n > 0 && cfg->bc_url[n - 1] == '/'; n--)
		cfg->bc_url[n - 1] = '\0';
	return (0);
}

static int
botcfg_set_poll(struct botcfg *cfg, const char *s, char *err, size_t errlen)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 ||
	    v > BOT_MAX_POLL) {
		snprintf(err, errlen, "--poll-timeout: want 0 to %d seconds, "
		    "not \"%.32s\"", BOT_MAX_POLL, s);
		return (-1);
	}
	cfg->bc_poll_timeout = v;
	return (0);
}

static int
botcfg_getopt(struct botcfg *cfg, struct botcfg_flags *fl, int argc,
    char **argv, char *err, size_t errlen)
{
	int	 c;

	envopt_restart();
	while ((c = getopt_long(argc, argv, "+:t:u:a:p:vhV", botcfg_opts,
	    NULL)) != -1) {
		switch (c) {
		case 't': fl->bf_token = optarg; break;
		case 'u': fl->bf_url = optarg; break;
		case 'a': fl->bf_allowed = optarg; break;
		case 'p': fl->bf_poll = optarg; break;
		case 'v': cfg->bc_verbose = 1; break;
		case 'h': cfg->bc_help = 1; break;
		case 'V': cfg->bc_version = 1; break;
		default:
			/* Never quote the argument: it may be the token. */
			snprintf(err, errlen, "%s option #%d (see --help)",
			    c == ':' ? "missing argument for" : "unknown",
			    optind - 1);
			return (-1);
		}
	}
	return (envopt_operands(argc, err, errlen));
}

/*
 * Fill cfg from env ("NAME=value" strings) and argv. On error, err says
 * why and cfg must still be freed.
 */
int
botcfg_load(struct botcfg *cfg, int argc, char **argv, char **env,
    char *err, size_t errlen)
{
	struct botcfg_flags	 fl = { 0 };
	const char		*s;

	botcfg_init(cfg);
	if (botcfg_getopt(cfg, &fl, argc, argv, err, errlen) == -1)
		return (-1);
	if (cfg->bc_help || cfg->bc_version)
		return (0);

	s = fl.bf_token != NULL ? fl.bf_token :
	    envopt_get(env, BOTCFG_ENV_TOKEN);
	if (botcfg_set_token(cfg, s, fl.bf_token != NULL ? "--token" :
	    BOTCFG_ENV_TOKEN, err, errlen) == -1)
		return (-1);
	s = fl.bf_url != NULL ? fl.bf_url : envopt_get(env, BOTCFG_ENV_URL);
	if (botcfg_set_url(cfg, s != NULL ? s : BOT_DEFAULT_URL, err,
	    errlen) == -1)
		return (-1);
	s = fl.bf_allowed != NULL ? fl.bf_allowed :
	    envopt_get(env, BOTCFG_ENV_ALLOWED);
	if (s != NULL && botcfg_parse_allowed(cfg, s, err, errlen) == -1)
		return (-1);
	if (fl.bf_poll != NULL &&
	    botcfg_set_poll(cfg, fl.bf_poll, err, errlen) == -1)
		return (-1);
	return (0);
}
