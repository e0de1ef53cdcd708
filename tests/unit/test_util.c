/* SPDX-License-Identifier: ISC */
/*
 * util_ms_timeval(), util_ms_between(), util_json_escape(),
 * util_urldecode() and util_peer_str(): tables of
 * inputs and what they must become, and an escape is never cut in half.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "util.h"
#include "tap.h"

struct tv_case {
	long		 tc_ms;
	long		 tc_sec;
	long		 tc_usec;
};

static const struct tv_case tv_cases[] = {
	{ 0, 0, 0 },
	{ 1, 0, 1000 },
	{ 999, 0, 999000 },
	{ 1000, 1, 0 },
	{ 1500, 1, 500000 },
	{ 86400000, 86400, 0 },
};

struct esc_case {
	const char	*ec_name;
	const char	*ec_in;
	size_t		 ec_size;	/* of the output buffer */
	int		 ec_rv;
	const char	*ec_want;
};

static const struct esc_case esc_cases[] = {
	{ "plain", "abc", 16, 0, "abc" },
	{ "empty", "", 1, 0, "" },
	{ "quote and backslash", "a\"b\\c", 16, 0, "a\\\"b\\\\c" },
	{ "named controls", "\n\r\t", 16, 0, "\\n\\r\\t" },
	{ "other controls and DEL", "\x01\x1f\x7f", 32, 0,
	    "\\u0001\\u001f\\u007f" },
	{ "utf-8 kept", "caf\xc3\xa9", 16, 0, "caf\xc3\xa9" },
	{ "bad utf-8 replaced", "a\xff", 16, 0, "a\xef\xbf\xbd" },
	{ "exact fit", "abc", 4, 0, "abc" },
	{ "cut before the last byte", "abcd", 4, -1, "abc" },
	{ "escape never split", "ab\"", 4, -1, "ab" },
	{ "\\u escape never split", "a\x01", 6, -1, "a" },
	{ "utf-8 never split", "a\xc3\xa9", 3, -1, "a" },
	{ "no room at all", "a", 0, -1, NULL },
};

struct between_case {
	struct timespec	 bc_then;
	struct timespec	 bc_now;
	long		 bc_ms;
};

static const struct between_case between_cases[] = {
	{ { 5, 0 }, { 5, 0 }, 0 },
	{ { 5, 0 }, { 5, 999999 }, 0 },
	{ { 5, 0 }, { 5, 1000000 }, 1 },
	{ { 5, 900000000 }, { 6, 100000000 }, 200 },	/* a borrow */
	{ { 1, 0 }, { 31, 0 }, 30000 },
	{ { 7, 500000000 }, { 7, 0 }, -500 },
};

/* Peers as the access log names them. */
static void
util_peer_test(void)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct sockaddr		 other;
	char			 buf[64];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(8081);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	util_peer_str((struct sockaddr *)&sin, buf, sizeof(buf));
	is_str(buf, "127.0.0.1:8081", "IPv4 peer");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(40000);
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	util_peer_str((struct sockaddr *)&sin6, buf, sizeof(buf));
	is_str(buf, "[::1]:40000", "IPv6 peer in brackets");
	memset(&other, 0, sizeof(other));
	other.sa_family = AF_UNIX;
	util_peer_str(&other, buf, sizeof(buf));
	is_str(buf, "", "another family: empty");
	util_peer_str((struct sockaddr *)&sin6, buf, 8);
	is_int(strlen(buf), 7, "truncated, still terminated");
}

struct dec_case {
	const char	*dc_in;
	size_t		 dc_size;
	int		 dc_strict;
	int		 dc_rv;
	const char	*dc_want;
};

static const struct dec_case dec_cases[] = {
	{ "chat_id", 16, 0, 0, "chat_id" },
	{ "a+b%20c", 16, 0, 0, "a b c" },
	{ "%2d100%2C", 16, 0, 0, "-100," },
	{ "%zz", 16, 0, 0, "%zz" },		/* as the Bot API reads it */
	{ "%zz", 16, 1, -1, NULL },
	{ "%4", 16, 0, 0, "%4" },		/* cut: kept as it is */
	{ "%4", 16, 1, -1, NULL },
	{ "timeout", 8, 0, 0, "timeout" },	/* just fits, with its NUL */
	{ "timeouts", 8, 0, -1, NULL },
	{ "%74imeout", 8, 0, 0, "timeout" },
	{ "", 1, 0, 0, "" },
};

static void
util_urldecode_test(void)
{
	char	 out[16];
	size_t	 i, n;
	int	 rv;

	for (i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
		const struct dec_case	*dc = &dec_cases[i];

		rv = util_urldecode(dc->dc_in, strlen(dc->dc_in), out,
		    dc->dc_size, &n, dc->dc_strict);
		is_int(rv, dc->dc_rv, "urldecode %s%s: result", dc->dc_in,
		    dc->dc_strict ? " (strict)" : "");
		if (dc->dc_want != NULL)
			ok(strcmp(out, dc->dc_want) == 0 &&
			    n == strlen(dc->dc_want), "urldecode %s: %s",
			    dc->dc_in, dc->dc_want);
	}
}

int
main(void)
{
	struct timeval	 tv;
	char		 out[64];
	size_t		 i, len;
	int		 rv;

	for (i = 0; i < sizeof(tv_cases) / sizeof(tv_cases[0]); i++) {
		util_ms_timeval(tv_cases[i].tc_ms, &tv);
		ok(tv.tv_sec == tv_cases[i].tc_sec &&
		    tv.tv_usec == tv_cases[i].tc_usec, "%ld ms is %ld s %ld us",
		    tv_cases[i].tc_ms, tv_cases[i].tc_sec,
		    tv_cases[i].tc_usec);
	}
	for (i = 0; i < sizeof(between_cases) / sizeof(between_cases[0]); i++)
		is_int(util_ms_between(&between_cases[i].bc_then,
		    &between_cases[i].bc_now), between_cases[i].bc_ms,
		    "between #%zu: %ld ms", i, between_cases[i].bc_ms);
	for (i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
		const struct esc_case	*ec = &esc_cases[i];

		memset(out, 'X', sizeof(out));
		rv = util_json_escape(out, ec->ec_size, ec->ec_in, &len);
		is_int(rv, ec->ec_rv, "%s: result", ec->ec_name);
		if (ec->ec_want == NULL) {
			ok(out[0] == 'X' && len == 0, "%s: nothing written",
			    ec->ec_name);
			continue;
		}
		is_str(out, ec->ec_want, "%s: output", ec->ec_name);
		is_int((int)len, (int)strlen(ec->ec_want), "%s: length",
		    ec->ec_name);
		ok(out[ec->ec_size] == 'X', "%s: nothing past the buffer",
		    ec->ec_name);
	}
	util_peer_test();
	util_urldecode_test();
	return (done_testing());
}
