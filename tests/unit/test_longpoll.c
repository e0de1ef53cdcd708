/* SPDX-License-Identifier: ISC */
/*
 * longpoll.c, the pure parts: the timeout rewritten in a query, an
 * urlencoded or a JSON body; what counts as an empty result; the slice a
 * proxy learns from swallowed and answered polls; a reload keeps it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "failover.h"
#include "log.h"
#include "longpoll.h"
#include "proxy.h"
#include "tap.h"

static const struct {
	const char	*in;
	long		 secs;
	int		 count;		/* -1: refused */
	const char	*out;
} rewrites[] = {
	{ "?offset=5&timeout=10", 1, 1, "?offset=5&timeout=1" },
	{ "?timeout=10&offset=5", 3, 1, "?timeout=3&offset=5" },
	{ "?timeout=50", 0, 1, "?timeout=0" },
	{ "?offset=5", 1, 0, "?offset=5" },
	{ "?read_timeout=10", 1, 0, "?read_timeout=10" },
	{ "?timeout=10&timeout=20", 2, 2, "?timeout=2&timeout=2" },
	{ "?timeout=10.5", 1, -1, NULL },
	{ "?timeout=10x", 1, -1, NULL },
	{ "?timeout=9999999", 1, -1, NULL },
	{ "offset=7&timeout=30&limit=100", 12, 1,
	    "offset=7&timeout=12&limit=100" },
	{ "{\"offset\":7,\"timeout\":30}", 1, 1,
	    "{\"offset\":7,\"timeout\":1}" },
	{ "{\"timeout\": 30, \"limit\": 5}", 4, 1,
	    "{\"timeout\": 4, \"limit\": 5}" },
	{ "{\"timeout\":\"30\"}", 2, 1, "{\"timeout\":\"2\"}" },
	{ "{ \"timeout\" : 25 }", 5, 1, "{ \"timeout\" : 5 }" },
	{ "timeout=", 1, 0, "timeout=" },
};

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

static void
test_rewrite(void)
{
	size_t	 i, n;
	char	*out;
	int	 c;

	for (i = 0; i < sizeof(rewrites) / sizeof(rewrites[0]); i++) {
		out = NULL;
		c = longpoll_rewrite(rewrites[i].in, strlen(rewrites[i].in),
		    rewrites[i].secs, &out, &n);
		is_int(c, rewrites[i].count, "%s: %d timeout(s) to rewrite",
		    rewrites[i].in, rewrites[i].count);
		if (rewrites[i].out != NULL) {
			is_str(out, rewrites[i].out, "%s with %ld s",
			    rewrites[i].in, rewrites[i].secs);
			ok(out != NULL && n == strlen(out), "its length");
		}
		is_int(longpoll_rewrite(rewrites[i].in,
		    strlen(rewrites[i].in), 1, NULL, NULL), rewrites[i].count,
		    "%s: the check alone agrees", rewrites[i].in);
		free(out);
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
	test_rewrite();
	test_secs();
	test_empty();
	test_count();
	test_learn();
	test_inherit();
	return (done_testing());
}
