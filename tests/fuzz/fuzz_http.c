/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for client.c: the bytes a bot sends, fed through a
 * socketpair into a real client on a real event_base, with reply.c,
 * route.c, header.c, acl.c, health.c and friends linked in, and
 * upstream.c, multi.c, tls.c and server.c replaced by stand-ins here.
 *
 * Input: 8 control bytes, then the byte stream the bot sends.
 *
 *	ctl[0]	how the stream is cut into writes: '0' (or 0) writes it
 *		in one go, anything else writes pieces of 1..(ctl[0] & 63)+1
 *		bytes, with the loop run in between
 *	ctl[1]	less '0', bits 0-1: max_body 50M, 16, 100 or 1000; bit 2:
 *		the bot half-closes (EOF) when done; bit 3: the server
 *		drains (SIGTERM) after the first write; bit 4 ('@'..'O'):
 *		the peer is not in "allow"; bit 5 ('P'..'_'): "bots" is
 *		123456 and 42 only; bit 6 ('p'..): the peer is IPv6;
 *		bit 7 (0xb0..): it came in on the admin listener
 *	ctl[2..7] what the stand-in upstream does with requests 1, 2, ...
 *		(cycling): bits 0-2 are a mode (see fx_mode), bit 6 makes
 *		its reply large (100 KB, over the output watermarks)
 *
 * Every mode byte is meaningful in ASCII: "00" + "222222" + a request is
 * "one write, defaults, every request answered with a Content-Length".
 *
 * What comes back is parsed as HTTP responses, and must be well-framed
 * (a reply to HEAD has no body), and must stop after a "Connection:
 * close" reply.  FUZZ_HTTP_DUMP=1 in the environment copies the
 * replies to stderr.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tgsidecar.h"

#define FUZZ_CTL	8
#define FUZZ_MODES	(FUZZ_CTL - 2)
#define FUZZ_TURNS	6	/* loop passes after each write */
#define FUZZ_STALLS	16	/* writes that may find the socket full */
#define FUZZ_BIG	(100 * 1024)
#define FUZZ_METHODS	256

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
	int		 fx_mode;
	int		 fx_big;
};

static struct {
	struct config		*cfg;		/* the server's reference */
	struct server		 srv;
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

/* server.c */
void
server_client_gone(struct server *srv)
{
	if (srv->srv_draining && srv->srv_clients == 0)
		event_base_loopbreak(srv->srv_base);
}

/* upstream.c: health.c's /readyz probe cannot start a transfer here. */
CURL *
upstream_easy(struct req *req)
{
	(void)req;
	return curl_easy_init();
}

int
upstream_add(struct req *req, CURL *e)
{
	(void)req;
	(void)e;
	return -1;
}

const char *
upstream_why(struct req *req, CURLcode rc)
{
	(void)req;
	return curl_easy_strerror(rc);
}

/* upstream.c, in miniature: what upstream_release() does. */
static void
fake_release(struct req *req)
{
	if (req->req_easy == NULL)
		return;
	if (fz.xfer.fx_req != req)
		abort();	/* a transfer of another request */
	event_del(fz.xfer.fx_ev);
	fz.xfer.fx_req = NULL;
	req->req_easy = NULL;
	req->req_clt->clt_srv->srv_inflight--;
}

static void
fake_reply(struct req *req, int status, int64_t clen, const char *body,
    size_t len)
{
	struct evbuffer	*hdrs;

	if ((hdrs = evbuffer_new()) == NULL)
		abort();
	evbuffer_add_printf(hdrs, "Content-Type: application/json\r\n");
	reply_head(req, status, NULL, hdrs, clen);
	evbuffer_free(hdrs);
	reply_body(req, body, len);
}

/* Like upstream_done(): the transfer ended, the request is answered. */
static void
fake_done(struct req *req)
{
	static const char	 ok[] = "{\"ok\":true,\"result\":[]}";
	const char		*body = fz.xfer.fx_big ? fz.big : ok;
	size_t			 len = fz.xfer.fx_big ? sizeof(fz.big) :
				    sizeof(ok) - 1;

	switch (fz.xfer.fx_mode) {
	case FX_EARLY:
	case FX_LENGTH:
		fake_release(req);
		fake_reply(req, 200, (int64_t)len, body, len);
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
		reply_error(req->req_clt, req, 502, req->req_errdesc);
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
	client_req_done(req);
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
		evbuffer_drain(req->req_body, n);
		client_schedule(req->req_clt);
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

	if (fz.xfer.fx_req != NULL || req->req_easy != NULL)
		abort();	/* two transfers for one client */
	if ((m & 7) == FX_FAILSTART)
		return -1;
	/* What the real one allocates, so the request frees it. */
	if ((req->req_up_head = evbuffer_new()) == NULL ||
	    (req->req_url = strdup("https://api.telegram.org/fuzz")) == NULL)
		return -1;
	fz.xfer.fx_req = req;
	fz.xfer.fx_mode = m & 7;
	fz.xfer.fx_big = (m & 0x40) != 0;
	req->req_easy = (CURL *)&fz.xfer;
	req->req_clt->clt_srv->srv_inflight++;
	/* It finishes from the loop, never inside the parser callback. */
	event_active(fz.xfer.fx_ev, EV_TIMEOUT, 0);
	return 0;
}

void
upstream_done(CURL *e, CURLcode rc)
{
	(void)e;
	(void)rc;
	abort();	/* only multi.c calls it, and it is not linked */
}

void
upstream_stop(struct req *req)
{
	fake_release(req);
}

void
upstream_resume(struct req *req)
{
	if (req->req_easy == NULL)
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
		bot_read(fd);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_LEVEL_WARN);
	/* Requests take references to it; the server's one stays. */
	if ((fz.cfg = config_new()) == NULL)
		abort();
	config_init(fz.cfg);
	memset(fz.big, 'x', sizeof(fz.big));
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

	if ((base = event_base_new()) == NULL)
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    evutil_make_socket_nonblocking(sv[0]) == -1 ||
	    evutil_make_socket_nonblocking(sv[1]) == -1)
		abort();
	memset(&fz.srv, 0, sizeof(fz.srv));
	fz.srv.srv_base = base;
	fz.srv.srv_cfg = fz.cfg;
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
	if (client_new(&fz.srv, sv[0], (struct sockaddr *)&ss,
	    sizeof(ss), (flags & 128) != 0) == NULL)
		abort();

	while (off < size && fz.srv.srv_head != NULL) {
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
			fz.srv.srv_draining = 1;
			client_drain(&fz.srv);
			turn(base, sv[1]);
		}
		first = 0;
	}
	if (flags & 4) {
		shutdown(sv[1], SHUT_WR);
		turn(base, sv[1]);
	}
	turn(base, sv[1]);
	while (fz.srv.srv_head != NULL)
		client_close(fz.srv.srv_head, "fuzz: done");
	bot_read(sv[1]);
	close(sv[1]);
	event_free(fz.xfer.fx_ev);
	fz.xfer.fx_ev = NULL;
	event_base_free(base);

	if (fz.srv.srv_clients != 0 || fz.srv.srv_inflight != 0 ||
	    fz.xfer.fx_req != NULL || fz.cfg->cfg_refs != 1)
		abort();
	if (fz.rp_bad)
		abort();
	return 0;
}
