/* SPDX-License-Identifier: ISC */
/*
 * Errors we answer ourselves look like the Bot API's own, so bot
 * libraries report them the usual way:
 *	{"ok":false,"error_code":404,"description":"Not Found"}
 */
#include "config.h"

#include <limits.h>
#include <string.h>

#include "tgsidecar.h"

#define APIERROR_PUTS(ab, s)	apierror_put((ab), (s), sizeof(s) - 1)

struct apierror_buf {
	char	*ab_buf;
	size_t	 ab_size;
	size_t	 ab_len;
	int	 ab_full;
};

static void
apierror_put(struct apierror_buf *ab, const char *s, size_t n)
{
	/* Keep one byte for the NUL. */
	if (ab->ab_full || ab->ab_size - ab->ab_len <= n) {
		ab->ab_full = 1;
		return;
	}
	memcpy(ab->ab_buf + ab->ab_len, s, n);
	ab->ab_len += n;
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t
apierror_utf8(const unsigned char *s)
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
apierror_escape(struct apierror_buf *ab, const char *desc)
{
	const unsigned char	*s = (const unsigned char *)desc;
	char			 esc[8];
	size_t			 n;

	while (*s != '\0') {
		switch (*s) {
		case '"':
			apierror_put(ab, "\\\"", 2);
			break;
		case '\\':
			apierror_put(ab, "\\\\", 2);
			break;
		case '\n':
			apierror_put(ab, "\\n", 2);
			break;
		case '\r':
			apierror_put(ab, "\\r", 2);
			break;
		case '\t':
			apierror_put(ab, "\\t", 2);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				snprintf(esc, sizeof(esc), "\\u%04x", *s);
				apierror_put(ab, esc, 6);
			} else if ((n = apierror_utf8(s)) == 0) {
				/* Keep the output valid JSON: U+FFFD. */
				apierror_put(ab, "\xef\xbf\xbd", 3);
			} else {
				apierror_put(ab, (const char *)s, n);
				s += n;
				continue;
			}
			break;
		}
		s++;
	}
}

/*
 * Return the body's length, or -1 if it does not fit in size bytes;
 * then buf holds "" (when size > 0), never a truncated body.
 */
int
apierror_body(char *buf, size_t size, int code, const char *desc)
{
	struct apierror_buf	 ab = { buf, size, 0, 0 };
	char			 num[32];

	if (size == 0)
		return (-1);
	if (desc == NULL)
		desc = apierror_reason(code);
	APIERROR_PUTS(&ab, "{\"ok\":false,\"error_code\":");
	snprintf(num, sizeof(num), "%d", code);
	apierror_put(&ab, num, strlen(num));
	APIERROR_PUTS(&ab, ",\"description\":\"");
	apierror_escape(&ab, desc);
	APIERROR_PUTS(&ab, "\"}");
	if (ab.ab_full || ab.ab_len > INT_MAX) {
		buf[0] = '\0';
		return (-1);
	}
	buf[ab.ab_len] = '\0';
	return ((int)ab.ab_len);
}

/* A JSON string literal, quotes included, for other JSON we write. */
int
apierror_string(char *buf, size_t size, const char *s)
{
	struct apierror_buf	 ab = { buf, size, 0, 0 };

	if (size == 0)
		return (-1);
	APIERROR_PUTS(&ab, "\"");
	apierror_escape(&ab, s);
	APIERROR_PUTS(&ab, "\"");
	if (ab.ab_full || ab.ab_len > INT_MAX) {
		buf[0] = '\0';
		return (-1);
	}
	buf[ab.ab_len] = '\0';
	return ((int)ab.ab_len);
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
