/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for client.c: the bytes a bot sends, fed through a
 * socketpair into a real client on a real event_base, with reply.c,
 * route.c, header.c, acl.c, health.c and friends linked in, and
 * upstream.c, multi.c, tls.c and server.c replaced by stand-ins here
 * (the pool's hooks are server.c's part).
 *
 * Input: 8 control bytes, then the byte stream the bot sends.
 *
 *	ctl[0]	how the stream is cut into writes: '0' (or 0) writes it
 *		in one go, anything else writes pieces of 1..(ctl[0] & 63)+1
 *		bytes, with the loop run in between
 *	ctl[1]	less '0', bits 0-1: max_body 50M, 16, 100 or 1000, and
 *		max_header_size the largest allowed with the first, the
 *		smallest with the other three; bit 2:
 *		the bot half-closes (EOF) when done; bit 3: the server
 *		drains (SIGTERM) after the first write; bit 4 ('@'..'O'):
 *		the peer is not in "allow"; bit 5 ('P'..'_'): "bots" is
 *		123456 and 42 only; bit 6 ('p'..): the peer is IPv6;
 *		bit 7 (0xb0..): it came in on the admin listener
 *	ctl[2..7] what the stand-in upstream does with requests 1, 2, ...
 *		(cycling): bits 0-2 are a mode (see fx_mode), bit 6 makes
 *		its reply large (100 KB, over the output watermarks); bit 3
 *		makes an FX_EARLY or FX_LENGTH reply lie about its length,
 *		declaring one byte more (bit 4 set: ':') or less ('*') than
 *		it sends, as a libcurl that framed otherwise than we did
 *
 * Every mode byte is meaningful in ASCII: "00" + "222222" + a request is
 * "one write, defaults, every request answered with a Content-Length".
 *
 * What comes back is parsed as HTTP responses, and must be well-framed
 * (a reply to HEAD has no body), and must stop after a "Connection:
 * close" reply.  FUZZ_HTTP_DUMP=1 in the environment copies the
 * replies to stderr.
 *
 * What would go upstream is checked against a strict reference parser
 * of the bot's bytes (ref_*): each request the sidecar hands to libcurl
 * must be exactly the one the reference read (method, target, each
 * forwarded header name and value, the body bytes), and no request the
 * reference refuses (a name that is not a token, a control character in
 * a value) may reach upstream_start() at all.  Where the reference is
 * unsure (http-parser's leniencies it does not model: folding, odd
 * request lines, several framing headers), it stops comparing.  The
 * bytes the sidecar buffers for a connection are bounded (fz_bounds).
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "acl.h"
#include "client.h"
#include "conf.h"
#include "conn.h"
#include "header.h"
#include "log.h"
#include "reply.h"
#include "req.h"
#include "upstream.h"
#include "upstream_fail.h"

#define FUZZ_CTL	8
#define FUZZ_MODES	(FUZZ_CTL - 2)
#define FUZZ_TURNS	6	/* loop passes after each write */
#define FUZZ_STALLS	16	/* writes that may find the socket full */
#define FUZZ_BIG	(100 * 1024)
#define FUZZ_METHODS	256
#define REF_REQS	64
#define REF_HDRS	128
/* What one connection may hold, whatever the bot sends. */
#define FUZZ_IN_MAX	(REQ_BODY_HIGH + 64 * 1024)
#define FUZZ_BODY_MAX	(REQ_BODY_HIGH + 64 * 1024)
#define FUZZ_OUT_MAX	(4 * 1024 * 1024)

enum fx_mode {
	FX_PENDING,	/* never answers; the connection ends with it open */
	FX_EARLY,	/* answers at once, body or no body read */
	FX_LENGTH,	/* after the body: Content-Length reply */
	FX_CHUNKED,	/* after the body: length unknown */
	FX_ERROR,	/* after the body: a 502 of the sidecar's own */
	FX_CUT,		/* head and part of a body, then the transfer fails */
	FX_FAILSTART,	/* upstream_start() itself fails */
	FX_NOBODY,	/* after the body: 204 */
};

/* The one transfer in flight: a client has at most one request. */
struct fake_xfer {
	struct req	*fx_req;
	struct event	*fx_ev;
	struct evbuffer	*fx_sent;	/* the body, as libcurl would send it */
	int		 fx_mode;
	int		 fx_big;
	int		 fx_liar;	/* declared minus sent: -1, 0, 1 */
};

/* The reference's reading of the bot's bytes. */
enum ref_verdict {
	REF_END,	/* every complete request was read */
	REF_REJECT,	/* request ref.n must never go upstream */
	REF_UNSURE	/* request ref.n is beyond the reference */
};

struct ref_hdr {
	const char	*rh_name;	/* in the input */
	size_t		 rh_nlen;
	const char	*rh_value;	/* trimmed, in the input */
	size_t		 rh_vlen;
};

struct ref_req {
	const char	*rr_method;
	size_t		 rr_mlen;
	const char	*rr_target;
	size_t		 rr_tlen;
	struct ref_hdr	 rr_hdrs[REF_HDRS];
	int		 rr_nhdrs;
	int		 rr_chunked;
	int64_t		 rr_clen;	/* -1: none */
	int		 rr_body_ok;	/* the body was read in full */
	struct evbuffer	*rr_body;
};

static struct {
	struct ref_req	 req[REF_REQS];
	int		 n;		/* heads read */
	int		 verdict;	/* enum ref_verdict, for req[n] */
	const char	*why;
} ref;

static struct {
	struct config		*cfg;		/* the server's reference */
	struct client_pool	 pool;
	struct fake_xfer	 xfer;
	const uint8_t		*modes;
	size_t			 nreq;
	http_parser		 rp;		/* parses what the bot gets */
	int			 rp_closed;	/* a close-reply was completed */
	int			 rp_bad;
	int			 dump;		/* FUZZ_HTTP_DUMP: show replies */
	int			 meth[FUZZ_METHODS];	/* of each request sent */
	size_t			 nmeth;
	size_t			 rp_next;	/* the request a reply is for */
	char			 big[FUZZ_BIG];
} fz;

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * The reference: the bot's bytes read strictly, as RFC 9112 has them,
 * written apart from the sidecar's code so that it can disagree.
 */
static int
ref_tchar(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static int
ref_token(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!isascii((unsigned char)s[i]) ||
		    !ref_tchar((unsigned char)s[i]))
			return 0;
	return len > 0;
}

static int
ref_ctl(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] < 0x20 && s[i] != '\t') ||
		    s[i] == 0x7f)
			return 1;
	return 0;
}

/* One line, ended by LF (a CR before it is dropped); 0 at the end. */
static int
ref_line(const char *p, size_t len, size_t *off, const char **line,
    size_t *llen)
{
	const char	*lf = memchr(p + *off, '\n', len - *off);

	if (lf == NULL)
		return 0;
	*line = p + *off;
	*llen = lf - *line;
	*off = lf - p + 1;
	if (*llen > 0 && (*line)[*llen - 1] == '\r')
		(*llen)--;
	return 1;
}

static int
ref_stop(int verdict, const char *why)
{
	ref.verdict = verdict;
	ref.why = why;
	return -1;
}

/* "METHOD SP target SP HTTP/d.d", nothing more or less. */
static int
ref_request_line(struct ref_req *rr, const char *l, size_t len)
{
	const char	*sp1, *sp2, *v;

	if ((sp1 = memchr(l, ' ', len)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', len - (sp1 + 1 - l))) == NULL)
		return ref_stop(REF_UNSURE, "request line");
	v = sp2 + 1;
	if (!ref_token(l, sp1 - l) || sp2 == sp1 + 1 ||
	    memchr(sp1 + 1, '\t', sp2 - sp1 - 1) != NULL ||
	    ref_ctl(sp1 + 1, sp2 - sp1 - 1) || l + len - v != 8 ||
	    memcmp(v, "HTTP/", 5) != 0 || !isdigit((unsigned char)v[5]) ||
	    v[6] != '.' || !isdigit((unsigned char)v[7]))
		return ref_stop(REF_UNSURE, "request line");
	if ((sp1 - l == 7 && memcmp(l, "CONNECT", 7) == 0) || v[5] != '1')
		return ref_stop(REF_UNSURE, "CONNECT or not HTTP/1");
	rr->rr_method = l;
	rr->rr_mlen = sp1 - l;
	rr->rr_target = sp1 + 1;
	rr->rr_tlen = sp2 - sp1 - 1;
	return 0;
}

static int
ref_is(const struct ref_hdr *h, const char *name)
{
	return h->rh_nlen == strlen(name) &&
	    strncasecmp(h->rh_name, name, h->rh_nlen) == 0;
}

static int
ref_header(struct ref_req *rr, const char *l, size_t len)
{
	struct ref_hdr	*h;
	const char	*colon;

	if (*l == ' ' || *l == '\t')
		return ref_stop(REF_UNSURE, "obs-fold");
	if ((colon = memchr(l, ':', len)) == NULL ||
	    !ref_token(l, colon - l))
		return ref_stop(REF_REJECT, "a header name is not a token");
	if (ref_ctl(colon + 1, len - (colon + 1 - l)))
		return ref_stop(REF_REJECT, "a control character in a value");
	if (rr->rr_nhdrs == REF_HDRS)
		return ref_stop(REF_UNSURE, "too many headers");
	h = &rr->rr_hdrs[rr->rr_nhdrs++];
	h->rh_name = l;
	h->rh_nlen = colon - l;
	h->rh_value = colon + 1;
	h->rh_vlen = len - h->rh_nlen - 1;
	while (h->rh_vlen > 0 && (*h->rh_value == ' ' ||
	    *h->rh_value == '\t')) {
		h->rh_value++;
		h->rh_vlen--;
	}
	while (h->rh_vlen > 0 && (h->rh_value[h->rh_vlen - 1] == ' ' ||
	    h->rh_value[h->rh_vlen - 1] == '\t'))
		h->rh_vlen--;
	return 0;
}

/* One Content-Length, or one "Transfer-Encoding: chunked", or neither. */
static int
ref_framing(struct ref_req *rr)
{
	const struct ref_hdr	*h;
	int			 i, ncl = 0, nte = 0;
	size_t			 j;

	rr->rr_clen = -1;
	for (i = 0; i < rr->rr_nhdrs; i++) {
		h = &rr->rr_hdrs[i];
		if (ref_is(h, "Upgrade"))
			return ref_stop(REF_UNSURE, "Upgrade");
		if (ref_is(h, "Transfer-Encoding")) {
			if (nte++ || h->rh_vlen != 7 ||
			    strncasecmp(h->rh_value, "chunked", 7) != 0)
				return ref_stop(REF_UNSURE, "Transfer-Encoding");
			rr->rr_chunked = 1;
		}
		if (ref_is(h, "Content-Length")) {
			if (ncl++ || h->rh_vlen == 0 || h->rh_vlen > 15)
				return ref_stop(REF_UNSURE, "Content-Length");
			rr->rr_clen = 0;
			for (j = 0; j < h->rh_vlen; j++) {
				if (!isdigit((unsigned char)h->rh_value[j]))
					return ref_stop(REF_UNSURE,
					    "Content-Length");
				rr->rr_clen = rr->rr_clen * 10 +
				    (h->rh_value[j] - '0');
			}
		}
	}
	if (nte && ncl)
		return ref_stop(REF_UNSURE, "Content-Length and chunked");
	return 0;
}

/* A chunked body; the trailer section is read and ignored. */
static int
ref_chunked(struct ref_req *rr, const char *p, size_t len, size_t *off)
{
	const char	*l;
	size_t		 llen, i;
	uint64_t	 n;

	for (;;) {
		if (!ref_line(p, len, off, &l, &llen))
			return ref_stop(REF_UNSURE, "chunk size");
		for (i = 0, n = 0; i < llen && isxdigit((unsigned char)l[i]);
		    i++)
			n = n * 16 + (isdigit((unsigned char)l[i]) ? l[i] - '0' :
			    (tolower((unsigned char)l[i]) - 'a' + 10));
		if (i == 0 || i > 15 || (i < llen && l[i] != ';') ||
		    ref_ctl(l, llen))
			return ref_stop(REF_UNSURE, "chunk size");
		if (n == 0)
			break;
		if (len - *off < n + 2 || p[*off + n] != '\r' ||
		    p[*off + n + 1] != '\n')
			return ref_stop(REF_UNSURE, "chunk data");
		evbuffer_add(rr->rr_body, p + *off, n);
		*off += n + 2;
	}
	do {
		if (!ref_line(p, len, off, &l, &llen))
			return ref_stop(REF_UNSURE, "trailers");
		if (llen > 0 && (*l == ' ' || *l == '\t' ||
		    memchr(l, ':', llen) == NULL ||
		    !ref_token(l, (const char *)memchr(l, ':', llen) - l) ||
		    ref_ctl(l, llen)))
			return ref_stop(REF_UNSURE, "trailers");
	} while (llen > 0);
	return 0;
}

static int
ref_one(const char *p, size_t len, size_t *off)
{
	struct ref_req	*rr = &ref.req[ref.n];
	const char	*l;
	size_t		 llen;

	/* http-parser skips empty lines before a request. */
	while (*off < len && (p[*off] == '\r' || p[*off] == '\n'))
		(*off)++;
	if (*off == len)
		return ref_stop(REF_END, NULL);
	if (!ref_line(p, len, off, &l, &llen))
		return ref_stop(REF_UNSURE, "incomplete head");
	if (ref_request_line(rr, l, llen) == -1)
		return -1;
	for (;;) {
		if (!ref_line(p, len, off, &l, &llen))
			return ref_stop(REF_UNSURE, "incomplete head");
		if (llen == 0)
			break;
		if (memchr(l, '\r', llen) != NULL)
			return ref_stop(REF_REJECT, "a bare CR");
		if (ref_header(rr, l, llen) == -1)
			return -1;
	}
	if (ref_framing(rr) == -1)
		return -1;
	ref.n++;
	if (rr->rr_chunked)
		return ref_chunked(rr, p, len, off) == -1 ? -1 :
		    (rr->rr_body_ok = 1, 0);
	if (rr->rr_clen > 0) {
		if ((uint64_t)rr->rr_clen > len - *off)
			return ref_stop(REF_UNSURE, "incomplete body");
		evbuffer_add(rr->rr_body, p + *off, rr->rr_clen);
		*off += rr->rr_clen;
	}
	rr->rr_body_ok = 1;
	return 0;
}

static void
ref_parse(const uint8_t *data, size_t size)
{
	size_t	 off = 0;
	int	 i;

	for (i = 0; i < REF_REQS; i++) {
		ref.req[i].rr_nhdrs = 0;
		ref.req[i].rr_chunked = 0;
		ref.req[i].rr_body_ok = 0;
		evbuffer_drain(ref.req[i].rr_body,
		    evbuffer_get_length(ref.req[i].rr_body));
	}
	ref.n = 0;
	ref.why = NULL;
	ref.verdict = REF_UNSURE;
	while (ref.n < REF_REQS &&
	    ref_one((const char *)data, size, &off) == 0)
		;
}

static void
ref_fail(const struct req *req, const char *what)
{
	fprintf(stderr, "fuzz_http: request %u upstream: %s\n", req->req_seq,
	    what);
	abort();
}

/* Connection names a header: it stays on this hop. */
static int
ref_listed(const struct ref_req *rr, const char *name, size_t nlen)
{
	const struct ref_hdr	*h;
	const char		*v, *end;
	size_t			 n;
	int			 i;

	for (i = 0; i < rr->rr_nhdrs; i++) {
		h = &rr->rr_hdrs[i];
		if (!ref_is(h, "Connection"))
			continue;
		for (v = h->rh_value, end = v + h->rh_vlen; v < end; v += n) {
			v += strspn(v, " \t,");
			if (v >= end)
				break;
			for (n = 0; v + n < end && !strchr(" \t,", v[n]); n++)
				;
			if (n == nlen && strncasecmp(v, name, n) == 0)
				return 1;
		}
	}
	return 0;
}

static int
ref_forwarded(const struct ref_req *rr, const struct ref_hdr *h)
{
	static const char *const stay[] = { "Host", "Content-Length",
	    "Expect", "Connection", "Transfer-Encoding", "Keep-Alive",
	    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
	    "TE", "Trailer", "Trailers", "Upgrade", "HTTP2-Settings", NULL };
	int	 i;

	for (i = 0; stay[i] != NULL; i++)
		if (ref_is(h, stay[i]))
			return 0;
	return !ref_listed(rr, h->rh_name, h->rh_nlen);
}

/* The header list libcurl gets: the forwarded ones, in order, then ours. */
static void
ref_check_headers(const struct req *req, const struct ref_req *rr)
{
	const struct curl_slist	*l = req->req_uphdrs;
	const struct ref_hdr	*h;
	static char		 want[CONFIG_HEAD_MAX + 8];
	int			 i, ctype = 0;

	for (i = 0; i < rr->rr_nhdrs; i++) {
		h = &rr->rr_hdrs[i];
		if (!ref_forwarded(rr, h))
			continue;
		if (ref_is(h, "Content-Type"))
			ctype = 1;
		if (h->rh_vlen == 0)
			snprintf(want, sizeof(want), "%.*s;", (int)h->rh_nlen,
			    h->rh_name);
		else
			snprintf(want, sizeof(want), "%.*s: %.*s",
			    (int)h->rh_nlen, h->rh_name, (int)h->rh_vlen,
			    h->rh_value);
		if (l == NULL || strcmp(l->data, want) != 0)
			ref_fail(req, "a header differs from the bot's");
		l = l->next;
	}
	if (l == NULL || strcmp(l->data, "Expect:") != 0)
		ref_fail(req, "no Expect: removal");
	l = l->next;
	if (!ctype) {
		if (l == NULL || strcmp(l->data, "Content-Type:") != 0)
			ref_fail(req, "no Content-Type: removal");
		l = l->next;
	}
	if (l != NULL)
		ref_fail(req, "a header the bot did not send");
}

/* At upstream_start(): the request is the one the reference read. */
static void
ref_check_head(const struct req *req)
{
	const struct ref_req	*rr;
	const char		*m, *t;
	size_t			 i, tlen;
	unsigned int		 k = req->req_seq - 1;

	if ((int)k >= ref.n) {
		if (ref.verdict == REF_UNSURE)
			return;
		fprintf(stderr, "fuzz_http: reference: %s\n",
		    ref.why != NULL ? ref.why : "no such request");
		ref_fail(req, "the reference refuses it");
	}
	rr = &ref.req[k];
	m = http_method_str(req->req_method);
	if (strlen(m) != rr->rr_mlen || memcmp(m, rr->rr_method,
	    rr->rr_mlen) != 0)
		ref_fail(req, "another method");
	tlen = evbuffer_get_length(req->req_target);
	t = (const char *)evbuffer_pullup(req->req_target, -1);
	if (tlen != rr->rr_tlen || memcmp(t, rr->rr_target, tlen) != 0)
		ref_fail(req, "another target");
	for (i = 0; req->req_route.rt_path[i] != '\0'; i++)
		if ((unsigned char)req->req_route.rt_path[i] <= ' ' ||
		    (unsigned char)req->req_route.rt_path[i] >= 0x7f ||
		    strchr("#?", req->req_route.rt_path[i]) != NULL)
			ref_fail(req, "a path libcurl cannot send as it is");
	if (rr->rr_chunked ? !req->req_has_body || req->req_clen != -1 :
	    rr->rr_clen > 0 ? !req->req_has_body ||
	    req->req_clen != rr->rr_clen : req->req_has_body)
		ref_fail(req, "another body framing");
	ref_check_headers(req, rr);
}

/* When the transfer ends with the whole body sent: the bot's bytes. */
static void
ref_check_body(const struct req *req, struct evbuffer *sent)
{
	const struct ref_req	*rr;
	size_t			 n = evbuffer_get_length(sent);
	unsigned int		 k = req->req_seq - 1;

	if (!req->req_body_done || evbuffer_get_length(req->req_body) != 0 ||
	    (int)k >= ref.n || !ref.req[k].rr_body_ok)
		return;
	rr = &ref.req[k];
	if (n != evbuffer_get_length(rr->rr_body) ||
	    (n > 0 && memcmp(evbuffer_pullup(sent, -1),
	    evbuffer_pullup(rr->rr_body, -1), n) != 0))
		ref_fail(req, "another body");
}

/* What a connection holds stays bounded, whatever the bot sends. */
static void
fz_bounds(void)
{
	struct client	*clt = TAILQ_FIRST(&fz.pool.cp_clts);
	struct req	*req;

	if (clt == NULL)
		return;
	if (evbuffer_get_length(bufferevent_get_input(clt->clt_bev)) >
	    FUZZ_IN_MAX ||
	    evbuffer_get_length(bufferevent_get_output(clt->clt_bev)) >
	    FUZZ_OUT_MAX) {
		fprintf(stderr, "fuzz_http: connection buffers unbounded\n");
		abort();
	}
	if ((req = clt->clt_req) == NULL)
		return;
	if (evbuffer_get_length(req->req_body) > FUZZ_BODY_MAX ||
	    evbuffer_get_length(req->req_target) >
	    req->req_cfg->cfg_max_header_size ||
	    evbuffer_get_length(req->req_hname) +
	    evbuffer_get_length(req->req_hvalue) >
	    req->req_cfg->cfg_max_header_size ||
	    req->req_nfields > CLIENT_FIELDS_MAX) {
		fprintf(stderr, "fuzz_http: request buffers unbounded\n");
		abort();
	}
}

/* server.c's cp_gone hook: the last connection ends a drain. */
static void
fake_gone(void *arg)
{
	struct client_pool	*pool = arg;

	if (pool->cp_draining && pool->cp_clients == 0)
		event_base_loopbreak(pool->cp_base);
}

/* conn.c: health.c's /readyz probe cannot open a connection here. */
struct conn *
conn_open(struct event_base *base, struct config *cfg, int proxy,
    conn_done_fn done, void *arg)
{
	(void)base;
	(void)cfg;
	(void)proxy;
	(void)done;
	(void)arg;
	return NULL;
}

/* Never reached without a connection, but health.c names them. */
void
conn_close(struct conn *cn)
{
	if (cn != NULL)
		abort();
}

struct config *
conn_config(const struct conn *cn)
{
	(void)cn;
	abort();
}

int
conn_proxy(const struct conn *cn)
{
	(void)cn;
	abort();
}

void
conn_facts(const struct conn *cn, struct upstream_facts *uf)
{
	(void)cn;
	(void)uf;
	abort();
}

int
upstream_fail_judge(struct config *cfg, int proxy,
    const struct upstream_facts *uf, int count, char *desc, size_t len,
    enum upstream_stage *st)
{
	(void)cfg;
	(void)proxy;
	(void)uf;
	(void)count;
	(void)desc;
	(void)len;
	(void)st;
	abort();
}

/* upstream.c, in miniature: what upstream_release() does. */
static void
fake_release(struct req *req)
{
	if (req->req_conn == NULL)
		return;
	if (fz.xfer.fx_req != req)
		abort();	/* a transfer of another request */
	event_del(fz.xfer.fx_ev);
	fz.xfer.fx_req = NULL;
	req->req_conn = NULL;
}

static int
fake_reply(struct req *req, int status, int64_t clen, const char *body,
    size_t len)
{
	struct evbuffer	*hdrs;

	if ((hdrs = evbuffer_new()) == NULL)
		abort();
	evbuffer_add_printf(hdrs, "Content-Type: application/json\r\n");
	reply_head(req, status, NULL, hdrs, clen);
	evbuffer_free(hdrs);
	return reply_body(req, body, len);
}

/* Like upstream_done(): the transfer ended, the request is answered. */
static void
fake_done(struct req *req)
{
	static const char	 ok[] = "{\"ok\":true,\"result\":[]}";
	const char		*body = fz.xfer.fx_big ? fz.big : ok;
	size_t			 len = fz.xfer.fx_big ? sizeof(fz.big) :
				    sizeof(ok) - 1;

	ref_check_body(req, fz.xfer.fx_sent);
	switch (fz.xfer.fx_mode) {
	case FX_EARLY:
	case FX_LENGTH:
		fake_release(req);
		/* A refused write fails the transfer, as in upstream_write(). */
		if (fake_reply(req, 200, (int64_t)len + fz.xfer.fx_liar, body,
		    len) == -1)
			req->req_keepalive = 0;
		else
			reply_end(req);
		break;
	case FX_CHUNKED:
		fake_release(req);
		fake_reply(req, 200, -1, body, len / 2);
		reply_body(req, body + len / 2, len - len / 2);
		reply_end(req);
		break;
	case FX_ERROR:
		snprintf(req->req_errdesc, sizeof(req->req_errdesc),
		    "Bad Gateway: fuzz upstream failed");
		fake_release(req);
		reply_error(req, 502, req->req_errdesc);
		break;
	case FX_CUT:
		fake_reply(req, 200, -1, body, len / 2);
		snprintf(req->req_errdesc, sizeof(req->req_errdesc),
		    "upstream reply cut: fuzz");
		fake_release(req);
		req->req_keepalive = 0;
		req->req_chunked = 0;
		break;
	case FX_NOBODY:
		fake_release(req);
		fake_reply(req, 204, -1, NULL, 0);
		reply_end(req);
		break;
	default:
		abort();
	}
	req->req_hooks->rh_done(req);
}

/* Like the multi socket callback: move the body along, maybe finish. */
static void
fake_xfer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct req	*req = fz.xfer.fx_req;
	size_t		 n;

	(void)fd;
	(void)what;
	(void)arg;
	if (req == NULL)
		return;
	/* upstream_read() takes the body as it comes, then kicks. */
	if ((n = evbuffer_get_length(req->req_body)) > 0) {
		evbuffer_remove_buffer(req->req_body, fz.xfer.fx_sent, n);
		req->req_hooks->rh_kick(req);
	}
	if (fz.xfer.fx_mode == FX_PENDING)
		return;
	if (fz.xfer.fx_mode != FX_EARLY && !req->req_body_done)
		return;
	fake_done(req);
}

int
upstream_start(struct req *req)
{
	uint8_t	 m = fz.modes[fz.nreq++ % FUZZ_MODES];

	if (fz.xfer.fx_req != NULL || req->req_conn != NULL)
		abort();	/* two transfers for one client */
	if ((m & 7) == FX_FAILSTART)
		return -1;
	/* What the real one allocates, so the request frees it. */
	if ((req->req_url = strdup("https://api.telegram.org/fuzz")) == NULL)
		return -1;
	/* The real header list, as libcurl would get it, and checked. */
	if (header_upstream(req) == -1)
		ref_fail(req, "header_upstream() refused the bot's headers");
	ref_check_head(req);
	evbuffer_drain(fz.xfer.fx_sent, evbuffer_get_length(fz.xfer.fx_sent));
	fz.xfer.fx_req = req;
	fz.xfer.fx_mode = m & 7;
	fz.xfer.fx_big = (m & 0x40) != 0;
	fz.xfer.fx_liar = !(m & 0x08) ? 0 : (m & 0x10) ? 1 : -1;
	req->req_conn = (struct conn *)&fz.xfer;
	/* It finishes from the loop, never inside the parser callback. */
	event_active(fz.xfer.fx_ev, EV_TIMEOUT, 0);
	return 0;
}

void
upstream_stop(struct req *req)
{
	fake_release(req);
}

int
upstream_running(const struct req *req)
{
	return req->req_conn != NULL;
}

void
upstream_resume(struct req *req)
{
	if (req->req_conn == NULL)
		return;
	if (fz.xfer.fx_req != req)
		abort();
	event_active(fz.xfer.fx_ev, EV_TIMEOUT, 0);
}

/* The bot's side: every reply must be framed well. */
static int
rp_begin(http_parser *p)
{
	(void)p;
	if (fz.rp_closed) {
		fprintf(stderr, "fuzz_http: a reply after Connection: close\n");
		fz.rp_bad = 1;
	}
	return 0;
}

/* A reply to HEAD has no body, whatever its Content-Length says. */
static int
rp_headers(http_parser *p)
{
	int	 m;

	if (p->status_code / 100 == 1)
		return 0;
	m = fz.rp_next < fz.nmeth ? fz.meth[fz.rp_next] : HTTP_GET;
	fz.rp_next++;
	/*
	 * A 400 that closes may answer bytes the sidecar refused before
	 * they were a request (a bare CR in the CRLFs ahead of a request
	 * line, which this lenient parser skips): it is framed as it says,
	 * and nothing can follow it.
	 */
	if (m == HTTP_HEAD && p->status_code == 400 &&
	    !http_should_keep_alive(p))
		return 0;
	return m == HTTP_HEAD ? 1 : 0;
}

static int
rp_complete(http_parser *p)
{
	if (!http_should_keep_alive(p))
		fz.rp_closed = 1;
	return 0;
}

static const http_parser_settings rp_settings = {
	.on_message_begin = rp_begin,
	.on_headers_complete = rp_headers,
	.on_message_complete = rp_complete,
};

/* The bot's requests, as a parser of its own sees them: their methods. */
static int
rq_headers(http_parser *p)
{
	if (fz.nmeth < FUZZ_METHODS)
		fz.meth[fz.nmeth++] = p->method;
	return 0;
}

static const http_parser_settings rq_settings = {
	.on_headers_complete = rq_headers,
};

static void
bot_requests(const uint8_t *data, size_t size)
{
	http_parser	 rq;

	fz.nmeth = 0;
	fz.rp_next = 0;
	http_parser_init(&rq, HTTP_REQUEST);
	http_parser_execute(&rq, &rq_settings, (const char *)data, size);
}

static void
bot_read(int fd)
{
	char	 buf[16384];
	ssize_t	 n;
	size_t	 done;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (fz.dump)
			fwrite(buf, 1, (size_t)n, stderr);
		if (HTTP_PARSER_ERRNO(&fz.rp) != HPE_OK)
			continue;
		done = http_parser_execute(&fz.rp, &rp_settings, buf,
		    (size_t)n);
		if (HTTP_PARSER_ERRNO(&fz.rp) != HPE_OK || done != (size_t)n) {
			fprintf(stderr, "fuzz_http: bad reply framing: %s\n",
			    http_errno_description(HTTP_PARSER_ERRNO(&fz.rp)));
			fz.rp_bad = 1;
		}
	}
}

static void
turn(struct event_base *base, int fd)
{
	int	 i;

	for (i = 0; i < FUZZ_TURNS; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		fz_bounds();
		bot_read(fd);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int	 i;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_LEVEL_WARN);
	/* Requests take references to it; the server's one stays. */
	if ((fz.cfg = config_new()) == NULL)
		abort();
	config_init(fz.cfg);
	memset(fz.big, 'x', sizeof(fz.big));
	if ((fz.xfer.fx_sent = evbuffer_new()) == NULL)
		abort();
	for (i = 0; i < REF_REQS; i++)
		if ((ref.req[i].rr_body = evbuffer_new()) == NULL)
			abort();
	fz.dump = getenv("FUZZ_HTTP_DUMP") != NULL;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t	 max_body[] = { 50 << 20, 16, 100, 1000 };
	struct event_base	*base;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	const uint8_t		*ctl = data;
	size_t			 off = 0, n, chunk;
	ssize_t			 w;
	uint32_t		 rnd;
	uint8_t			 flags;
	int			 sv[2], stalls = 0, first = 1;

	if (size < FUZZ_CTL)
		return -1;
	data += FUZZ_CTL;
	size -= FUZZ_CTL;
	chunk = (ctl[0] == 0 || ctl[0] == '0') ? 0 : (size_t)(ctl[0] & 63) + 1;
	rnd = ctl[0] * 2654435761u + 1;
	flags = (uint8_t)(ctl[1] - '0');
	fz.cfg->cfg_max_body = max_body[flags & 3];
	fz.cfg->cfg_max_header_size = (flags & 3) == 0 ? CONFIG_HEAD_MAX :
	    CONFIG_HEAD_MIN;
	fz.cfg->cfg_nallow = 0;
	if ((flags & 16) && acl_parse(fz.cfg->cfg_allow, CONFIG_ALLOW_MAX,
	    &fz.cfg->cfg_nallow, "10.0.0.0/8, ::1/128") == -1)
		abort();
	fz.cfg->cfg_nbots = 0;
	if ((flags & 32) && acl_bots_parse(fz.cfg->cfg_bots, CONFIG_BOTS_MAX,
	    &fz.cfg->cfg_nbots, "123456,42") == -1)
		abort();
	fz.modes = ctl + 2;
	fz.nreq = 0;
	fz.rp_closed = fz.rp_bad = 0;
	http_parser_init(&fz.rp, HTTP_RESPONSE);
	bot_requests(data, size);
	ref_parse(data, size);

	if ((base = event_base_new()) == NULL)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    evutil_make_socket_nonblocking(sv[0]) == -1 ||
	    evutil_make_socket_nonblocking(sv[1]) == -1)
		abort();
	memset(&fz.pool, 0, sizeof(fz.pool));
	TAILQ_INIT(&fz.pool.cp_clts);
	fz.pool.cp_base = base;
	fz.pool.cp_cfg = fz.cfg;
	fz.pool.cp_gone = fake_gone;
	fz.pool.cp_arg = &fz.pool;
	if ((fz.xfer.fx_ev = event_new(base, -1, 0, fake_xfer_cb,
	    NULL)) == NULL)
		abort();
	memset(&ss, 0, sizeof(ss));
	if (flags & 64) {
		sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40000);
		sin6->sin6_addr = in6addr_loopback;
	} else {
		sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	}
	if (client_new(&fz.pool, sv[0], (struct sockaddr *)&ss,
	    sizeof(ss), (flags & 128) != 0) == NULL)
		abort();

	while (off < size && !TAILQ_EMPTY(&fz.pool.cp_clts)) {
		n = size - off;
		if (chunk != 0) {
			rnd = rnd * 1103515245u + 12345u;
			if (n > 1 + (rnd >> 16) % chunk)
				n = 1 + (rnd >> 16) % chunk;
		}
		if ((w = write(sv[1], data + off, n)) > 0)
			off += (size_t)w;
		else if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			break;	/* the client is gone: EPIPE */
		else if (++stalls > FUZZ_STALLS)
			break;	/* held: a pending request, a full body */
		turn(base, sv[1]);
		if (first && (flags & 8)) {
			fz.pool.cp_draining = 1;
			client_drain(&fz.pool);
			turn(base, sv[1]);
		}
		first = 0;
	}
	if (flags & 4) {
		shutdown(sv[1], SHUT_WR);
		turn(base, sv[1]);
	}
	turn(base, sv[1]);
	while (!TAILQ_EMPTY(&fz.pool.cp_clts))
		client_close(TAILQ_FIRST(&fz.pool.cp_clts), "fuzz: done");
	bot_read(sv[1]);
	close(sv[1]);
	event_free(fz.xfer.fx_ev);
	fz.xfer.fx_ev = NULL;
	event_base_free(base);

	if (fz.pool.cp_clients != 0 || fz.pool.cp_inflight != 0 ||
	    fz.xfer.fx_req != NULL || fz.cfg->cfg_refs != 1)
		abort();
	if (fz.rp_bad)
		abort();
	return 0;
}
