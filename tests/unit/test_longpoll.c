/* SPDX-License-Identifier: ISC */
/*
 * longpoll.c and pollarg.c, the pure parts: the timeout read and
 * rewritten as the Bot API reads it; what counts as an empty result; the
 * slice a bot and a proxy learn from swallowed and answered polls (the
 * proxy's only from two bots); a reload keeps it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "failover.h"
#include "log.h"
#include "longpoll.h"
#include "pollarg.h"
#include "proxy.h"
#include "tap.h"

#define J	"application/json"
#define F	"application/x-www-form-urlencoded"
#define M	"multipart/form-data; boundary=XyZ"
#define MP(name, v)	"--XyZ\r\nContent-Disposition: form-data; name=\"" \
	name "\"\r\n\r\n" v "\r\n"
#define S	POLLARG_SURE
#define D	POLLARG_DOUBT
#define A	POLLARG_ABSENT

/* A getUpdates timeout read as the Bot API reads it (issue 24). */
static const struct {
	const char	*query, *ctype, *body;
	int		 state, src;
	long		 secs;
	const char	*what;
} reads[] = {
	{ "offset=5&timeout=10", NULL, NULL, S, POLLARG_QUERY, 10, "query" },
	{ "", J, "{\"x\":{\"timeout\":1},\"timeout\":20}", S, POLLARG_JSON,
	    20, "a nested timeout is not the poll's: top level only" },
	{ "", J, "{\"x\":{\"timeout\":1}}", A, POLLARG_NONE, 0,
	    "only a nested one: no timeout (the Bot API's 0)" },
	{ "", J, "{\"timeout\":3.0}", S, POLLARG_JSON, 3, "a float: 3.0 is 3" },
	{ "", J, "{\"timeout\":7.9}", S, POLLARG_JSON, 7, "7.9 is 7, cut" },
	{ "", J, "{\"timeout\":3e1}", D, POLLARG_JSON, 50,
	    "3e1: 3 to the Bot API, 30 to jansson: in doubt" },
	{ "", J, "{\"time\\u006fut\":30}", S, POLLARG_JSON, 30,
	    "a \\u-escaped key is read" },
	{ "", J, "{\"timeout\":5,\"timeout\":20}", D, POLLARG_JSON, 50,
	    "a key given twice: in doubt" },
	{ "", J, "{\"timeout\":5,\"time\\u006fut\":20}", D, POLLARG_JSON, 50,
	    "twice, once escaped: in doubt" },
	{ "", J, "{\"timeout\":1000}", S, POLLARG_JSON, 50, "1000: 50" },
	{ "", J, "{\"timeout\":99999999999999}", D, POLLARG_JSON, 50,
	    "past int32: in doubt" },
	{ "", J, "{\"timeout\":-4}", S, POLLARG_JSON, 0, "negative: 0" },
	{ "", J, "{\"timeout\":\"25\"}", S, POLLARG_JSON, 25, "a string" },
	{ "", J, "{\"timeout\":\" 25\"}", D, POLLARG_JSON, 50,
	    "a string with a space: in doubt" },
	{ "", J, "{\"timeout\":\"abc\"}", D, POLLARG_JSON, 50,
	    "not a number: in doubt" },
	{ "", J, "{\"timeout\":{\"timeout\":5}}", D, POLLARG_JSON, 50,
	    "an object: in doubt" },
	{ "", J, "{\"timeout\":true}", D, POLLARG_JSON, 50, "true: in doubt" },
	{ "", J, "[{\"timeout\":5}]", D, POLLARG_JSON, 50,
	    "not an object: in doubt" },
	{ "", J, "{\"timeout\":5", D, POLLARG_JSON, 50, "cut JSON: in doubt" },
	{ "timeout=20", J, "{\"timeout\":1}", S, POLLARG_QUERY, 20,
	    "query over body" },
	{ "timeout=20", J, "{bad", S, POLLARG_QUERY, 20,
	    "query over a bad body" },
	{ "timeout=10&timeout=1", NULL, NULL, D, POLLARG_QUERY, 50,
	    "twice in the query: in doubt" },
	{ "time%6Fut=12&offset=3", NULL, NULL, S, POLLARG_QUERY, 12,
	    "a percent-escaped key" },
	{ "timeout=12.5", NULL, NULL, S, POLLARG_QUERY, 12, "12.5 is 12" },
	{ "timeout=1e3", NULL, NULL, D, POLLARG_QUERY, 50, "1e3: in doubt" },
	{ "timeout=9999999999", NULL, NULL, D, POLLARG_QUERY, 50,
	    "ten digits: in doubt" },
	{ "timeout=", NULL, NULL, S, POLLARG_QUERY, 0, "empty: the default 0" },
	{ "offset=3&timeout", NULL, NULL, S, POLLARG_QUERY, 0,
	    "a key alone: empty, 0" },
	{ "read_timeout=10&xtimeout=3", NULL, NULL, A, POLLARG_NONE, 0,
	    "other keys" },
	{ "", F, "offset=7&timeout=30&limit=100", S, POLLARG_FORM, 30,
	    "urlencoded" },
	{ "", F, "timeout=30&timeout=1", D, POLLARG_FORM, 50,
	    "urlencoded twice: in doubt" },
	{ "", M, MP("offset", "7") MP("timeout", "30") "--XyZ--\r\n", S,
	    POLLARG_MULTIPART, 30, "multipart" },
	{ "", M, MP("timeout", "9") MP("timeout", "1") "--XyZ--\r\n", D,
	    POLLARG_MULTIPART, 50, "multipart twice: in doubt" },
	{ "", M, MP("timeout", "9"), D, POLLARG_MULTIPART, 50,
	    "multipart unterminated: in doubt" },
	{ "", "text/plain", "{\"timeout\":5}", D, POLLARG_NONE, 50,
	    "another Content-Type: in doubt" },
	{ "", NULL, "{\"timeout\":5}", D, POLLARG_NONE, 50,
	    "no Content-Type: in doubt" },
};

/* Rewritten where the Bot API reads it, and nowhere else. */
static const struct {
	int		 src;
	const char	*ctype, *in;
	long		 secs;
	const char	*out;		/* NULL: refused */
} rewrites[] = {
	{ POLLARG_QUERY, NULL, "offset=5&timeout=10", 1, "offset=5&timeout=1" },
	{ POLLARG_QUERY, NULL, "timeout=10&offset=5", 3, "timeout=3&offset=5" },
	{ POLLARG_QUERY, NULL, "time%6Fut=10", 2, "time%6Fut=2" },
	{ POLLARG_QUERY, NULL, "timeout=10&timeout=20", 2, NULL },
	{ POLLARG_QUERY, NULL, "offset=5", 1, NULL },
	{ POLLARG_QUERY, NULL, "offset=5&timeout", 4, "offset=5&timeout=4" },
	{ POLLARG_FORM, NULL, "offset=7&timeout=30&limit=100", 12,
	    "offset=7&timeout=12&limit=100" },
	{ POLLARG_JSON, NULL, "{\"x\":{\"timeout\":1},\"timeout\":20}", 4,
	    "{\"x\":{\"timeout\":1},\"timeout\":4}" },
	{ POLLARG_JSON, NULL, "{\"offset\": 7, \"timeout\": 3.0}", 1,
	    "{\"offset\":7,\"timeout\":1}" },
	{ POLLARG_JSON, NULL, "{\"time\\u006fut\":\"30\"}", 2,
	    "{\"timeout\":2}" },
	{ POLLARG_JSON, NULL, "{\"x\":{\"timeout\":1}}", 2, NULL },
	{ POLLARG_MULTIPART, M, MP("timeout", "30") "--XyZ--\r\n", 5,
	    MP("timeout", "5") "--XyZ--\r\n" },
};

static void
test_read(void)
{
	struct pollarg	 pa;
	size_t		 i;
	const char	*b;

	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		b = reads[i].body != NULL ? reads[i].body : "";
		pollarg_read(&pa, reads[i].query, strlen(reads[i].query),
		    reads[i].ctype, b, strlen(b));
		ok(pa.pa_state == reads[i].state && pa.pa_src == reads[i].src &&
		    pa.pa_secs == reads[i].secs, "%s (state %d, src %d, %ld s)",
		    reads[i].what, pa.pa_state, pa.pa_src, pa.pa_secs);
	}
	pollarg_read(&pa, "", 0, J, NULL, -1);
	ok(pa.pa_state == POLLARG_DOUBT && pa.pa_secs == 50,
	    "a body not read (chunked, or too long): in doubt");
}

static void
test_rewrite(void)
{
	size_t	 i, n;
	char	*out;
	int	 rc;

	for (i = 0; i < sizeof(rewrites) / sizeof(rewrites[0]); i++) {
		out = NULL;
		rc = pollarg_rewrite(rewrites[i].src, rewrites[i].ctype,
		    rewrites[i].in, strlen(rewrites[i].in), rewrites[i].secs,
		    &out, &n);
		if (rewrites[i].out == NULL)
			ok(rc == -1, "rewrite %zu (%s): refused", i,
			    rewrites[i].in);
		else {
			is_str(out, rewrites[i].out, "rewrite %zu with %ld s",
			    i, rewrites[i].secs);
			ok(out != NULL && n == strlen(out), "its length");
		}
		is_int(pollarg_rewrite(rewrites[i].src, rewrites[i].ctype,
		    rewrites[i].in, strlen(rewrites[i].in), 1, NULL, NULL),
		    rewrites[i].out == NULL ? -1 : 0,
		    "rewrite %zu: the check alone agrees", i);
		free(out);
	}
}

static const struct {
	const char	*body;
	int		 empty;
} empties[] = {
	{ "{\"ok\":true,\"result\":[]}", 1 },
	{ "{\"result\":[],\"ok\":true}", 1 },
	{ " { \"ok\" : true ,\r\n \"result\" : [ ] } \n", 1 },
	{ "{\"ok\":true,\"result\":[{\"update_id\":1}]}", 0 },
	{ "{\"ok\":false,\"error_code\":409,\"description\":\"Conflict\"}", 0 },
	{ "{\"ok\":true,\"result\":[]", 0 },
	{ "", 0 },
	{ "{\"ok\":true,\"result\":[],\"x\":1}", 0 },
};

/* The updates a getUpdates answer carries: calls that will follow. */
static const struct {
	const char	*body;
	int		 n;
	const char	*what;
} counts[] = {
	{ "{\"ok\":true,\"result\":[]}", 0, "an empty result" },
	{ "{\"ok\":true,\"result\":[{\"update_id\":7,\"message\":{}},"
	    "{\"update_id\":8,\"message\":{}}]}", 2, "two updates" },
	{ "{\"result\":[{ \"update_id\" :\n9}],\"ok\":true}", 1,
	    "white space around the colon" },
	{ "{\"ok\":true,\"result\":[{\"update_id\":1,\"message\":"
	    "{\"text\":\"update_id\"}}]}", 1,
	    "a text that is \"update_id\": a value, not a key" },
	{ "{\"ok\":true,\"result\":[{\"update_id\":1,\"message\":"
	    "{\"text\":\"{\\\"update_id\\\": 5}\"}}]}", 1,
	    "a text holding {\"update_id\": 5}: escaped, not counted" },
	{ "{\"ok\":true,\"result\":[{\"update_ids\":1,\"xupdate_id\":2,"
	    "\"update_id\"}]}", 0, "other keys, and a key with no colon" },
	{ "{\"ok\":false,\"error_code\":409,\"description\":\"Conflict\"}", 0,
	    "an error" },
	{ "\"\"update_id\":3", 1, "a quote just before the key" },
};

/* The timeout of one upstream poll, and whether an empty answer is held. */
static const struct {
	long	 bot, left, slice;
	int	 swallowed, first;
	long	 secs;
	int	 hold;
	const char	*what;
} polls[] = {
	{ 10, 9990, 0, 0, 1, 10, 0, "no slice: the bot's own timeout" },
	{ 10, 7000, 0, 0, 0, 10, 0,
	    "no slice, a retry: still the bot's own, as before" },
	{ 10, 9990, 25, 0, 1, 10, 0, "a slice longer than the poll: as is" },
	{ 10, 9990, 1, 0, 1, 1, 1, "slice 1: 1 s, an empty answer held" },
	{ 10, 5500, 2, 0, 0, 2, 1, "slice 2, 5.5 s left: 2 s, held" },
	{ 10, 2500, 2, 0, 0, 2, 0, "slice 2, 2.5 s left: 2 s, the last one" },
	{ 10, 1200, 2, 0, 0, 1, 0, "slice 2, 1.2 s left: 1 s, the last one" },
	{ 10, -4000, 5, 1, 0, 0, 0,
	    "swallowed past the bot's timeout: 0 s, whatever is there" },
	{ 10, 3000, 0, 1, 0, 3, 0, "swallowed with 3 s left, no slice: 3 s" },
	{ 30, 29990, 5, 0, 1, 5, 1, "slice 5 of a 30 s poll: held" },
};

static void
test_secs(void)
{
	size_t	 i;
	long	 secs;
	int	 hold;

	for (i = 0; i < sizeof(polls) / sizeof(polls[0]); i++) {
		secs = longpoll_secs(polls[i].bot, polls[i].left,
		    polls[i].slice, polls[i].swallowed, polls[i].first, &hold);
		ok(secs == polls[i].secs && hold == polls[i].hold,
		    "%s (%ld s, hold %d)", polls[i].what, secs, hold);
	}
}

/* Whole, and cut in two at every byte: the count is the same. */
static void
test_count(void)
{
	size_t	 i, cut, len;
	int	 st, n, same;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		len = strlen(counts[i].body);
		st = 0;
		is_int(longpoll_count(&st, counts[i].body, len), counts[i].n,
		    "%s: %d update(s)", counts[i].what, counts[i].n);
		for (same = 1, cut = 0; cut <= len; cut++) {
			st = 0;
			n = longpoll_count(&st, counts[i].body, cut);
			n += longpoll_count(&st, counts[i].body + cut, len - cut);
			if (n != counts[i].n)
				same = 0;
		}
		ok(same, "%s: the same cut at any byte", counts[i].what);
	}
}

static void
test_empty(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++)
		is_int(longpoll_is_empty(empties[i].body,
		    strlen(empties[i].body)), empties[i].empty,
		    "body %zu is %sempty", i,
		    empties[i].empty ? "" : "not ");
	ok(!longpoll_is_empty("{\"ok\":true,\"result\":[]}\0x", 25),
	    "a NUL byte is not white space");
}

static struct timespec
at(long s)
{
	struct timespec	 ts = { s, 0 };

	return (ts);
}

static void
test_learn(void)
{
	struct proxy_slice	 ps;
	struct timespec		 t;
	int			 i, changed;

	memset(&ps, 0, sizeof(ps));
	t = at(100);
	ok(longpoll_learn_ok(&ps, 10, &t) == 0 && ps.ps_secs == 0,
	    "a proxy that keeps tunnels: no slice from answered polls");
	ok(longpoll_learn_swallowed(&ps, 10, &t) == 1 && ps.ps_secs == 5,
	    "a swallowed 10 s poll: slices of 5 s");
	ok(longpoll_learn_swallowed(&ps, 10, &t) == 0 && ps.ps_secs == 5,
	    "another 10 s poll of the same time swallowed: still 5 s");
	ok(longpoll_learn_swallowed(&ps, 5, &t) == 1 && ps.ps_secs == 2,
	    "a swallowed 5 s slice: 2 s");
	ok(longpoll_learn_swallowed(&ps, 2, &t) == 1 && ps.ps_secs == 1,
	    "a swallowed 2 s slice: 1 s");
	ok(longpoll_learn_swallowed(&ps, 1, &t) == 0 && ps.ps_secs == 1,
	    "never below 1 s");
	ok(longpoll_learn_swallowed(&ps, 0, &t) == 0 && ps.ps_secs == 1,
	    "a swallowed short poll: still 1 s");
	for (i = 0, changed = 0; i < 100; i++)
		changed |= longpoll_learn_ok(&ps, 1, &t);
	ok(!changed && ps.ps_secs == 1,
	    "100 full slices in no time: no probe yet (a period must pass)");
	t = at(100 + 5 * 60);
	ok(longpoll_learn_ok(&ps, 1, &t) == 1 && ps.ps_secs == 2,
	    "after 5 min and 20 slices: probe 2 s");
	t = at(100 + 11 * 60);
	for (i = 0, changed = 0; i < 19; i++)
		changed |= longpoll_learn_ok(&ps, 2, &t);
	ok(!changed && ps.ps_secs == 2, "19 slices: not yet");
	ok(longpoll_learn_ok(&ps, 1, &t) == 0 && ps.ps_secs == 2,
	    "a poll shorter than the slice proves nothing");
	ok(longpoll_learn_ok(&ps, 2, &t) == 1 && ps.ps_secs == 4,
	    "the 20th: probe 4 s");
	ok(longpoll_learn_swallowed(&ps, 4, &t) == 1 && ps.ps_secs == 2,
	    "the probe swallowed: back to 2 s");
	ps.ps_secs = 32;
	ps.ps_ok = 19;
	t = at(100 + 60 * 60);
	ok(longpoll_learn_ok(&ps, 32, &t) == 1 && ps.ps_secs == 0,
	    "past the Bot API's own 50 s: no slicing at all");
}

/* One bot's swallowed polls slice its own; the proxy's takes two bots. */
static void
test_witness(void)
{
	struct proxy	 px;
	struct timespec	 t;
	char		 bot[24];
	int		 i;

	memset(&px, 0, sizeof(px));
	t = at(1000);
	is_int(longpoll_learn_witness(&px, "111", 10, &t), LONGPOLL_OWN,
	    "bot A swallowed: its own slice only");
	ok(longpoll_slice_of(&px, "111") == 5 &&
	    longpoll_slice_of(&px, "222") == 0 && px.px_slice.ps_secs == 0,
	    "A's polls 5 s, B's whole, the proxy's unchanged");
	t = at(1100);
	is_int(longpoll_learn_witness(&px, "111", 4, &t), LONGPOLL_OWN,
	    "A again, however often: still only its own");
	ok(px.px_slice.ps_secs == 0 && longpoll_slice_of(&px, "111") == 2,
	    "A 2 s, the proxy's still none");
	t = at(1200);
	is_int(longpoll_learn_witness(&px, "222", 10, &t),
	    LONGPOLL_OWN | LONGPOLL_SHARED, "then bot B swallowed: the proxy's");
	ok(px.px_slice.ps_secs == 5 && longpoll_slice_of(&px, "333") == 5 &&
	    longpoll_slice_of(&px, "111") == 2,
	    "every bot 5 s; A keeps its shorter own");
	memset(&px, 0, sizeof(px));
	t = at(1000);
	longpoll_learn_witness(&px, "111", 10, &t);
	t = at(1000 + 11 * 60);
	is_int(longpoll_learn_witness(&px, "222", 10, &t), LONGPOLL_OWN,
	    "B's swallow 11 min after A's: too far apart for the proxy's");
	memset(&px, 0, sizeof(px));
	for (i = 0; i < 20; i++) {
		snprintf(bot, sizeof(bot), "%d", 100 + i);
		t = at(1000 + i);
		longpoll_learn_witness(&px, bot, 10, &t);
	}
	ok(longpoll_slice_of(&px, "119") != 0 &&
	    longpoll_slice_of(&px, "100") == px.px_slice.ps_secs,
	    "20 bots: %d entries kept, the oldest given up", PROXY_WITNESSES);
	memset(&px, 0, sizeof(px));
	t = at(1000);
	longpoll_learn_witness(&px, "111", 2, &t);
	t = at(1000 + 6 * 60);
	for (i = 0; i < 20; i++)
		longpoll_learn_answered(&px, "111", 1, &t);
	ok(longpoll_slice_of(&px, "111") == 2,
	    "a bot's own slice is probed up as the proxy's is");
}

static void
test_inherit(void)
{
	struct config	 a, b;
	char		 err[TGS_ERRLEN];

	config_init(&a);
	config_init(&b);
	proxy_clear(&a.cfg_proxy[0]);
	proxy_clear(&b.cfg_proxy[0]);
	proxy_clear(&b.cfg_proxy[1]);
	if (proxy_parse(&a.cfg_proxy[0], "http://p0:3128", err,
	    sizeof(err)) == -1 || proxy_parse(&b.cfg_proxy[0],
	    "http://p1:3128", err, sizeof(err)) == -1 ||
	    proxy_parse(&b.cfg_proxy[1], "http://p0:3128", err,
	    sizeof(err)) == -1)
		diag("%s", err);
	a.cfg_nproxy = 1;
	b.cfg_nproxy = 2;
	a.cfg_proxy[0].px_slice.ps_secs = 2;
	failover_inherit(&b, &a);
	ok(b.cfg_proxy[1].px_slice.ps_secs == 2 &&
	    b.cfg_proxy[0].px_slice.ps_secs == 0,
	    "a reload: the same proxy keeps its slice, a new one has none");
	config_free(&a);
	config_free(&b);
}

int
main(void)
{
	log_init(LOG_LEVEL_WARN);
	test_read();
	test_rewrite();
	test_witness();
	test_secs();
	test_empty();
	test_count();
	test_learn();
	test_inherit();
	return (done_testing());
}
