/* SPDX-License-Identifier: ISC */
/*
 * Errors we answer ourselves look like the Bot API's own, so bot
 * libraries report them the usual way:
 *	{"ok":false,"error_code":404,"description":"Not Found"}
 */
#include "config.h"

#include <limits.h>
#include <string.h>
#include <stdio.h>

#include "apierror.h"
#include "util.h"

/* pfx, then s escaped, then sfx; the length, or -1 and "" if it is cut. */
static int
apierror_json(char *buf, size_t size, const char *pfx, const char *s,
    const char *sfx)
{
	size_t	 n, len;
	int	 rv;

	if (size == 0)
		return (-1);
	if ((rv = snprintf(buf, size, "%s", pfx)) < 0 ||
	    (n = (size_t)rv) >= size ||
	    util_json_escape(buf + n, size - n, s, &len) == -1 ||
	    (n += len) + strlen(sfx) >= size || n + strlen(sfx) > INT_MAX)
		goto full;
	memcpy(buf + n, sfx, strlen(sfx) + 1);
	return ((int)(n + strlen(sfx)));
 full:
	buf[0] = '\0';
	return (-1);
}

/*
 * Return the body's length, or -1 if it does not fit in size bytes;
 * then buf holds "" (when size > 0), never a truncated body.
 */
int
apierror_body(char *buf, size_t size, int code, const char *desc)
{
	char	 pfx[64];

	if (desc == NULL)
		desc = apierror_reason(code);
	snprintf(pfx, sizeof(pfx), "{\"ok\":false,\"error_code\":%d,"
	    "\"description\":\"", code);
	return (apierror_json(buf, size, pfx, desc, "\"}"));
}

/*
 * The same with parameters.retry_after, as the Bot API's own 429 has it,
 * so a bot library waits as told.
 */
int
apierror_retry(char *buf, size_t size, int code, const char *desc, int secs)
{
	char	 pfx[64], sfx[64];

	if (desc == NULL)
		desc = apierror_reason(code);
	snprintf(pfx, sizeof(pfx), "{\"ok\":false,\"error_code\":%d,"
	    "\"description\":\"", code);
	snprintf(sfx, sizeof(sfx), "\",\"parameters\":{\"retry_after\":%d}}",
	    secs);
	return (apierror_json(buf, size, pfx, desc, sfx));
}

/*
 * The Bot API's own 429, word for word, so that a bot library's flood
 * handling (RetryAfter, GrammyError's parameters) works on ours too.
 */
int
apierror_429(char *buf, size_t size, long secs)
{
	char	 desc[64];

	snprintf(desc, sizeof(desc), "Too Many Requests: retry after %ld",
	    secs);
	return (apierror_retry(buf, size, 429, desc, (int)secs));
}

/* A JSON string literal, quotes included, for other JSON we write. */
int
apierror_string(char *buf, size_t size, const char *s)
{
	return (apierror_json(buf, size, "\"", s, "\""));
}

const char *
apierror_reason(int code)
{
	static const struct {
		int		 r_code;
		const char	*r_text;
	} reasons[] = {
		{ 100, "Continue" },
		{ 101, "Switching Protocols" },
		{ 200, "OK" },
		{ 201, "Created" },
		{ 202, "Accepted" },
		{ 204, "No Content" },
		{ 206, "Partial Content" },
		{ 301, "Moved Permanently" },
		{ 302, "Found" },
		{ 303, "See Other" },
		{ 304, "Not Modified" },
		{ 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" },
		{ 400, "Bad Request" },
		{ 401, "Unauthorized" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 406, "Not Acceptable" },
		{ 407, "Proxy Authentication Required" },
		{ 408, "Request Timeout" },
		{ 409, "Conflict" },
		{ 410, "Gone" },
		{ 411, "Length Required" },
		{ 412, "Precondition Failed" },
		{ 413, "Payload Too Large" },
		{ 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" },
		{ 416, "Range Not Satisfiable" },
		{ 417, "Expectation Failed" },
		{ 421, "Misdirected Request" },
		{ 422, "Unprocessable Entity" },
		{ 426, "Upgrade Required" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 502, "Bad Gateway" },
		{ 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].r_code == code)
			return (reasons[i].r_text);
	return ("Unknown");
}
