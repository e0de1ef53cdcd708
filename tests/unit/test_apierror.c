/* SPDX-License-Identifier: ISC */
/*
 * apierror_body() and apierror_reason(): JSON escaping, UTF-8 repair,
 * and never writing past the buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "apierror.h"
#include "tap.h"

struct body_case {
	const char	*bc_name;
	int		 bc_code;
	const char	*bc_desc;
	const char	*bc_want;
};

#define PFX	"{\"ok\":false,\"error_code\":"

static const struct body_case body_cases[] = {
	{ "plain", 404, "Not Found", PFX "404,\"description\":\"Not Found\"}" },
	{ "empty", 400, "", PFX "400,\"description\":\"\"}" },
	{ "NULL desc: reason", 502, NULL,
	    PFX "502,\"description\":\"Bad Gateway\"}" },
	{ "quote", 400, "say \"hi\"",
	    PFX "400,\"description\":\"say \\\"hi\\\"\"}" },
	{ "backslash", 400, "a\\b", PFX "400,\"description\":\"a\\\\b\"}" },
	{ "slash kept", 400, "a/b", PFX "400,\"description\":\"a/b\"}" },
	{ "newline tab cr", 500, "a\nb\tc\rd",
	    PFX "500,\"description\":\"a\\nb\\tc\\rd\"}" },
	{ "control chars", 500, "\x01\x1f\x7f",
	    PFX "500,\"description\":\"\\u0001\\u001f\\u007f\"}" },
	{ "backspace formfeed", 500, "\b\f",
	    PFX "500,\"description\":\"\\u0008\\u000c\"}" },
	{ "utf-8 kept", 502, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    PFX "502,\"description\":\"caf\xc3\xa9 \xe2\x82\xac "
	    "\xf0\x9f\x98\x80\"}" },
	{ "lone continuation", 400, "a\x80z",
	    PFX "400,\"description\":\"a\xef\xbf\xbdz\"}" },
	{ "truncated sequence", 400, "a\xe2\x82",
	    PFX "400,\"description\":\"a\xef\xbf\xbd\xef\xbf\xbd\"}" },
	{ "truncated then ascii", 400, "\xc3z",
	    PFX "400,\"description\":\"\xef\xbf\xbdz\"}" },
	{ "overlong slash", 400, "\xc0\xaf",
	    PFX "400,\"description\":\"\xef\xbf\xbd\xef\xbf\xbd\"}" },
	{ "surrogate", 400, "\xed\xa0\x80",
	    PFX "400,\"description\":\"\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\"}" },
	{ "above U+10FFFF", 400, "\xf4\x90\x80\x80",
	    PFX "400,\"description\":\"\xef\xbf\xbd\xef\xbf\xbd"
	    "\xef\xbf\xbd\xef\xbf\xbd\"}" },
	{ "0xff", 400, "\xff", PFX "400,\"description\":\"\xef\xbf\xbd\"}" },
	{ "U+10FFFF ok", 400, "\xf4\x8f\xbf\xbf",
	    PFX "400,\"description\":\"\xf4\x8f\xbf\xbf\"}" },
	{ "negative code", -1, "x", PFX "-1,\"description\":\"x\"}" },
};

struct reason_case {
	int		 rc_code;
	const char	*rc_text;
};

static const struct reason_case reason_cases[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" },
	{ 413, "Payload Too Large" },
	{ 414, "URI Too Long" },
	{ 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 502, "Bad Gateway" },
	{ 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" },
	{ 0, "Unknown" },
	{ 299, "Unknown" },
	{ 999, "Unknown" },
	{ -1, "Unknown" },
};

static void
check_body(const struct body_case *c)
{
	char	 buf[512];
	int	 n;

	n = apierror_body(buf, sizeof(buf), c->bc_code, c->bc_desc);
	is_int(n, (long long)strlen(c->bc_want), "body %s: length", c->bc_name);
	is_str(buf, c->bc_want, "body %s", c->bc_name);
}

/* Every size below the exact fit fails cleanly; the exact fit works. */
static void
check_sizes(const char *name, const char *desc)
{
	char	 full[512], *buf;
	size_t	 size;
	int	 n, bad = 0;

	n = apierror_body(full, sizeof(full), 400, desc);
	for (size = 1; size <= (size_t)n + 1; size++) {
		/* Exact-size heap buffer: ASan catches any overflow. */
		if ((buf = malloc(size)) == NULL)
			abort();
		memset(buf, 'X', size);
		if (size <= (size_t)n) {
			if (apierror_body(buf, size, 400, desc) != -1 ||
			    buf[0] != '\0')
				bad++;
		} else if (apierror_body(buf, size, 400, desc) != n ||
		    strcmp(buf, full) != 0)
			bad++;
		free(buf);
	}
	is_int(bad, 0, "sizes 1..%d for %s", n + 1, name);
}

int
main(void)
{
	char	 big[300], buf[8], buf503[256];
	int	 n;
	size_t	 i;

	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++)
		check_body(&body_cases[i]);
	for (i = 0; i < sizeof(reason_cases) / sizeof(reason_cases[0]); i++)
		is_str(apierror_reason(reason_cases[i].rc_code),
		    reason_cases[i].rc_text, "reason %d",
		    reason_cases[i].rc_code);

	n = apierror_retry(buf503, sizeof(buf503), 503,
	    "Service Unavailable: \"x\"", 1);
	is_str(buf503, "{\"ok\":false,\"error_code\":503,\"description\":"
	    "\"Service Unavailable: \\\"x\\\"\",\"parameters\":"
	    "{\"retry_after\":1}}", "503 with parameters.retry_after");
	is_int(n, (long long)strlen(buf503), "its length");
	is_int(apierror_retry(buf, sizeof(buf), 503, "Service Unavailable",
	    1), -1, "a 503 that does not fit: -1");
	check_sizes("plain", "Not Found");
	check_sizes("escapes", "esc \"\\\n\x01");
	check_sizes("utf-8", "caf\xc3\xa9\xff");

	memset(buf, 'X', sizeof(buf));
	is_int(apierror_body(buf, 0, 404, "x"), -1, "size 0 fails");
	is_int(buf[0], 'X', "size 0 writes nothing");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(apierror_body(buf, sizeof(buf), 400, big), -1,
	    "long description does not fit");
	is_str(buf, "", "failed body is empty");
	return (done_testing());
}
