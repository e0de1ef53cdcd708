/* SPDX-License-Identifier: ISC */
/*
 * headsize.c: how much head a connection may still send, under which
 * config, how the count runs across pieces and heads, and what a head
 * with no room left is answered (414 with no header field yet, else 431).
 */
#include <string.h>

#include "client.h"
#include "conf.h"
#include "headsize.h"
#include "req.h"
#include "tap.h"

enum { NO_REQ, REQ_LINE, REQ_FIELD, REQ_HDRS };

struct room_case {
	const char	*rc_name;
	size_t		 rc_srv_max;	/* the server's config now */
	int		 rc_req;	/* NO_REQ, or which part of the head */
	size_t		 rc_req_max;	/* the config the request holds */
	size_t		 rc_headlen;	/* counted so far */
	size_t		 rc_n;		/* bytes at hand */
	size_t		 rc_room;
	int		 rc_status;	/* if rc_room is 0 */
	const char	*rc_why;
};

static const struct room_case room_cases[] = {
	{ "fresh head, all fits", 1024, NO_REQ, 0, 0, 100, 100, 0, NULL },
	{ "fresh head, more than fits", 1024, NO_REQ, 0, 0, 5000, 1024, 0,
	    NULL },
	{ "the last byte", 1024, REQ_LINE, 1024, 1023, 10, 1, 0, NULL },
	{ "request line full", 1024, REQ_LINE, 1024, 1024, 10, 0, 414,
	    "URI Too Long: the request line is over max_header_size "
	    "(1024 bytes)" },
	{ "in the first field name", 1024, REQ_FIELD, 1024, 1024, 1, 0, 431,
	    "Request Header Fields Too Large: the request head is over "
	    "max_header_size (1024 bytes)" },
	{ "after a whole field", 1024, REQ_HDRS, 1024, 1024, 1, 0, 431,
	    "(1024 bytes)" },
	{ "empty lines alone", 1024, NO_REQ, 0, 1024, 1, 0, 431,
	    "Request Header Fields Too Large" },
	/* A reload: the request keeps its config, a new head takes the new. */
	{ "request begun under 16K, now 8K", 8192, REQ_LINE, 16384, 10000,
	    9000, 6384, 0, NULL },
	{ "request begun under 8K, now 16K", 16384, REQ_LINE, 8192, 8192,
	    1, 0, 414, "(8192 bytes)" },
	{ "empty lines under 16K, now 8K", 8192, NO_REQ, 0, 10000, 1, 0, 431,
	    "(8192 bytes)" },
};

static void
setup(struct client *clt, struct client_pool *srv, struct config *srvcfg,
    struct req *req, struct config *reqcfg, const struct room_case *rc)
{
	static struct curl_slist	 one = { "X: 1", NULL };

	memset(clt, 0, sizeof(*clt));
	memset(srv, 0, sizeof(*srv));
	memset(req, 0, sizeof(*req));
	srvcfg->cfg_max_header_size = rc->rc_srv_max;
	reqcfg->cfg_max_header_size = rc->rc_req_max;
	srv->cp_cfg = srvcfg;
	clt->clt_pool = srv;
	clt->clt_headlen = rc->rc_headlen;
	if (rc->rc_req == NO_REQ)
		return;
	req->req_clt = clt;
	req->req_cfg = reqcfg;
	req->req_hstate = rc->rc_req == REQ_FIELD ? REQ_H_FIELD :
	    REQ_H_NONE;
	req->req_hdrs = rc->rc_req == REQ_HDRS ? &one : NULL;
	clt->clt_req = req;
}

int
main(void)
{
	static struct config	 srvcfg, reqcfg;
	const struct room_case	*rc;
	struct client		 clt;
	struct client_pool	 srv;
	struct req		 req;
	char			 why[160];
	size_t			 i;
	int			 st;

	for (i = 0; i < sizeof(room_cases) / sizeof(room_cases[0]); i++) {
		rc = &room_cases[i];
		setup(&clt, &srv, &srvcfg, &req, &reqcfg, rc);
		is_int((long long)headsize_room(&clt, rc->rc_n),
		    (long long)rc->rc_room, "%s: room", rc->rc_name);
		if (rc->rc_room != 0)
			continue;
		st = headsize_over(&clt, why, sizeof(why));
		is_int(st, rc->rc_status, "%s: status", rc->rc_name);
		like(why, rc->rc_why, "%s: description", rc->rc_name);
	}

	/* One head in pieces, then the next head on the connection. */
	setup(&clt, &srv, &srvcfg, &req, &reqcfg, &room_cases[0]);
	is_int((long long)headsize_room(&clt, 600), 600, "piece 1: 600");
	headsize_count(&clt, 1, 0, 600);
	is_int((long long)headsize_room(&clt, 600), 424, "piece 2: 424 left");
	headsize_count(&clt, 1, 0, 424);
	is_int((long long)headsize_room(&clt, 1), 0, "then no room");
	headsize_count(&clt, 1, 1, 300);
	is_int((long long)clt.clt_headlen, 0, "a head that ended: count 0");
	headsize_count(&clt, 0, 0, 5000);
	is_int((long long)clt.clt_headlen, 0, "body bytes are not counted");
	headsize_count(&clt, 1, 0, 10);
	is_int((long long)clt.clt_headlen, 10, "the next head counts anew");
	is_int((long long)headsize_max(&clt), 1024, "no request: the "
	    "server's config");
	return (done_testing());
}
