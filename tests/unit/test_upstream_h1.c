/* SPDX-License-Identifier: ISC */
/*
 * The reply parser of the framer (upstream_h1.c, upstream_head.c) as a
 * table: each upstream reply, whole, one byte per read, and for some
 * split at every byte boundary, and the one outcome it must have: the
 * stage and words of a refusal, or the bytes handed to the bot.  The
 * connection is fakeconn.c over a socketpair (no TLS, no libcurl).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <http_parser.h>

#include "conf.h"
#include "replyrun.h"
#include "tap.h"
#include "upstream_fail.h"

#define BODY	"{\"ok\":true,\"result\":{\"id\":123456,\"is_bot\":true}}"
#define CL	"Content-Length: 48\r\n"
#define OK	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
#define GOOD	OK CL "\r\n" BODY
#define P102	"HTTP/1.1 102 Processing\r\n\r\n"

#define W_FRAME	"a Content-Length or Transfer-Encoding that cannot be framed"
#define W_TOKEN	"a header that is not a token and a clean value"
#define W_BIG	"more header bytes than the sidecar keeps"

enum { SPLIT = 1, HEAD = 2, NOCLOSE = 4 };

struct row {
	const char	*r_what;
	const char	*r_piece[4];	/* NULL-ended; big ones made below */
	int		 r_flags;
	long		 r_gap_ms;
	int		 r_stage;	/* UST_NONE: answered */
	const char	*r_why;		/* words of the refusal */
	const char	*r_has[3];	/* in what the bot was handed */
	const char	*r_lacks[2];	/* never in it */
	int		 r_status;	/* the bot's, 0: none */
};

static const struct row rows[] = {
	{ "a good reply", { GOOD }, SPLIT, 0, UST_NONE, NULL,
	    { "Content-Length: 48\n\n" BODY }, { NULL }, 200 },
	{ "chunked with trailers", { OK "Transfer-Encoding: chunked\r\n\r\n"
	    "30\r\n" BODY "\r\n0\r\nX-Trailer: t\r\n\r\n" }, SPLIT, 0, UST_NONE,
	    NULL, { "Transfer-Encoding: chunked\n", BODY },
	    { "X-Trailer" }, 200 },
	{ "chunk extensions", { OK "Transfer-Encoding: chunked\r\n\r\n"
	    "30;a=b\r\n" BODY "\r\n0\r\n\r\n" }, 0, 0, UST_NONE, NULL,
	    { BODY }, { "a=b" }, 200 },
	{ "100 Continue, then the answer", { "HTTP/1.1 100 Continue\r\n\r\n",
	    GOOD }, SPLIT, 0, UST_NONE, NULL, { "\n\n" BODY }, { "100" }, 200 },
	{ "100 with a Content-Length, then the answer", { "HTTP/1.1 100 "
	    "Continue\r\nContent-Length: 5\r\n\r\n" GOOD }, SPLIT, 0,
	    UST_NONE, NULL, { "\n\n" BODY }, { "100" }, 200 },
	{ "three 102s, then the answer", { P102 P102, P102 GOOD }, 0, 0,
	    UST_NONE, NULL, { "\n\n" BODY }, { "102" }, 200 },
	{ "HTTP/1.0 ended by a close", { "HTTP/1.0 200 OK\r\n\r\n" BODY }, 0,
	    0, UST_NONE, NULL, { "\n\n" BODY }, { NULL }, 200 },
	{ "204 with a body", { "HTTP/1.1 204 No Content\r\nContent-Length: 5"
	    "\r\n\r\nhello" }, 0, 0, UST_NONE, NULL, { NULL },
	    { "hello", "Content-Length" }, 204 },
	{ "304 with a chunked body", { "HTTP/1.1 304 Not Modified\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" }, 0, 0,
	    UST_NONE, NULL, { NULL }, { "hello" }, 304 },
	{ "a HEAD's answer with a Content-Length", { OK CL "\r\n" }, HEAD |
	    NOCLOSE, 0, UST_NONE, NULL, { "Content-Length: 48\n" }, { BODY },
	    200 },
	{ "a HEAD's answer with no length", { OK "\r\n" }, HEAD, 0,
	    UST_NONE, NULL, { "Content-Type: application/json\n" }, { NULL },
	    200 },
	{ "empty header values", { OK "X-Empty:\r\nX-Sp: \r\n" CL "\r\n"
	    BODY }, 0, 0, UST_NONE, NULL, { "X-Empty: \n", "X-Sp: \n",
	    BODY }, { NULL }, 200 },
	{ "Connection-listed headers", { OK "Connection: X-Secret, close\r\n"
	    "X-Secret: 1\r\nKeep-Alive: 5\r\nX-Kept: 2\r\n" CL "\r\n" BODY },
	    0, 0, UST_NONE, NULL, { "X-Kept: 2\n", BODY },
	    { "X-Secret", "Keep-Alive" }, 200 },
	{ "two equal Content-Lengths", { OK CL CL "\r\n" BODY }, SPLIT, 0,
	    UST_REPLY, W_FRAME, { NULL }, { NULL }, 0 },
	{ "Content-Length: +48", { OK "Content-Length: +48\r\n\r\n" BODY }, 0,
	    0, UST_REPLY, W_FRAME, { NULL }, { NULL }, 0 },
	{ "Content-Length and Transfer-Encoding", { OK CL
	    "Transfer-Encoding: chunked\r\n\r\n" BODY }, 0, 0, UST_REPLY,
	    W_FRAME, { NULL }, { NULL }, 0 },
	{ "Transfer-Encoding: gzip", { OK "Transfer-Encoding: gzip\r\n\r\n"
	    BODY }, 0, 0, UST_REPLY, W_FRAME, { NULL }, { NULL }, 0 },
	{ "a 204 with a field named Transfer-Encodingx", { "HTTP/1.1 204 No "
	    "Content\r\nTransfer-Encodingx: chunked\r\n\r\n" }, NOCLOSE, 0,
	    UST_REPLY, W_FRAME, { NULL }, { NULL }, 0 },
	{ "a field named Transfer-Encoding-X", { OK "Transfer-Encoding-X: x"
	    "\r\n\r\n" BODY }, 0, 0, UST_REPLY, W_FRAME, { NULL }, { NULL },
	    0 },
	{ "a bare CR in a value", { OK "X-A: 1\rX-B: 2\r\n" CL "\r\n" BODY },
	    SPLIT, 0, UST_REPLY, W_TOKEN, { NULL }, { NULL }, 0 },
	{ "a value with 0x01", { OK "X-A: 1\x01" "2\r\n" CL "\r\n" BODY }, 0,
	    0, UST_REPLY, W_TOKEN, { NULL }, { NULL }, 0 },
	{ "a name with a space", { OK "X-A : 1\r\n" CL "\r\n" BODY }, 0, 0,
	    UST_REPLY, W_TOKEN, { NULL }, { NULL }, 0 },
	{ "obs-fold", { OK "X-A: 1\r\n folded\r\n" CL "\r\n" BODY }, SPLIT,
	    0, UST_REPLY, "obs-fold", { NULL }, { NULL }, 0 },
	{ "obs-fold by a tab, in a read of its own", { OK "X-A: 1\r\n",
	    "\tfolded\r\n" CL "\r\n" BODY }, 0, 0, UST_REPLY, "obs-fold",
	    { NULL }, { NULL }, 0 },
	{ "101 followed by bytes", { "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n" GOOD }, 0, 0,
	    UST_REPLY, "protocol switch (101)", { NULL }, { NULL }, 0 },
	{ "101 with no fields", { "HTTP/1.1 101 Switching Protocols\r\n\r\n"
	    GOOD }, 0, 0, UST_REPLY, "protocol switch (101)", { NULL },
	    { NULL }, 0 },
	{ "status 600", { "HTTP/1.1 600 Odd\r\n" CL "\r\n" BODY }, 0, 0,
	    UST_REPLY, "not 100 to 599", { NULL }, { NULL }, 0 },
	{ "status 099", { "HTTP/1.1 099 Odd\r\n" CL "\r\n" BODY }, 0, 0,
	    UST_REPLY, NULL, { NULL }, { NULL }, 0 },
	{ "not HTTP at all", { "SSH-2.0-OpenSSH_9.2\r\n\r\n" }, 0, 0,
	    UST_REPLY, "not HTTP/1.1", { NULL }, { NULL }, 0 },
	{ "a chunk size that is not hex", { OK "Transfer-Encoding: chunked"
	    "\r\n\r\nzz\r\n" BODY "\r\n0\r\n\r\n" }, 0, 0, UST_REPLY,
	    "chunked body", { NULL }, { NULL }, 200 },
	{ "closed with no reply", { NULL }, 0, 0, UST_BROKEN,
	    "closed before any reply", { NULL }, { NULL }, 0 },
	{ "a head cut by a close", { OK "X-A: 1\r\nContent-Le" }, SPLIT, 0,
	    UST_BROKEN, "closed in the middle of the reply", { NULL },
	    { NULL }, 0 },
	{ "a body cut by a close", { OK "Content-Length: 100\r\n\r\n" BODY },
	    0, 0, UST_BROKEN, "closed in the middle of the reply",
	    { "Content-Length: 100\n", BODY }, { NULL }, 200 },
	{ "a chunked body cut by a close", { OK "Transfer-Encoding: chunked"
	    "\r\n\r\n30\r\n" BODY }, 0, 0, UST_BROKEN, "closed in the middle "
	    "of the reply", { BODY }, { NULL }, 200 },
	{ "no answer", { NULL }, NOCLOSE, 0, UST_TIMEOUT, NULL, { NULL },
	    { NULL }, 0 },
	{ "a head trickling past the wait", { OK, "X-A: 1\r\n", "X-B: 1\r\n",
	    CL "\r\n" BODY }, NOCLOSE, 150, UST_TIMEOUT, NULL, { NULL },
	    { NULL }, 0 },
	{ "102s trickling past the wait", { P102, P102, P102, GOOD }, NOCLOSE,
	    150, UST_TIMEOUT, NULL, { NULL }, { NULL }, 0 },
	{ "a body that stalls", { OK "Content-Length: 100\r\n\r\n" BODY },
	    NOCLOSE, 0, UST_RECV_TIMEOUT, NULL, { BODY }, { NULL }, 200 },
};

static int
contains(const char *hay, size_t len, const char *needle)
{
	return (memmem(hay, len, needle, strlen(needle)) != NULL);
}

/* Bytes as a TAP line can show them. */
static const char *
vis(const char *s, size_t n, char *buf, size_t len)
{
	size_t	 i, o = 0;

	for (i = 0; i < n && o + 5 < len; i++) {
		if (s[i] == '\r')
			o += snprintf(buf + o, len - o, "\\r");
		else if (s[i] == '\n')
			o += snprintf(buf + o, len - o, "\\n");
		else if ((unsigned char)s[i] < ' ' || (unsigned char)s[i] > '~')
			o += snprintf(buf + o, len - o, "\\x%02x",
			    (unsigned char)s[i]);
		else
			buf[o++] = s[i];
	}
	buf[o] = '\0';
	return (buf);
}

/*
 * The outcome as one line, for comparing two ways to read a reply: the
 * stage, its words, and what the bot read (not how it was framed).
 */
static void
outcome(const struct replyrun *rr, char *buf, size_t len)
{
	struct replyrun_bot	 rb;
	char			 v[400];

	replyrun_bot(rr, &rb);
	snprintf(buf, len, "stage %d why \"%s\" bot %d %d \"%s\"",
	    rr->rr_stage, rr->rr_why, rb.rb_parsed, rb.rb_status,
	    rb.rb_text != NULL ? vis(rb.rb_text, rb.rb_len, v, sizeof(v)) :
	    "");
	replyrun_bot_clear(&rb);
}

static void
setup(struct replyrun *rr, const struct row *r, const char *const *pieces,
    size_t *lens, size_t rmax)
{
	int	 i;

	memset(rr, 0, sizeof(*rr));
	for (i = 0; i < 4 && pieces[i] != NULL; i++) {
		rr->rr_piece[i] = pieces[i];
		rr->rr_len[i] = lens != NULL ? lens[i] : strlen(pieces[i]);
	}
	rr->rr_npieces = i;
	rr->rr_gap_ms = r->r_gap_ms;
	rr->rr_close = !(r->r_flags & NOCLOSE);
	rr->rr_rmax = rmax;
	rr->rr_method = r->r_flags & HEAD ? HTTP_HEAD : HTTP_GET;
	rr->rr_wait_ms = 300;
}

static int
check(const struct row *r, const struct replyrun *rr, const char *how)
{
	struct replyrun_bot	 rb;
	char			 v[200];
	int			 good = 1, i;

	good &= ok(rr->rr_ends == 1, "%s, %s: the attempt ends once (%d)",
	    r->r_what, how, rr->rr_ends);
	good &= is_int(rr->rr_stage, r->r_stage, "%s, %s: stage", r->r_what,
	    how);
	if (r->r_why != NULL)
		good &= like(rr->rr_why, r->r_why, "%s, %s: the words",
		    r->r_what, how);
	replyrun_bot(rr, &rb);
	/* Answered: one whole message; failed after the head: cut. */
	if (r->r_stage == UST_NONE)
		good &= is_int(rb.rb_parsed, 1, "%s, %s: the bot reads one "
		    "whole reply", r->r_what, how);
	else if (rr->rr_head_sent)
		good &= is_int(rb.rb_parsed, 0, "%s, %s: the bot's reply is "
		    "cut (its connection will close)", r->r_what, how);
	else
		good &= is_int((int)rr->rr_outlen, 0, "%s, %s: nothing handed "
		    "to the bot (the owner writes its error)", r->r_what, how);
	if (r->r_status != 0)
		good &= is_int(rb.rb_status, r->r_status, "%s, %s: the bot's "
		    "status", r->r_what, how);
	for (i = 0; i < 3 && r->r_has[i] != NULL; i++)
		good &= ok(rb.rb_text != NULL && contains(rb.rb_text,
		    rb.rb_len, r->r_has[i]), "%s, %s: the bot reads \"%s\"",
		    r->r_what, how, vis(r->r_has[i], 24, v, sizeof(v)));
	for (i = 0; i < 2 && r->r_lacks[i] != NULL; i++)
		good &= ok(rb.rb_text == NULL || !contains(rb.rb_text,
		    rb.rb_len, r->r_lacks[i]), "%s, %s: the bot never reads "
		    "\"%s\"", r->r_what, how, vis(r->r_lacks[i], 24, v,
		    sizeof(v)));
	if (!good && rr->rr_out != NULL)
		diag("out: %s", vis(rr->rr_out, rr->rr_outlen > 190 ? 190 :
		    rr->rr_outlen, v, sizeof(v)));
	replyrun_bot_clear(&rb);
	return (good);
}

/* A one-piece row cut at every byte: the same outcome at each cut. */
static void
every_split(struct event_base *base, struct config *cfg, const struct row *r,
    const char *whole)
{
	struct replyrun	 rr;
	const char	*pieces[3];
	size_t		 lens[2], n = strlen(whole), k, bad = 0;
	char		 want[512], got[512];

	setup(&rr, r, (const char *[]){ whole, NULL }, NULL, 0);
	replyrun(base, cfg, &rr);
	outcome(&rr, want, sizeof(want));
	replyrun_clear(&rr);
	for (k = 1; k < n; k++) {
		pieces[0] = whole;
		pieces[1] = whole + k;
		pieces[2] = NULL;
		lens[0] = k;
		lens[1] = n - k;
		setup(&rr, r, pieces, lens, 0);
		if (replyrun(base, cfg, &rr) == -1)
			bad++;
		outcome(&rr, got, sizeof(got));
		if (strcmp(got, want) != 0 && bad++ == 0)
			diag("cut at %zu: %s\nwhole: %s", k, got, want);
		replyrun_clear(&rr);
	}
	ok(bad == 0, "%s: cut at each of %zu bytes, the same outcome", r->r_what,
	    n - 1);
}

/* Replies too big for the table's strings. */
static void
big_rows(struct event_base *base, struct config *cfg)
{
	static const struct row big = { "big", { NULL }, 0, 0, UST_REPLY,
	    W_BIG, { NULL }, { NULL }, 0 };
	struct replyrun	 rr;
	char		*p;
	size_t		 n, i;
	const char	*what[3] = { "100 KB of headers", "a 70 KB field",
			    "20,000 102s" };
	struct row	 r = big;

	for (i = 0; i < 3; i++) {
		if ((p = malloc(700 * 1024)) == NULL)
			abort();
		n = 0;
		if (i == 0) {
			n += sprintf(p, OK);
			while (n < 100 * 1024)
				n += sprintf(p + n, "X-Pad-%zu: %0900d\r\n", n, 0);
		} else if (i == 1) {
			n += sprintf(p, OK "X-Big: ");
			memset(p + n, 'b', 70 * 1024);
			n += 70 * 1024;
			n += sprintf(p + n, "\r\n");
		} else {
			while (n < 20000 * (sizeof(P102) - 1))
				n += sprintf(p + n, P102);
		}
		n += sprintf(p + n, CL "\r\n" BODY);
		r.r_what = what[i];
		setup(&rr, &r, (const char *[]){ p, NULL }, &n, 0);
		replyrun(base, cfg, &rr);
		check(&r, &rr, "whole");
		replyrun_clear(&rr);
		setup(&rr, &r, (const char *[]){ p, NULL }, &n, 1);
		replyrun(base, cfg, &rr);
		check(&r, &rr, "a byte a read");
		replyrun_clear(&rr);
		free(p);
	}
}

int
main(void)
{
	struct event_base	*base;
	struct config		 cfg;
	struct replyrun		 rr;
	char			 a[512], b[512];
	size_t			 i;

	memset(&cfg, 0, sizeof(cfg));
	config_init(&cfg);
	cfg.cfg_stall_timeout_ms = 300;
	if ((base = event_base_new()) == NULL)
		return (1);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		setup(&rr, &rows[i], rows[i].r_piece, NULL, 0);
		ok(replyrun(base, &cfg, &rr) == 0, "%s: ends", rows[i].r_what);
		check(&rows[i], &rr, "whole");
		outcome(&rr, a, sizeof(a));
		if (i == 0)
			like(rr.rr_request, "GET /bot1:x/getMe HTTP/1.1\r\n"
			    "Host: api.telegram.org\r\n", "the request line and "
			    "Host went out");
		replyrun_clear(&rr);
		setup(&rr, &rows[i], rows[i].r_piece, NULL, 1);
		replyrun(base, &cfg, &rr);
		check(&rows[i], &rr, "a byte a read");
		outcome(&rr, b, sizeof(b));
		is_str(b, a, "%s: a byte a read, the same outcome",
		    rows[i].r_what);
		replyrun_clear(&rr);
		if ((rows[i].r_flags & SPLIT) && rows[i].r_piece[1] == NULL &&
		    rows[i].r_piece[0] != NULL)
			every_split(base, &cfg, &rows[i], rows[i].r_piece[0]);
	}
	big_rows(base, &cfg);
	event_base_free(base);
	config_free(&cfg);
	return (done_testing());
}
