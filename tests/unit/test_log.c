/* SPDX-License-Identifier: ISC */
/*
 * log.c: redaction of bot tokens and registered secrets, and the line
 * format written to stderr.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

struct redact_case {
	const char	*rc_in;
	const char	*rc_want;
};

#define TOKEN	"AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

static const struct redact_case redact_cases[] = {
	{ "/bot123456:" TOKEN "/getMe", "/bot123456:***/getMe" },
	{ "GET /file/bot123456:" TOKEN "/photos/a.jpg HTTP/1.1",
	    "GET /file/bot123456:***/photos/a.jpg HTTP/1.1" },
	{ "https://api.telegram.org/bot1:abc/getMe",
	    "https://api.telegram.org/bot1:***/getMe" },
	{ "/bot1:ab/x", "/bot1:**/x" },		/* never grows */
	{ "/bot1:a/x", "/bot1:*/x" },
	{ "/BOT42:secret_token-1/x", "/BOT42:***/x" },
	{ "/bot42%3A" TOKEN "/x", "/bot42%3A***/x" },
	{ "token 123456789:" TOKEN " leaked", "token 123456789:*** leaked" },
	{ "123:" TOKEN, "123:***" },
	{ "a 12:" TOKEN, "a 12:" TOKEN },	/* 2 digits: not a token */
	{ "123456789:short_secret", "123456789:short_secret" },
	{ "123456789:abcdefghijklmnopqrst", "123456789:***" },	/* 20 */
	{ "123456789:abcdefghijklmnopqrs", "123456789:abcdefghijklmnopqrs" },
	{ "123456789012345678901:" TOKEN,
	    "123456789012345678901:" TOKEN },	/* 21 digits */
	{ "two /bot1:a/x /bot2:bb/y", "two /bot1:*/x /bot2:**/y" },
	{ "/bot123456789012345678901:secret/x",	/* too long for route.c */
	    "/bot123456789012345678901:***/x" },
	{ "bot1:" TOKEN " 22:" TOKEN " 333:" TOKEN,
	    "bot1:*** 22:" TOKEN " 333:***" },
	{ "2026-11-24T04:30:00.123Z info listening on 127.0.0.1:8081",
	    "2026-11-24T04:30:00.123Z info listening on 127.0.0.1:8081" },
	{ "[2001:db8::1]:443", "[2001:db8::1]:443" },
	{ "robot1:xyz", "robot1:***" },
	{ "proxy http://user:hunter2pw@h:1", "proxy http://user:***@h:1" },
	{ "pw hunter2pw and hunter2pw", "pw *** and ***" },
	{ "longer hunter2pw_plus", "longer ***" },	/* longest first */
	{ "Z!", "**" },					/* short secret */
	{ "", "" },
};

static void
check_redact(const struct redact_case *c)
{
	char	 buf[512];
	size_t	 n, len = strlen(c->rc_in);

	memcpy(buf, c->rc_in, len + 1);
	n = log_redact(buf, len);
	ok(n <= len, "redact \"%.40s\": never grows", c->rc_in);
	is_int((long long)n, (long long)strlen(c->rc_want),
	    "redact \"%.40s\": length", c->rc_in);
	buf[n] = '\0';
	is_str(buf, c->rc_want, "redact \"%.40s\"", c->rc_in);
}

/* Run fn with stderr sent to a temp file; return what it wrote. */
static char *
capture(void (*fn)(void))
{
	char	 path[] = "/tmp/test_log.XXXXXX", *out;
	FILE	*fp;
	long	 n;
	int	 fd, saved;

	if ((fd = mkstemp(path)) == -1)
		abort();
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	if ((fp = fdopen(fd, "r")) == NULL)
		abort();
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	if ((out = calloc(1, n + 1)) == NULL ||
	    fread(out, 1, n, fp) != (size_t)n)
		abort();
	fclose(fp);
	unlink(path);
	return (out);
}

static int	 errno_after;

static void
emit_levels(void)
{
	log_init(LOG_LEVEL_INFO);
	log_debug("hidden %d", 1);
	log_info("shown /bot7:%s/getMe", TOKEN);
	errno = ENOENT;
	log_warn("open %s", "x");
	errno_after = errno;
	log_warnx("no errno pw=hunter2pw");
}

static void
emit_debug(void)
{
	log_init(LOG_LEVEL_DEBUG);
	log_debug("debug on");
	log_init(LOG_LEVEL_WARN);
	log_info("info off");
	log_warnx("warn on");
}

static void
emit_long(void)
{
	char	 big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warnx("%s", big);
}

static int
line_ok(const char *line, const char *level, const char *msg)
{
	/* "2026-11-24T04:30:00.123Z " */
	if (strlen(line) < 25 || line[4] != '-' || line[10] != 'T' ||
	    line[19] != '.' || line[23] != 'Z' || line[24] != ' ')
		return (0);
	line += 25;
	if (strncmp(line, level, strlen(level)) != 0 ||
	    line[strlen(level)] != ' ')
		return (0);
	return (strcmp(line + strlen(level) + 1, msg) == 0);
}

int
main(void)
{
	char	*out, *l1, *l2, *l3, *save = NULL;
	size_t	 i;

	log_secret(NULL);
	log_secret("");
	log_secret("hunter2pw");
	log_secret("hunter2pw");		/* duplicates are fine */
	log_secret("hunter2pw_plus");
	log_secret("Z!");
	for (i = 0; i < sizeof(redact_cases) / sizeof(redact_cases[0]); i++)
		check_redact(&redact_cases[i]);

	out = capture(emit_levels);
	l1 = strtok_r(out, "\n", &save);
	l2 = strtok_r(NULL, "\n", &save);
	l3 = strtok_r(NULL, "\n", &save);
	ok(l1 && line_ok(l1, "info", "shown /bot7:***/getMe"),
	    "info line redacted: %s", l1 ? l1 : "");
	ok(l2 && line_ok(l2, "warn", "open x: No such file or directory"),
	    "log_warn appends strerror: %s", l2 ? l2 : "");
	ok(l3 && line_ok(l3, "warn", "no errno pw=***"),
	    "log_warnx redacts secrets: %s", l3 ? l3 : "");
	ok(strtok_r(NULL, "\n", &save) == NULL, "debug hidden at info");
	is_int(errno_after, ENOENT, "log_warn keeps errno");
	free(out);

	out = capture(emit_debug);
	ok(strstr(out, " debug debug on\n") != NULL, "debug shown at debug");
	ok(strstr(out, "info off") == NULL, "info hidden at warn");
	ok(strstr(out, " warn warn on\n") != NULL, "warn shown at warn");
	is_int(log_getlevel(), LOG_LEVEL_WARN, "log_getlevel");
	free(out);

	out = capture(emit_long);
	ok(strlen(out) > 1000 && strlen(out) <= 2048 &&
	    out[strlen(out) - 1] == '\n' && strchr(out, '\n') ==
	    out + strlen(out) - 1, "long line truncated to one line (%zu)",
	    strlen(out));
	free(out);

	log_secrets_clear();
	{
		char	 buf[] = "pw hunter2pw";

		log_redact(buf, strlen(buf));
		is_str(buf, "pw hunter2pw", "secrets cleared");
	}
	return (done_testing());
}
