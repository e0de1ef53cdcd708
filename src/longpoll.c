/* SPDX-License-Identifier: ISC */
/*
 * Long polls through a proxy that forgets idle tunnels.  A held
 * getUpdates is an idle tunnel: behind a proxy with a short idle limit the
 * server answers into a tunnel the proxy has forgotten, and nothing comes
 * back.  So:
 *
 * - an upstream poll with no answer byte a grace (longpoll_grace_ms())
 *   after its own timeout ran out is swallowed: it is dropped and sent
 *   again at once on a fresh connection (same offset: only the bot's next
 *   offset confirms updates, so an empty getUpdates is safe to repeat);
 * - the bot gets a slice: the longest timeout an upstream poll of it
 *   through that proxy may have, half the swallowed one, at least
 *   LONGPOLL_SLICE_MIN; a longer bot poll is then sent as polls of a
 *   slice each, and an empty answer before the bot's own timeout ends is
 *   kept from the bot and followed by the next slice.  Updates, errors and
 *   the last empty answer go to the bot as they came;
 * - every bot gets that slice (the proxy's px_slice) once polls of two
 *   bots were swallowed within LONGPOLL_WITNESS_MS: nothing one bot sends
 *   changes what the others get.  Only polls whose timeout was read
 *   without doubt (pollarg.c) are sliced, checked or learned from;
 * - after LONGPOLL_PROBE_POLLS full slices and LONGPOLL_PROBE_MS, the
 *   slice is doubled, up to no slicing at all: a limit that went away (or
 *   a false alarm) costs polls for a while, never updates.
 *
 * A proxy that keeps tunnels never gets a slice: one upstream poll per bot
 * poll, with the bot's own timeout.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf.h"
#include "header.h"
#include "log.h"
#include "longpoll.h"
#include "metrics.h"
#include "pollarg.h"
#include "proxy.h"
#include "reply.h"
#include "req.h"
#include "upstream_head.h"
#include "route.h"
#include "util.h"

/*
 * The Bot API answers a poll within a few ms of its timeout.  5 s covers a
 * busy machine or a slow proxy; a false alarm costs one repeated poll, and
 * a slice that is probed back up later.  Half of poll_timeout if that is
 * shorter, so the check comes before the transfer's own timeout.
 */
#define LONGPOLL_GRACE_MS	5000
#define LONGPOLL_SLICE_MIN	1	/* s: a Bot API timeout is whole s */
#define LONGPOLL_SLICE_MAX	50	/* s: the Bot API holds no longer */
#define LONGPOLL_PROBE_POLLS	20	/* full slices, then twice as long */
#define LONGPOLL_PROBE_MS	(5 * 60 * 1000)	/* and no sooner than this */
#define LONGPOLL_WITNESS_MS	(10 * 60 * 1000)	/* two bots' swallows apart */

/* {"ok":true,"result":[]}, in either order, with any white space. */
int
longpoll_is_empty(const char *p, size_t len)
{
	char	 s[LONGPOLL_HELD_MAX];
	size_t	 i, k = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\0')
			return (0);
		if (strchr(" \t\r\n", p[i]) != NULL)
			continue;
		if (k == sizeof(s) - 1)
			return (0);
		s[k++] = p[i];
	}
	s[k] = '\0';
	return (strcmp(s, "{\"ok\":true,\"result\":[]}") == 0 ||
	    strcmp(s, "{\"result\":[],\"ok\":true}") == 0);
}

/*
 * The "update_id" keys in a piece of a getUpdates answer, *state carrying
 * a key cut between pieces.  One per update: the key must be followed by
 * a colon, so a text that is "update_id" (a value) does not count, and
 * one that holds it in quotes is written \"update_id\" and breaks the
 * match.  No JSON parse: an answer of 100 updates is counted as it
 * streams by.
 */
int
longpoll_count(int *state, const char *p, size_t len)
{
	static const char	 key[] = "\"update_id\"";
	const int		 klen = sizeof(key) - 1;
	size_t			 i;
	int			 s = *state, n = 0;

	for (i = 0; i < len; i++) {
		if (s == klen) {
			if (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' ||
			    p[i] == '\n')
				continue;
			if (p[i] == ':')
				n++;
			s = 0;
		}
		if (p[i] == key[s])
			s++;
		else
			s = p[i] == '"';
	}
	*state = s;
	return (n);
}

/* A poll of secs went unanswered: half of it from now on.  1 if changed. */
int
longpoll_learn_swallowed(struct proxy_slice *ps, long secs,
    const struct timespec *now)
{
	long	 s = secs / 2;

	if (s < LONGPOLL_SLICE_MIN)
		s = LONGPOLL_SLICE_MIN;
	ps->ps_ok = 0;
	if (ps->ps_secs != 0 && ps->ps_secs <= s)
		return (0);
	ps->ps_secs = s;
	ps->ps_since = *now;
	return (1);
}

/* A full slice of secs came back: maybe try twice as long.  1 if changed. */
int
longpoll_learn_ok(struct proxy_slice *ps, long secs,
    const struct timespec *now)
{
	if (ps->ps_secs == 0 || secs != ps->ps_secs)
		return (0);
	if (++ps->ps_ok < LONGPOLL_PROBE_POLLS ||
	    util_ms_between(&ps->ps_since, now) < LONGPOLL_PROBE_MS)
		return (0);
	ps->ps_secs *= 2;
	if (ps->ps_secs >= LONGPOLL_SLICE_MAX)
		ps->ps_secs = 0;
	ps->ps_ok = 0;
	ps->ps_since = *now;
	return (1);
}
/*
 * The witness entry of bot in px: its own, else (take) a free one or the
 * one whose last swallowed poll is oldest.  NULL if none and !take.
 */
static struct proxy_witness *
longpoll_witness(struct proxy *px, const char *bot, int take)
{
	struct proxy_witness	*w, *pick = NULL;
	int			 i;

	for (i = 0; i < PROXY_WITNESSES; i++) {
		w = &px->px_wit[i];
		if (strcmp(w->pw_bot, bot) == 0 && bot[0] != '\0')
			return (w);
		if (!take)
			continue;
		if (pick == NULL || (pick->pw_bot[0] != '\0' &&
		    (w->pw_bot[0] == '\0' || util_ms_between(&w->pw_last,
		    &pick->pw_last) > 0)))
			pick = w;
	}
	if (pick != NULL) {
		memset(pick, 0, sizeof(*pick));
		snprintf(pick->pw_bot, sizeof(pick->pw_bot), "%s", bot);
	}
	return (pick);
}

/*
 * A poll of bot, its timeout of secs read without doubt, was swallowed
 * through px.  The bot's own polls get a slice at once; the slice every
 * bot gets (px_slice) only when another bot's poll was swallowed too
 * within LONGPOLL_WITNESS_MS: no one bot's requests, however shaped, set
 * what the others get.  LONGPOLL_OWN and LONGPOLL_SHARED: what changed.
 */
int
longpoll_learn_witness(struct proxy *px, const char *bot, long secs,
    const struct timespec *now)
{
	struct proxy_witness	*w, *o;
	int			 i, rc = 0, other = 0;

	if ((w = longpoll_witness(px, bot, 1)) == NULL)
		return (0);
	w->pw_last = *now;
	if (longpoll_learn_swallowed(&w->pw_slice, secs, now))
		rc |= LONGPOLL_OWN;
	for (i = 0; i < PROXY_WITNESSES; i++) {
		o = &px->px_wit[i];
		if (o != w && o->pw_bot[0] != '\0' &&
		    util_ms_between(&o->pw_last, now) <= LONGPOLL_WITNESS_MS)
			other = 1;
	}
	if (other && longpoll_learn_swallowed(&px->px_slice, secs, now))
		rc |= LONGPOLL_SHARED;
	return (rc);
}

/* The slice a poll of bot through px gets: the shorter of the two, 0: none. */
long
longpoll_slice_of(struct proxy *px, const char *bot)
{
	struct proxy_witness	*w = longpoll_witness(px, bot, 0);
	long			 s = px->px_slice.ps_secs;

	if (w != NULL && w->pw_slice.ps_secs != 0 &&
	    (s == 0 || w->pw_slice.ps_secs < s))
		s = w->pw_slice.ps_secs;
	return (s);
}

/* A full slice of secs of bot came back: each slice it was probes on. */
int
longpoll_learn_answered(struct proxy *px, const char *bot, long secs,
    const struct timespec *now)
{
	struct proxy_witness	*w = longpoll_witness(px, bot, 0);
	int			 rc = 0;

	if (w != NULL && longpoll_learn_ok(&w->pw_slice, secs, now))
		rc |= LONGPOLL_OWN;
	if (longpoll_learn_ok(&px->px_slice, secs, now))
		rc |= LONGPOLL_SHARED;
	return (rc);
}

static struct proxy *
longpoll_proxy(struct req *req)
{
	return (&req->req_cfg->cfg_proxy[req->req_proxy]);
}

static const char *
longpoll_proxy_name(struct req *req)
{
	const char	*url = longpoll_proxy(req)->px_url;

	return (url != NULL ? url : "direct");
}

static void
longpoll_learned(struct req *req, int what)
{
	struct proxy		*px = longpoll_proxy(req);
	struct proxy_witness	*w;
	long			 s = px->px_slice.ps_secs;

	if (what & LONGPOLL_SHARED) {
		if (s == 0)
			log_info("long polls through %s: no slicing from "
			    "now on", longpoll_proxy_name(req));
		else
			log_info("long polls through %s: upstream polls of "
			    "at most %ld s from now on",
			    longpoll_proxy_name(req), s);
	}
	if ((what & LONGPOLL_OWN) &&
	    (w = longpoll_witness(px, req->req_route.rt_bot, 0)) != NULL)
		log_info("long polls of bot %s through %s: upstream polls of "
		    "at most %ld s (0: any) from now on",
		    req->req_route.rt_bot, longpoll_proxy_name(req),
		    w->pw_slice.ps_secs);
}

static long
longpoll_grace_ms(struct req *req)
{
	long	 half = req->req_cfg->cfg_poll_timeout_ms / 2;

	return (half < LONGPOLL_GRACE_MS ? half : LONGPOLL_GRACE_MS);
}

/* ms left of the bot's own timeout, which runs from its request. */
static long
longpoll_left(struct req *req, const struct timespec *now)
{
	return (req->req_lp.lp_bot * 1000 -
	    util_ms_between(&req->req_start, now));
}

/* Nothing came back in time: the proxy forgot the tunnel. */
static void
longpoll_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct req	*req = arg;
	struct longpoll	*lp = &req->req_lp;
	struct timespec	 now;
	int		 learned;

	(void)fd;
	(void)what;
	if (req->req_reply == NULL || req->req_reply->rp_status != 0)
		return;		/* its answer has begun */
	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_longpoll(METRICS_LP_SWALLOWED);
	log_info("getUpdates of bot %s: no answer %ld ms after its %ld s "
	    "upstream poll through %s ended; polling again",
	    req->req_route.rt_bot, longpoll_grace_ms(req), lp->lp_secs,
	    longpoll_proxy_name(req));
	if ((learned = longpoll_learn_witness(longpoll_proxy(req),
	    req->req_route.rt_bot, lp->lp_secs, &now)) != 0)
		longpoll_learned(req, learned);
	lp->lp_swallowed = 1;
	lp->lp_again(req);
}

/* The request's Content-Type, in buf; NULL if none or more than one. */
static const char *
longpoll_ctype(const struct req *req, char *buf, size_t size)
{
	const struct curl_slist	*h;
	const char		*value;
	size_t			 nlen, vlen;
	int			 n = 0;

	for (h = req->req_hdrs; h != NULL; h = h->next) {
		if (header_split(h->data, strlen(h->data), &nlen, &value,
		    &vlen) == -1 || !header_is(h->data, nlen, "Content-Type"))
			continue;
		if (n++ > 0 || vlen >= size)
			return (NULL);
		memcpy(buf, value, vlen);
		buf[vlen] = '\0';
	}
	return (n == 1 ? buf : NULL);
}

/*
 * Read the poll's timeout as the Bot API will (pollarg.c), from the
 * query and, once it is all here (done), the body: req_poll_secs is it,
 * POLLARG_MAX in doubt, -1 if there is none.
 */
void
longpoll_read(struct req *req, int done)
{
	struct pollarg	*pa = &req->req_lp.lp_arg;
	char		 ctype[LONGPOLL_CTYPE_MAX];
	const char	*t, *q, *ct;
	size_t		 len;
	ssize_t		 blen = 0;

	t = (const char *)evbuffer_pullup(req->req_target, -1);
	len = evbuffer_get_length(req->req_target);
	if (t == NULL || (q = memchr(t, '?', len)) == NULL) {
		q = t = "";
		len = 0;
	} else
		q++;
	ct = longpoll_ctype(req, ctype, sizeof(ctype));
	if (req->req_has_body)
		blen = done ? (ssize_t)evbuffer_get_length(req->req_body) : -1;
	pollarg_read(pa, q, len - (q - t), ct,
	    blen > 0 ? (const char *)evbuffer_pullup(req->req_body, -1) : "",
	    blen);
	req->req_poll_secs = pa->pa_state == POLLARG_ABSENT ? -1 : pa->pa_secs;
}

/*
 * The timeout where the Bot API reads it (and only there) set to secs;
 * with check, only whether it can be.
 */
static int
longpoll_edit(struct req *req, long secs, int check)
{
	struct pollarg	*pa = &req->req_lp.lp_arg;
	char		 ctype[LONGPOLL_CTYPE_MAX], *s, *url, *q;
	const char	*ct = NULL;
	size_t		 len, n;

	if (pa->pa_src == POLLARG_QUERY) {
		if ((q = strchr(req->req_url, '?')) == NULL ||
		    pollarg_rewrite(POLLARG_QUERY, NULL, q + 1, strlen(q + 1),
		    secs, check ? NULL : &s, &n) == -1)
			return (-1);
		if (check)
			return (0);
		if (asprintf(&url, "%.*s%s", (int)(q + 1 - req->req_url),
		    req->req_url, s) == -1) {
			free(s);
			return (-1);
		}
		free(s);
		free(req->req_url);
		req->req_url = url;
		return (0);
	}
	if (!req->req_has_body || (pa->pa_src == POLLARG_MULTIPART &&
	    (ct = longpoll_ctype(req, ctype, sizeof(ctype))) == NULL))
		return (-1);
	len = evbuffer_get_length(req->req_body);
	if (pollarg_rewrite(pa->pa_src, ct, (const char *)evbuffer_pullup(
	    req->req_body, -1), len, secs, check ? NULL : &s, &n) == -1)
		return (-1);
	if (check)
		return (0);
	evbuffer_drain(req->req_body, len);
	if (evbuffer_add(req->req_body, s, n) == -1) {
		free(s);
		return (-1);
	}
	free(s);
	req->req_clen = n;
	return (0);
}

/*
 * A long poll we can send again: its timeout read without doubt and
 * where it can be rewritten, and its body (if any) all here.  again is
 * the owner's way to drop the running attempt and start the next one.
 */
int
longpoll_start(struct req *req, void (*again)(struct req *))
{
	struct longpoll	*lp = &req->req_lp;
	size_t		 len;

	if (!req->req_route.rt_longpoll || req->req_poll_secs <= 0 ||
	    lp->lp_arg.pa_state != POLLARG_SURE)
		return (0);
	if (req->req_has_body) {
		len = evbuffer_get_length(req->req_body);
		if (!req->req_body_done || req->req_replay == NULL ||
		    req->req_clen < 0 || len != (size_t)req->req_clen)
			return (0);
	}
	if (longpoll_edit(req, 0, 1) == -1)
		return (0);
	if (event_assign(&lp->lp_ev, req->req_base, -1, 0, longpoll_check_cb,
	    req) == -1)
		return (-1);
	lp->lp_on = 1;
	lp->lp_bot = req->req_poll_secs;
	lp->lp_again = again;
	return (0);
}

/* The request's URL or body with the timeout set to secs. */
static int
longpoll_set(struct req *req, long secs)
{
	if (secs == req->req_poll_secs)
		return (0);
	if (longpoll_edit(req, secs, 0) == -1)
		return (-1);
	req->req_poll_secs = secs;
	return (0);
}

/*
 * The timeout an upstream poll gets: the bot's own (bot s), unless the
 * proxy slices or a poll of this request was swallowed: then what is left
 * of the bot's (left ms), at most a slice.  The first poll of a sliced
 * request takes the bot's whole timeout as what is left.  *hold: an empty
 * answer is kept from the bot, since its timeout outlasts this poll by a
 * second or more.
 */
long
longpoll_secs(long bot, long left, long slice, int swallowed, int first,
    int *hold)
{
	long	 secs = bot;

	if (left < 0)
		left = 0;
	if (swallowed || (slice > 0 && !first))
		secs = left / 1000;
	if (slice > 0 && secs > slice)
		secs = slice;
	*hold = left - secs * 1000 >= 1000;
	return (secs);
}

/* Before an attempt: set its timeout in the request it sends. */
int
longpoll_prepare(struct req *req)
{
	struct longpoll	*lp = &req->req_lp;
	long		 secs;

	lp->lp_polls++;
	lp->lp_hold = 0;
	lp->lp_heldlen = 0;
	lp->lp_updates = lp->lp_key = 0;
	if (!lp->lp_on)
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &lp->lp_begun);
	secs = longpoll_secs(lp->lp_bot, longpoll_left(req, &lp->lp_begun),
	    longpoll_slice_of(longpoll_proxy(req), req->req_route.rt_bot),
	    lp->lp_swallowed,
	    lp->lp_polls == 1, &lp->lp_hold);
	if (longpoll_set(req, secs) == -1) {
		lp->lp_hold = 0;
		return (-1);
	}
	if (secs < lp->lp_bot)
		metrics_longpoll(METRICS_LP_SLICED);
	lp->lp_secs = secs;
	return (0);
}

/* The request went out: its answer is due by its timeout and the grace. */
void
longpoll_sent(struct req *req)
{
	struct longpoll	*lp = &req->req_lp;
	struct timeval	 tv;

	if (!lp->lp_on || lp->lp_secs <= 0)
		return;
	util_ms_timeval(lp->lp_secs * 1000 + longpoll_grace_ms(req), &tv);
	evtimer_add(&lp->lp_ev, &tv);
}

/* The attempt is dropped or done. */
void
longpoll_stop(struct req *req)
{
	if (req->req_lp.lp_on)
		evtimer_del(&req->req_lp.lp_ev);
}

/* At the end of the reply's head: keep it from the bot for now? */
int
longpoll_hold(struct req *req)
{
	if (req->req_reply == NULL || req->req_reply->rp_status != 200)
		req->req_lp.lp_hold = 0;
	return (req->req_lp.lp_hold);
}

/* A held answer the bot gets after all: its head and body as they came. */
int
longpoll_unhold(struct req *req)
{
	struct longpoll		*lp = &req->req_lp;
	struct upstream_reply	*rp = req->req_reply;

	if (!lp->lp_hold)
		return (0);
	lp->lp_hold = 0;
	if (rp == NULL || rp->rp_status < 200)
		return (0);	/* no head came: nothing to pass on */
	if (reply_head(req, rp->rp_status, NULL, rp->rp_head,
	    rp->rp_chunked ? -1 : rp->rp_clen) == -1)
		return (-1);
	return (reply_body(req, lp->lp_held, lp->lp_heldlen));
}

/*
 * A piece of the answer's body: 1 if held, 0 if the caller passes it on
 * (not holding, or too long to be empty: what was held is sent first),
 * -1 on error.
 */
int
longpoll_body(struct req *req, const char *data, size_t n)
{
	struct longpoll	*lp = &req->req_lp;

	if (req->req_route.rt_longpoll)
		lp->lp_updates += longpoll_count(&lp->lp_key, data, n);
	if (!lp->lp_hold)
		return (0);
	if (n <= sizeof(lp->lp_held) - lp->lp_heldlen) {
		memcpy(lp->lp_held + lp->lp_heldlen, data, n);
		lp->lp_heldlen += n;
		return (1);
	}
	return (longpoll_unhold(req));
}

/*
 * The answer is complete: 1 if it was held, an empty result the bot need
 * not see, and there is time for another poll.  One answered at once comes
 * from a server that does not hold polls: it goes to the bot, no spin.
 */
int
longpoll_again(struct req *req)
{
	struct longpoll	*lp = &req->req_lp;
	struct timespec	 now;
	int		 learned;

	if (!lp->lp_hold || req->req_reply == NULL ||
	    req->req_reply->rp_status != 200 ||
	    !longpoll_is_empty(lp->lp_held, lp->lp_heldlen))
		return (0);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (util_ms_between(&lp->lp_begun, &now) < lp->lp_secs * 500)
		return (0);
	if ((learned = longpoll_learn_answered(longpoll_proxy(req),
	    req->req_route.rt_bot, lp->lp_secs, &now)) != 0)
		longpoll_learned(req, learned);
	return (longpoll_left(req, &now) >= 1000);
}

/* The updates the answer carried (libcurl's path or a spare's alike). */
int
longpoll_updates(const struct req *req)
{
	return (req->req_lp.lp_updates);
}
