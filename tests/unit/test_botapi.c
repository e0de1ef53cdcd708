/* SPDX-License-Identifier: ISC */
/*
 * botapi_classify(): a table of (HTTP status, reply body) and what the
 * poll loop must make of it, as the sidecar and Telegram answer them.
 */
#include <string.h>

#include "bot/bot.h"
#include "tap.h"

static const struct {
	const char	*cc_name;
	long		 cc_status;
	const char	*cc_body;	/* NULL: none, or not JSON */
	int		 cc_kind;
	const char	*cc_desc;	/* substring, or NULL */
	long		 cc_retry;
} cases[] = {
	{ "ok", 200, "{\"ok\":true,\"result\":[]}", BOTAPI_OK, NULL, 0 },
	{ "409 conflict", 409, "{\"ok\":false,\"error_code\":409,"
	    "\"description\":\"Conflict: terminated by other getUpdates "
	    "request\"}", BOTAPI_CONFLICT, "terminated by other", 0 },
	{ "429 with retry_after", 429, "{\"ok\":false,\"error_code\":429,"
	    "\"description\":\"Too Many Requests: retry after 7\","
	    "\"parameters\":{\"retry_after\":7}}", BOTAPI_RETRY,
	    "Too Many", 7 },
	{ "429 without retry_after", 429, "{\"ok\":false,\"error_code\":429,"
	    "\"description\":\"Too Many Requests\"}", BOTAPI_RETRY, NULL, 5 },
	{ "sidecar 502", 502, "{\"ok\":false,\"error_code\":502,"
	    "\"description\":\"Bad Gateway: proxy 127.0.0.1:9 connect "
	    "failed\"}", BOTAPI_SERVER, "proxy 127.0.0.1:9", 0 },
	{ "sidecar 504", 504, "{\"ok\":false,\"error_code\":504,"
	    "\"description\":\"Gateway Timeout\"}", BOTAPI_SERVER,
	    "Gateway Timeout", 0 },
	{ "500 not JSON", 500, "<html>oops</html>", BOTAPI_SERVER,
	    "HTTP 500 without a Bot API reply", 0 },
	{ "200 not JSON", 200, NULL, BOTAPI_SERVER, "HTTP 200", 0 },
	{ "200 ok false", 200, "{\"ok\":false,\"error_code\":400,"
	    "\"description\":\"odd\"}", BOTAPI_CLIENT, "odd", 0 },
	{ "401", 401, "{\"ok\":false,\"error_code\":401,"
	    "\"description\":\"Unauthorized\"}", BOTAPI_UNAUTHORIZED,
	    "Unauthorized", 0 },
	{ "400", 400, "{\"ok\":false,\"error_code\":400,"
	    "\"description\":\"Bad Request: chat not found\"}",
	    BOTAPI_CLIENT, "chat not found", 0 },
	{ "404 no description", 404, "{\"ok\":false}", BOTAPI_CLIENT,
	    "HTTP 404", 0 },
};

int
main(void)
{
	struct botapi_res	 res;
	json_error_t		 jerr;
	json_t			*j;
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		j = cases[i].cc_body != NULL ?
		    json_loads(cases[i].cc_body, 0, &jerr) : NULL;
		botapi_classify(&res, cases[i].cc_status, j);
		if (!is_int(res.br_kind, cases[i].cc_kind, "%s: %s",
		    cases[i].cc_name, botapi_kindname(cases[i].cc_kind)))
			diag("got %s", botapi_kindname(res.br_kind));
		is_int(res.br_status, cases[i].cc_status, "%s: status",
		    cases[i].cc_name);
		if (cases[i].cc_desc != NULL)
			like(res.br_desc, cases[i].cc_desc, "%s: description",
			    cases[i].cc_name);
		if (cases[i].cc_kind == BOTAPI_RETRY)
			is_int(res.br_retry_after, cases[i].cc_retry,
			    "%s: retry after", cases[i].cc_name);
		if (cases[i].cc_kind == BOTAPI_OK)
			ok(json_is_array(res.br_result), "%s: result",
			    cases[i].cc_name);
		botapi_res_clear(&res);
	}
	ok(strcmp(botapi_kindname(BOTAPI_CONFLICT), "unknown") != 0 &&
	    strcmp(botapi_kindname(99), "unknown") == 0, "kind names");
	return (done_testing());
}
