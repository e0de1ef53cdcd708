/* SPDX-License-Identifier: ISC */
/*
 * max_header_size: how many bytes of request head (the request line and
 * the header fields) a bot connection may send.  client_parse() gives
 * http-parser no more than headsize_room() allows, so every byte of a
 * refused head has reached the parser's callbacks: a head with no header
 * field yet is refused for its request line (414), any other for its
 * fields (431).
 */
#include "config.h"

#include <stdio.h>

#include "client.h"
#include "conf.h"
#include "headsize.h"
#include "req.h"

/* The head's limit, under its request's config: a reload does not move it. */
size_t
headsize_max(const struct client *clt)
{
	const struct config	*cfg = clt->clt_req != NULL ?
				    clt->clt_req->req_cfg : clt->clt_pool->cp_cfg;

	return (cfg->cfg_max_header_size);
}

/* How many of n more bytes the head may take. */
size_t
headsize_room(const struct client *clt, size_t n)
{
	size_t	 max = headsize_max(clt);

	if (clt->clt_headlen >= max)
		return (0);
	return (n < max - clt->clt_headlen ? n : max - clt->clt_headlen);
}

/*
 * done bytes went to http-parser, of a head if head.  Once the head has
 * ended, or its request with it, the next one counts from 0.
 */
void
headsize_count(struct client *clt, int head, int ended, size_t done)
{
	if (ended)
		clt->clt_headlen = 0;
	else if (head)
		clt->clt_headlen += done;
}

/* The status and words for a head that has no room left. */
int
headsize_over(const struct client *clt, char *why, size_t len)
{
	const struct req	*req = clt->clt_req;

	if (req != NULL && req->req_hstate == REQ_H_NONE &&
	    req->req_hdrs == NULL) {
		snprintf(why, len, "URI Too Long: the request line is over "
		    "max_header_size (%zu bytes)", headsize_max(clt));
		return (414);
	}
	snprintf(why, len, "Request Header Fields Too Large: the request "
	    "head is over max_header_size (%zu bytes)", headsize_max(clt));
	return (431);
}

/*
 * Each piece of a header name (newfield: the first of a field) or value.
 * Trailers too are bounded by max_header_size, though never kept; the
 * fields kept are bounded by their number, since each costs more than
 * its bytes.  -1 with clt_perr (and clt_pwhy) set for the answer.
 */
int
headsize_field(struct client *clt, size_t len, int newfield)
{
	struct req	*req = clt->clt_req;

	req->req_hdrlen += len;
	if (req->req_hdrlen > req->req_cfg->cfg_max_header_size) {
		clt->clt_perr = 431;
		return (-1);
	}
	if (newfield && req->req_hstate != REQ_H_DONE &&
	    ++req->req_nfields > CLIENT_FIELDS_MAX) {
		clt->clt_perr = 431;
		clt->clt_pwhy = "Request Header Fields Too Large: more than "
		    "256 header fields";
		return (-1);
	}
	return (0);
}
