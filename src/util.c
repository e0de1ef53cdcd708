/* SPDX-License-Identifier: ISC */
/*
 * Small pure helpers more than one file needs: a millisecond setting as
 * a struct timeval, the milliseconds between two timespecs, and JSON
 * string contents.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

void
util_ms_timeval(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* Whole milliseconds from then to now (CLOCK_MONOTONIC readings). */
long
util_ms_between(const struct timespec *then, const struct timespec *now)
{
	return ((now->tv_sec - then->tv_sec) * 1000L +
	    (now->tv_nsec - then->tv_nsec) / 1000000L);
}

/* Milliseconds, with fractions, from then to now: for the access log. */
double
util_ms_since(const struct timespec *then)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((now.tv_sec - then->tv_sec) * 1e3 +
	    (now.tv_nsec - then->tv_nsec) / 1e6);
}

struct util_buf {
	char	*ub_buf;
	size_t	 ub_size;
	size_t	 ub_len;
	int	 ub_full;
};

static void
util_put(struct util_buf *ub, const char *s, size_t n)
{
	/* Keep one byte for the NUL. */
	if (ub->ub_full || ub->ub_size - ub->ub_len <= n) {
		ub->ub_full = 1;
		return;
	}
	memcpy(ub->ub_buf + ub->ub_len, s, n);
	ub->ub_len += n;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t
util_utf8(const unsigned char *s)
{
	uint32_t	 cp, min;
	size_t		 n, i;

	if (s[0] < 0x80)
		return (1);
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2; cp = s[0] & 0x1f; min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3; cp = s[0] & 0x0f; min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4; cp = s[0] & 0x07; min = 0x10000;
	} else
		return (0);
	/* The NUL terminator stops this loop too: it is no continuation. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (0);
	return (n);
}

static void
util_escape(struct util_buf *ub, const char *desc)
{
	const unsigned char	*s = (const unsigned char *)desc;
	char			 esc[8];
	size_t			 n;

	while (*s != '\0' && !ub->ub_full) {
		switch (*s) {
		case '"':
			util_put(ub, "\\\"", 2);
			break;
		case '\\':
			util_put(ub, "\\\\", 2);
			break;
		case '\n':
			util_put(ub, "\\n", 2);
			break;
		case '\r':
			util_put(ub, "\\r", 2);
			break;
		case '\t':
			util_put(ub, "\\t", 2);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *s);
				util_put(ub, esc, 6);
			} else if ((n = util_utf8(s)) == 0) {
				/* Keep the output valid JSON: U+FFFD. */
				util_put(ub, "\xef\xbf\xbd", 3);
			} else {
				util_put(ub, (const char *)s, n);
				s += n;
				continue;
			}
			break;
		}
		s++;
	}
}

/*
 * JSON string contents of s (no quotes): named escapes, \u00XX for other
 * controls, invalid UTF-8 as U+FFFD.  Only whole escapes and characters
 * are written; out is always NUL-terminated and *len is its length.
 * Returns 0, or -1 if s was cut to fit.
 */
int
util_json_escape(char *out, size_t size, const char *s, size_t *len)
{
	struct util_buf	 ub = { out, size, 0, 0 };

	*len = 0;
	if (size == 0)
		return (-1);
	util_escape(&ub, s);
	out[ub.ub_len] = '\0';
	*len = ub.ub_len;
	return (ub.ub_full ? -1 : 0);
}

/* The address of sa as text in host; its port, or -1 if neither. */
int
util_sockaddr_host(const struct sockaddr *sa, char *host, size_t len)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	if (sa->sa_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, host, len) != NULL)
		return (ntohs(sin->sin_port));
	if (sa->sa_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &sin6->sin6_addr, host, len) != NULL)
		return (ntohs(sin6->sin6_port));
	return (-1);
}

/* "host:port" or "[v6]:port" of a peer, for the logs; "" if neither. */
void
util_peer_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];
	int	 port;

	*buf = '\0';
	if ((port = util_sockaddr_host(sa, host, sizeof(host))) == -1)
		return;
	snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
	    host, port);
}

static int
util_hex(int c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	c = tolower(c);
	return (c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1);
}

/*
 * Form decoding (application/x-www-form-urlencoded, and a query): '+' is
 * a space, %XX a byte; a '%' not followed by two hex digits stays as it
 * is, as the Bot API reads it, or with strict is an error.  out gets a
 * NUL; -1 if the decoded bytes do not fit in size - 1.
 */
int
util_urldecode(const char *s, size_t n, char *out, size_t size,
    size_t *outlen, int strict)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < n; i++) {
		if (o + 1 >= size)
			return (-1);
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < n &&
		    (hi = util_hex((unsigned char)s[i + 1])) != -1 &&
		    (lo = util_hex((unsigned char)s[i + 2])) != -1) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (s[i] == '%' && strict)
			return (-1);
		else
			out[o++] = s[i];
	}
	out[o] = '\0';
	*outlen = o;
	return (0);
}

/*
 * The next estimate of a duration, from the last (0: none yet) and one
 * of ms: a moving average, so a change is followed within a few.  Pure.
 */
long
util_learn_ms(long est, long ms)
{
	if (ms < 1)
		ms = 1;
	if (est <= 0)
		return (ms);
	return (est + (ms - est) / 4);
}
