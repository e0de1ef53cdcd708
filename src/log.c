/* SPDX-License-Identifier: ISC */
/*
 * Logging to stderr in the OpenBSD log.c shape. Every line is formatted
 * into one buffer and passed through log_redact() before it is written,
 * so bot tokens and proxy passwords are scrubbed in exactly one place.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "log.h"
#include "route.h"
#include "util.h"

#define LOG_LINE_MAX	2048
#define LOG_REDACTED	"***"
#define LOG_TOKEN_MIN	20	/* secret part of a bare "digits:secret" */

static int	  log_level = LOG_LEVEL_INFO;
static int	  log_json;
static int	  log_syslog;
static char	**log_secrets;	/* longest first, so no partial leaks */
static size_t	  log_nsecrets;

static void	log_vwrite(const char *, const char *, int, va_list)
		    __attribute__((format(printf, 2, 0)));

void
log_init(int level)
{
	if (level < LOG_LEVEL_WARN)
		level = LOG_LEVEL_WARN;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_level = level;
}

int
log_getlevel(void)
{
	return (log_level);
}

void
log_secret(const char *secret)
{
	char	**v, *s;
	size_t	  i, n;

	if (secret == NULL || *secret == '\0')
		return;
	for (i = 0; i < log_nsecrets; i++)
		if (strcmp(log_secrets[i], secret) == 0)
			return;
	/* Logging must not fail: if we are out of memory, so be it. */
	if ((s = strdup(secret)) == NULL)
		return;
	v = reallocarray(log_secrets, log_nsecrets + 1, sizeof(*v));
	if (v == NULL) {
		free(s);
		return;
	}
	log_secrets = v;
	n = strlen(s);
	for (i = log_nsecrets; i > 0 && strlen(v[i - 1]) < n; i--)
		v[i] = v[i - 1];
	v[i] = s;
	log_nsecrets++;
}

void
log_secrets_clear(void)
{
	size_t	 i;

	for (i = 0; i < log_nsecrets; i++) {
		explicit_bzero(log_secrets[i], strlen(log_secrets[i]));
		free(log_secrets[i]);
	}
	free(log_secrets);
	log_secrets = NULL;
	log_nsecrets = 0;
}

/*
 * If buf[r..len) starts a token's digits, return the offset of its secret
 * part and set *slen; else return 0. "bot" before the digits means any
 * secret length counts (it is a Bot API URL); bare "digits:secret" needs a
 * long secret so timestamps and host:port pairs are left alone.
 */
static size_t
log_token_at(const char *buf, size_t len, size_t r, int botprefix,
    size_t *slen)
{
	size_t	 d, s, e;

	for (d = r; d < len && isdigit((unsigned char)buf[d]); d++)
		;
	/* After "bot", even a malformed token is still a secret. */
	if (d - r < (botprefix ? 1 : 3) ||
	    (!botprefix && d - r > ROUTE_BOT_MAX) || d >= len)
		return (0);
	if (buf[d] == ':')
		s = d + 1;
	else if (len - d >= 3 && buf[d] == '%' && buf[d + 1] == '3' &&
	    (buf[d + 2] == 'A' || buf[d + 2] == 'a'))
		s = d + 3;
	else
		return (0);
	for (e = s; e < len && route_tokenchar((unsigned char)buf[e]); e++)
		;
	if (e == s || (!botprefix && e - s < LOG_TOKEN_MIN))
		return (0);
	*slen = e - s;
	return (s);
}

/* Replace n bytes with the mask; never grow, since buf has no spare room. */
static size_t
log_mask(char *buf, size_t w, size_t n)
{
	size_t	 m = n < strlen(LOG_REDACTED) ? n : strlen(LOG_REDACTED);

	memcpy(buf + w, LOG_REDACTED, m);
	return (w + m);
}

static size_t
log_redact_tokens(char *buf, size_t len)
{
	size_t	 r, w, s, slen;
	int	 prev = 0, bot;

	for (r = w = 0; r < len; ) {
		/* buf[r..] is still original text because w <= r. */
		if (isdigit((unsigned char)buf[r]) && !isdigit(prev)) {
			bot = w >= 3 && strncasecmp(buf + w - 3, "bot", 3) == 0;
			if ((s = log_token_at(buf, len, r, bot, &slen)) != 0) {
				memmove(buf + w, buf + r, s - r);
				w = log_mask(buf, w + (s - r), slen);
				r = s + slen;
				prev = '*';
				continue;
			}
		}
		prev = (unsigned char)buf[r];
		buf[w++] = buf[r++];
	}
	return (w);
}

static size_t
log_redact_secret(char *buf, size_t len, const char *secret)
{
	size_t	 r, w, n = strlen(secret);

	for (r = w = 0; r < len; ) {
		if (len - r >= n && memcmp(buf + r, secret, n) == 0) {
			w = log_mask(buf, w, n);
			r += n;
			continue;
		}
		buf[w++] = buf[r++];
	}
	return (w);
}

/*
 * Scrub bot tokens and registered secrets from buf[0..len) in place.
 * The text never grows (a secret shorter than the mask is replaced by as
 * many '*'); if it shrinks, it is NUL-terminated at the new length.
 */
size_t
log_redact(char *buf, size_t len)
{
	size_t	 i, n;

	n = log_redact_tokens(buf, len);
	for (i = 0; i < log_nsecrets; i++)
		n = log_redact_secret(buf, n, log_secrets[i]);
	if (n < len)
		buf[n] = '\0';
	return (n);
}

/*
 * One line out: "TS level msg" as text, or a JSON object.  With fields,
 * msg is already the inside of a JSON object (structured access lines).
 */
static void
log_emit(const char *level, const char *msg, int fields)
{
	char		 line[LOG_LINE_MAX * 2 + 64], esc[LOG_LINE_MAX * 2];
	char		 ts[40];
	struct timespec	 now;
	struct tm	 tm;
	size_t		 len, n;
	int		 rv;

	if (log_syslog) {
		n = strlen(msg) < sizeof(esc) ? strlen(msg) : sizeof(esc) - 1;
		memcpy(esc, msg, n);
		esc[log_redact(esc, n)] = '\0';
		syslog(level[0] == 'd' ? LOG_DEBUG : level[0] == 'i' ?
		    LOG_INFO : level[0] == 'w' ? LOG_WARNING : LOG_ERR, "%s",
		    esc);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	len = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + len, sizeof(ts) - len, ".%03ldZ", now.tv_nsec / 1000000);
	if (!log_json)
		rv = snprintf(line, sizeof(line), "%s %s %s", ts, level, msg);
	else if (fields)
		rv = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":"
		    "\"%s\",%s}", ts, level, msg);
	else {
		util_json_escape(esc, sizeof(esc), msg, &n);
		rv = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":"
		    "\"%s\",\"msg\":\"%s\"}", ts, level, esc);
	}
	len = rv < 0 ? 0 : (size_t)rv;
	/* One line, bounded; JSON gets room for its escapes. */
	if (!log_json && len > LOG_LINE_MAX - 1)
		len = LOG_LINE_MAX - 1;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	n = log_redact(line, len);
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

static void
log_vwrite(const char *level, const char *fmt, int errnum, va_list ap)
{
	char	 msg[LOG_LINE_MAX];
	size_t	 len;
	int	 rv;

	rv = vsnprintf(msg, sizeof(msg), fmt, ap);
	len = rv < 0 ? 0 : (size_t)rv >= sizeof(msg) ? sizeof(msg) - 1 :
	    (size_t)rv;
	if (errnum != 0)
		snprintf(msg + len, sizeof(msg) - len, ": %s",
		    strerror(errnum));
	log_emit(level, msg, 0);
}

/* Would a line at this level be written at all? */
int
log_wants(int level)
{
	return (log_level >= level);
}

/* Access lines are built as JSON fields rather than text. */
int
log_is_json(void)
{
	return (log_json);
}

/* An access line: text for people, or (log_is_json) JSON fields. */
void
log_access(int level, const char *line)
{
	if (!log_wants(level))
		return;
	log_emit(level == LOG_LEVEL_DEBUG ? "debug" : "info", line, log_json);
}

void
log_format(int json, int use_syslog)
{
	log_json = json;
	if (use_syslog && !log_syslog)
		openlog("tgsidecar", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = use_syslog;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite("warn", fmt, saved, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite("warn", fmt, 0, ap);
	va_end(ap);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	if (log_level < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	log_vwrite("info", fmt, 0, ap);
	va_end(ap);
	errno = saved;
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	if (log_level < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vwrite("debug", fmt, 0, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, saved, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vwrite("fatal", fmt, 0, ap);
	va_end(ap);
	exit(1);
}
