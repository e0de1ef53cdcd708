/* SPDX-License-Identifier: ISC */
/*
 * The request's head on the wire, as the framer (upstream_h1.c) sends it
 * on every connection: the request line with the route's path (under any
 * upstream prefix) and the bot's query, Host, the bot's end-to-end
 * headers (header_upstream()), and our own framing: Content-Length or
 * chunked, and Connection: close, since no connection carries two.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <http_parser.h>

#include "conf.h"
#include "req.h"
#include "upstream_req.h"

/* Host as the upstream URL has it: the default port left out. */
static void
upstream_req_host(const char *upstream, struct evbuffer *out)
{
	const char	*h = strstr(upstream, "://"), *end;
	int		 https = strncmp(upstream, "https:", 6) == 0;
	size_t		 len;

	h = h != NULL ? h + 3 : upstream;
	end = strchr(h, '/');
	len = end != NULL ? (size_t)(end - h) : strlen(h);
	if (https && len > 4 && strncmp(h + len - 4, ":443", 4) == 0)
		len -= 4;
	else if (!https && len > 3 && strncmp(h + len - 3, ":80", 3) == 0)
		len -= 3;
	evbuffer_add_printf(out, "Host: %.*s\r\n", (int)len, h);
}

/* The request-target: req_url's path (under any prefix) and query. */
static const char *
upstream_req_target(const char *url)
{
	const char	*h = strstr(url, "://"), *path;

	h = h != NULL ? h + 3 : url;
	return ((path = strchr(h, '/')) != NULL ? path : "/");
}

/*
 * The request head: the route's path and query, the forwarded headers
 * (header_upstream(): "Name: v", "Name;" for an empty one, "Name:" for
 * one to leave out), and our own framing.
 */
int
upstream_req_head(struct req *req, struct evbuffer *out)
{
	struct curl_slist	*h;
	const char		*line, *colon;
	size_t			 len;
	int			 accept = 0;

	evbuffer_add_printf(out, "%s %s HTTP/1.1\r\n",
	    http_method_str(req->req_method), upstream_req_target(req->req_url));
	upstream_req_host(req->req_cfg->cfg_upstream, out);
	for (h = req->req_uphdrs; h != NULL; h = h->next) {
		line = h->data;
		len = strlen(line);
		if (len > 0 && line[len - 1] == ';' && strchr(line, ':') ==
		    NULL) {
			evbuffer_add_printf(out, "%.*s:\r\n", (int)len - 1,
			    line);
			continue;
		}
		if ((colon = strchr(line, ':')) == NULL || colon[1] == '\0')
			continue;
		if (colon - line == 6 && strncasecmp(line, "Accept", 6) == 0)
			accept = 1;
		evbuffer_add_printf(out, "%s\r\n", line);
	}
	if (!accept)
		evbuffer_add_printf(out, "Accept: */*\r\n");
	if (req->req_has_body && req->req_clen < 0)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	else if (req->req_has_body || req->req_method == HTTP_POST)
		evbuffer_add_printf(out, "Content-Length: %" PRId64 "\r\n",
		    req->req_has_body ? req->req_clen : (int64_t)0);
	return (evbuffer_add_printf(out, "Connection: close\r\n\r\n") < 0 ?
	    -1 : 0);
}
