/* SPDX-License-Identifier: ISC */
/*
 * Spare connections: a request on a fresh connection through a proxy
 * pays three round trips (the proxy's connect, TLS, the request), on a
 * spare one.  A spare is a connection of conn.c made ahead, exactly as a
 * request's own (proxy, pre-proxy, auth, our TLS with the shared session
 * cache), held ready, and given to one request, never back: each
 * connection still carries one request.  A spare idle for
 * prewarm_max_idle is closed before any proxy can forget its tunnel.
 *
 * Spares belong to the current config; a reload closes them.  They are
 * kept only while bots are active (a call, not a long poll, within
 * prewarm_linger), as many as recent requests ran at once, from prewarm
 * to prewarm_max; else only for a getUpdates hint (sparehint.c).
 * A spare that fails is counted and blamed like any connection, never
 * seen by a bot, and the next one waits a growing backoff.
 *
 * A connection whose request the bot left while it was being made (the
 * proxy step or TLS) is adopted (spare_adopt()): it runs on to its
 * verdict, which blames or clears the proxy as a spare's does, and if
 * it is made it stays as a spare while fewer than the target are kept.
 * At most prewarm_max are adopted at once.  A spare that re-tries a
 * proxy in doubt (failed, its skip period over: failover_choose()) and
 * an adopted one judge their proxy (px_trying, so bots' requests skip
 * it meanwhile) and do not count toward the target while being made.
 *
 * A request that finds none ready may wait for one being built: the
 * oldest, until it is late by a whole expected build time (spare_wait());
 * that spare counts as kept until it is handed over, then is replaced.
 * If it is late or fails, the request goes fresh in its place.
 */
#include "config.h"

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf.h"
#include "conn.h"
#include "failover.h"
#include "log.h"
#include "metrics.h"
#include "spare.h"
#include "sparehint.h"
#include "trim.h"
#include "upstream_fail.h"
#include "util.h"

#define SPARE_WINDOW_MS		5000	/* recent concurrency: two of these */
#define SPARE_BACKOFF_MS	100
#define SPARE_BACKOFF_MAX_MS	10000

struct spare {
	TAILQ_ENTRY(spare)	 sp_entry;
	struct conn		*sp_conn;	/* NULL once given away */
	struct config		*sp_cfg;	/* a reference */
	int			 sp_proxy;	/* index in cfg_proxy */
	int			 sp_ready;	/* connected, TLS done */
	struct event		*sp_idle;	/* prewarm_max_idle */
	struct event		*sp_watch;	/* readable: maybe closed */
	struct timespec		 sp_t0;		/* its build began */
	spare_got_fn		 sp_wfn;	/* a request waits for it */
	void			*sp_warg;
	struct event		*sp_wait_ev;	/* ... this long at most */
	int			 sp_judge;	/* judging its proxy, see above */
	int			 sp_adopted;	/* from spare_adopt(), unmade */
};

TAILQ_HEAD(spare_list, spare);

static struct {
	struct event_base	*sp_base;
	struct config		*sp_cfg;	/* a reference; NULL: none */
	struct spare_list	 sp_list;
	int			 sp_n;	/* building and ready */
	int			 sp_nready;
	int			 sp_njudge;	/* building, judging a proxy */
	int			 sp_nadopted;	/* building, adopted */
	struct event		*sp_fill_ev;	/* after a backoff */
	struct timespec		 sp_last;	/* last bot request */
	int			 sp_active;	/* sp_last is set */
	int			 sp_busy;	/* requests upstream now */
	int			 sp_peak;	/* most in this window */
	int			 sp_peak_prev;	/* most in the window before */
	struct timespec		 sp_win;	/* this window began */
	int			 sp_hint;	/* calls announced */
	struct timespec		 sp_hint_at;
	long			 sp_backoff_ms;	/* 0: none */
	struct timespec		 sp_backoff_end;
	long			 sp_est_ms;	/* a build takes; 0: none yet */
} sp = { .sp_list = TAILQ_HEAD_INITIALIZER(sp.sp_list) };

static void	spare_fill(void);
static int	spare_goal(int *);
static void	spare_hint_spent(void);
static void	spare_late(struct spare *);

static long
spare_since(const struct timespec *t)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (util_ms_between(t, &now));
}

/*
 * How many spares to keep: prewarm, or more when more requests ran at
 * once lately or a getUpdates answer announced more calls, never more
 * than prewarm_max.  Pure, for the unit test.
 */
int
spare_target(int prewarm, int max, int recent, int hint)
{
	int	 n = prewarm;

	if (prewarm <= 0)
		return (0);
	if (recent > n)
		n = recent;
	if (hint > n)
		n = hint;
	return (n > max ? max : n);
}

/*
 * spare_target() while bots are active; else only what a hint asks for,
 * never more than prewarm_max, none with prewarm 0.  Pure, for the unit
 * test.
 */
int
spare_keep(int prewarm, int max, int recent, int hint, int active)
{
	if (prewarm <= 0)
		return (0);
	if (active)
		return (spare_target(prewarm, max, recent, hint));
	if (hint <= 0)
		return (0);
	return (hint > max ? max : hint);
}

int
spare_count(void)
{
	return (sp.sp_n);
}

/* Made or closed: no longer judging its proxy, nor adopted unmade. */
static void
spare_unjudge(struct spare *s)
{
	if (s->sp_judge) {
		failover_trying(s->sp_cfg, s->sp_proxy, -1);
		sp.sp_njudge--;
	}
	if (s->sp_adopted)
		sp.sp_nadopted--;
	s->sp_judge = s->sp_adopted = 0;
}

/*
 * Closed (failed, or its config went): a request waiting for it goes
 * fresh, after it is gone from the list.
 */
static void
spare_close(struct spare *s)
{
	spare_got_fn	 fn = s->sp_wfn;
	void		*arg = s->sp_warg;

	spare_unwait(s);
	spare_unjudge(s);
	TAILQ_REMOVE(&sp.sp_list, s, sp_entry);
	sp.sp_n--;
	if (s->sp_ready)
		sp.sp_nready--;
	metrics_spares_now(sp.sp_n - sp.sp_nready, sp.sp_nready);
	if (s->sp_idle != NULL)
		event_free(s->sp_idle);
	if (s->sp_watch != NULL)
		event_free(s->sp_watch);
	if (s->sp_wait_ev != NULL)
		event_free(s->sp_wait_ev);
	conn_close(s->sp_conn);
	config_unref(s->sp_cfg);
	free(s);
	if (fn != NULL) {
		metrics_spare(METRICS_SPARE_MISSED);
		fn(arg, NULL);
	}
}

/* A failure before use: no bot sees it, but the next spare waits. */
static void
spare_backoff(void)
{
	sp.sp_backoff_ms = sp.sp_backoff_ms == 0 ? SPARE_BACKOFF_MS :
	    sp.sp_backoff_ms * 2;
	if (sp.sp_backoff_ms > SPARE_BACKOFF_MAX_MS)
		sp.sp_backoff_ms = SPARE_BACKOFF_MAX_MS;
	clock_gettime(CLOCK_MONOTONIC, &sp.sp_backoff_end);
	sp.sp_backoff_end.tv_sec += sp.sp_backoff_ms / 1000;
	sp.sp_backoff_end.tv_nsec += (sp.sp_backoff_ms % 1000) * 1000000L;
	if (sp.sp_backoff_end.tv_nsec >= 1000000000L) {
		sp.sp_backoff_end.tv_sec++;
		sp.sp_backoff_end.tv_nsec -= 1000000000L;
	}
}

/* Not replaced until a request is answered (spare_ok()), then later. */
static void
spare_dead(struct spare *s, const char *why)
{
	log_debug("spare through proxy %d closed before use: %s",
	    s->sp_proxy, why);
	metrics_spare(METRICS_SPARE_FAILED);
	spare_close(s);
	spare_backoff();
}

static void
spare_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spare	*s = arg;

	(void)fd;
	(void)what;
	metrics_spare(METRICS_SPARE_EXPIRED);
	spare_close(s);
	spare_fill();
}

/*
 * The far side wrote to, or closed, a connection that sent nothing: a
 * TLS 1.3 ticket is read and kept, anything else ends it.
 */
static void
spare_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spare	*s = arg;

	(void)fd;
	(void)what;
	if (conn_alive(s->sp_conn) == -1)
		spare_dead(s, "closed or written to by the far side");
	else if (conn_release(s->sp_conn))
		trim_soon(sp.sp_base);
}

/* Connected, through the proxy and TLS: ready for one request. */
static int
spare_ready(struct spare *s)
{
	struct timeval	 tv;

	if ((s->sp_idle = evtimer_new(sp.sp_base, spare_idle_cb, s)) == NULL ||
	    (s->sp_watch = event_new(sp.sp_base, conn_fd(s->sp_conn),
	    EV_READ | EV_PERSIST, spare_watch_cb, s)) == NULL)
		return (-1);
	util_ms_timeval(s->sp_cfg->cfg_prewarm_max_idle_ms, &tv);
	if (evtimer_add(s->sp_idle, &tv) == -1 ||
	    event_add(s->sp_watch, NULL) == -1)
		return (-1);
	s->sp_ready = 1;
	sp.sp_nready++;
	metrics_spares_now(sp.sp_n - sp.sp_nready, sp.sp_nready);
	if (conn_release(s->sp_conn))
		trim_soon(sp.sp_base);
	return (0);
}

/* A connection's phases count once, when it is made, used or not. */
static void
spare_times(struct spare *s)
{
	double	 tunnel, tls;

	conn_times(s->sp_conn, &tunnel, &tls);
	metrics_phases(tunnel * 1000, (tunnel + tls) * 1000, 0, 0,
	    s->sp_cfg->cfg_proxy[s->sp_proxy].px_scheme != PROXY_NONE);
}

/*
 * s's connection, for the caller to own from here; s is gone and is
 * replaced at once: the session cache keeps several TLS 1.3 tickets, so
 * the replacement need not wait for the one this spare used.
 */
static struct conn *
spare_give(struct spare *s)
{
	struct conn	*cn = s->sp_conn;

	s->sp_conn = NULL;
	spare_close(s);
	metrics_spare(METRICS_SPARE_USED);
	spare_hint_spent();
	spare_fill();
	return (cn);
}

/* Built, and a request waits for it: it rides it now. */
static void
spare_handoff(struct spare *s)
{
	spare_got_fn	 fn = s->sp_wfn;
	void		*arg = s->sp_warg;

	spare_unwait(s);
	metrics_spare(METRICS_SPARE_WAITED);
	fn(arg, spare_give(s));
}

/* From conn.c: the spare's connection is ready, or failed. */
static void
spare_built(void *arg, struct conn *cn, int rc)
{
	struct spare		*s = arg;
	struct upstream_facts	 uf;
	enum upstream_stage	 st;
	char			 desc[512];
	int			 aside, base;

	(void)cn;
	if (rc == -1) {
		/* Judged as a request's would be: the proxy may be blamed. */
		conn_facts(s->sp_conn, &uf);
		upstream_fail_judge(s->sp_cfg, s->sp_proxy, &uf, 0, desc,
		    sizeof(desc), &st);
		log_info("spare connection failed: %s", desc);
		spare_dead(s, desc);
		return;
	}
	failover_ok(s->sp_cfg, s->sp_proxy);
	spare_times(s);
	/* An adopted one began before it was ours: its time is not one. */
	if (!s->sp_adopted)
		sp.sp_est_ms = spare_learn(sp.sp_est_ms,
		    spare_since(&s->sp_t0));
	aside = s->sp_judge || s->sp_adopted;
	spare_unjudge(s);
	sp.sp_backoff_ms = 0;
	metrics_spare(METRICS_SPARE_OPENED);
	/* Made beside the target: kept only while spares are short. */
	if (aside && s->sp_wfn == NULL &&
	    sp.sp_n - sp.sp_njudge > spare_goal(&base)) {
		metrics_spare(METRICS_SPARE_EXPIRED);
		spare_close(s);
		return;
	}
	if (s->sp_wfn == NULL && spare_ready(s) == -1) {
		spare_dead(s, "cannot watch its socket");
		return;
	}
	if (s->sp_wfn != NULL)
		spare_handoff(s);
}

/* Count s as judging its proxy: no bot's request goes there meanwhile. */
static void
spare_judge(struct spare *s)
{
	s->sp_judge = 1;
	sp.sp_njudge++;
	failover_trying(s->sp_cfg, s->sp_proxy, 1);
}

static int
spare_open(void)
{
	struct spare	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return (-1);
	s->sp_cfg = config_ref(sp.sp_cfg);
	/* A proxy in doubt is re-tried here, by one spare at a time. */
	s->sp_proxy = failover_pick_for(sp.sp_cfg, FAILOVER_SPARE);
	clock_gettime(CLOCK_MONOTONIC, &s->sp_t0);
	TAILQ_INSERT_TAIL(&sp.sp_list, s, sp_entry);
	sp.sp_n++;
	if (failover_doubtful(s->sp_cfg, s->sp_proxy) &&
	    s->sp_cfg->cfg_proxy[s->sp_proxy].px_trying == 0) {
		log_debug("spare re-tries proxy %s",
		    s->sp_cfg->cfg_proxy[s->sp_proxy].px_url);
		spare_judge(s);
	}
	metrics_spares_now(sp.sp_n - sp.sp_nready, sp.sp_nready);
	if ((s->sp_conn = conn_open(sp.sp_base, s->sp_cfg, s->sp_proxy,
	    spare_built, s)) == NULL) {
		spare_close(s);
		return (-1);
	}
	return (0);
}

/*
 * A request's connection still being made, which its bot left: it runs
 * on to its verdict here (0), or -1: the caller closes it (another
 * config's, or prewarm_max adopted already: a bot that hangs up in a
 * loop cannot pile them up).
 */
int
spare_adopt(struct conn *cn)
{
	struct config	*cfg = conn_config(cn);
	struct spare	*s;

	if (cfg != sp.sp_cfg || sp.sp_nadopted >= cfg->cfg_prewarm_max ||
	    (s = calloc(1, sizeof(*s))) == NULL)
		return (-1);
	s->sp_conn = cn;
	s->sp_cfg = config_ref(cfg);
	s->sp_proxy = conn_proxy(cn);
	s->sp_adopted = 1;
	sp.sp_nadopted++;
	clock_gettime(CLOCK_MONOTONIC, &s->sp_t0);
	TAILQ_INSERT_TAIL(&sp.sp_list, s, sp_entry);
	sp.sp_n++;
	spare_judge(s);
	metrics_spares_now(sp.sp_n - sp.sp_nready, sp.sp_nready);
	metrics_spare(METRICS_SPARE_ADOPTED);
	conn_rehook(cn, spare_built, s);
	return (0);
}

/*
 * How many spares to keep now (0: none), and in *base how many of them
 * without the hint: bots are active (a call, not a long poll, within
 * prewarm_linger), or a getUpdates hint is live (within
 * prewarm_max_idle, calls still to come), or neither.
 */
static int
spare_goal(int *base)
{
	const struct config	*cfg = sp.sp_cfg;
	int			 active, hint, recent;

	*base = 0;
	if (cfg == NULL)
		return (0);
	active = sp.sp_active &&
	    spare_since(&sp.sp_last) < cfg->cfg_prewarm_linger_ms;
	hint = spare_since(&sp.sp_hint_at) < cfg->cfg_prewarm_max_idle_ms ?
	    sp.sp_hint : 0;
	recent = sp.sp_peak > sp.sp_peak_prev ? sp.sp_peak : sp.sp_peak_prev;
	*base = spare_keep(cfg->cfg_prewarm, cfg->cfg_prewarm_max, recent, 0,
	    active);
	return (spare_keep(cfg->cfg_prewarm, cfg->cfg_prewarm_max, recent,
	    hint, active));
}

/* Open spares up to the target while bots are active; not in a backoff. */
static void
spare_fill(void)
{
	struct timespec		 now;
	struct timeval		 tv;
	long			 wait;
	int			 target, base;

	if ((target = spare_goal(&base)) == 0)
		return;
	if (sp.sp_backoff_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((wait = util_ms_between(&now, &sp.sp_backoff_end)) > 0) {
			util_ms_timeval(wait, &tv);
			evtimer_add(sp.sp_fill_ev, &tv);
			return;
		}
	}
	/*
	 * One a request waits for counts until it is handed over: claims
	 * open none beyond the target, so a proxy that slows down under a
	 * burst sees a connection per call and the spares kept, no more;
	 * one judging a proxy is beside the target until it is made.
	 */
	while (sp.sp_n - sp.sp_njudge < target) {
		metrics_spare_why(sp.sp_n - sp.sp_njudge < base ?
		    METRICS_SPWHY_TARGET : METRICS_SPWHY_HINT);
		if (spare_open() == -1) {
			spare_backoff();
			break;
		}
	}
}

static void
spare_fill_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	spare_fill();
}

/* The concurrency windows move on; a quiet one forgets the old peak. */
static void
spare_window(void)
{
	long	 ms = spare_since(&sp.sp_win);

	if (ms < SPARE_WINDOW_MS)
		return;
	sp.sp_peak_prev = ms < 2 * SPARE_WINDOW_MS ? sp.sp_peak : sp.sp_busy;
	sp.sp_peak = sp.sp_busy;
	clock_gettime(CLOCK_MONOTONIC, &sp.sp_win);
}

int
spare_init(struct event_base *base)
{
	sp.sp_base = base;
	if ((sp.sp_fill_ev = evtimer_new(base, spare_fill_cb, NULL)) == NULL)
		return (-1);
	clock_gettime(CLOCK_MONOTONIC, &sp.sp_win);
	sp.sp_hint_at = sp.sp_win;
	return (0);
}

/* The current config (NULL: none, draining): the others' spares close. */
void
spare_config(struct config *cfg)
{
	struct spare	*s, *next;

	for (s = TAILQ_FIRST(&sp.sp_list); s != NULL; s = next) {
		next = TAILQ_NEXT(s, sp_entry);
		if (s->sp_cfg != cfg)
			spare_close(s);
	}
	if (sp.sp_cfg != NULL)
		config_unref(sp.sp_cfg);
	sp.sp_cfg = cfg != NULL ? config_ref(cfg) : NULL;
	sp.sp_backoff_ms = 0;
	spare_fill();
}

void
spare_free(void)
{
	spare_config(NULL);
	if (sp.sp_fill_ev != NULL)
		event_free(sp.sp_fill_ev);
	sp.sp_fill_ev = NULL;
}

/*
 * A bot's request began under cfg: bots are active.  From cold, the
 * first spares wait for an answer (spare_ok()): opened now, they would
 * go through the same proxy before anyone knows it works.
 */
void
spare_begin(const struct config *cfg)
{
	if (cfg != sp.sp_cfg)
		return;
	clock_gettime(CLOCK_MONOTONIC, &sp.sp_last);
	sp.sp_active = 1;
	spare_window();
	if (sp.sp_n > 0)
		spare_fill();
}

/* An upstream attempt (not a long poll) began (+1) or ended (-1). */
void
spare_busy(int delta)
{
	sp.sp_busy += delta;
	spare_window();
	if (sp.sp_busy > sp.sp_peak)
		sp.sp_peak = sp.sp_busy;
}

/*
 * An attempt was answered: the way through the proxy works, so spares
 * may go it.  After a failure (a spare's or a request's) none opens
 * until this: a failing proxy sees the requests' attempts only.
 */
void
spare_ok(void)
{
	spare_fill();
}

/*
 * A bot's request began under cfg: a call makes bots active and counts
 * toward its bot's last hint; a long poll does neither (a bot that only
 * polls keeps no spares: its polls are the requests it makes).
 */
void
spare_request(const struct config *cfg, const char *bot, int longpoll)
{
	if (longpoll)
		return;
	sparehint_call(bot);
	spare_begin(cfg);
}

/* A getUpdates answer of bot's carried n updates: worth what it earned. */
void
spare_hint_from(const char *bot, int n)
{
	spare_hint(sparehint_note(bot, n));
}

/* A spare went to a request: one announced call fewer to come. */
static void
spare_hint_spent(void)
{
	if (sp.sp_hint > 0)
		sp.sp_hint--;
}

/* A getUpdates answer carried n updates: n calls will follow. */
void
spare_hint(int n)
{
	if (n <= 0)
		return;
	sp.sp_hint = n;
	clock_gettime(CLOCK_MONOTONIC, &sp.sp_hint_at);
	spare_fill();
}

/*
 * A ready spare of this config through this proxy, or NULL: the caller
 * owns the connection from here, and a new spare takes its place.
 */
struct conn *
spare_take(const struct config *cfg, int proxy)
{
	struct spare	*s, *next;

	for (s = TAILQ_FIRST(&sp.sp_list); s != NULL; s = next) {
		next = TAILQ_NEXT(s, sp_entry);
		if (!s->sp_ready || s->sp_cfg != cfg || s->sp_proxy != proxy)
			continue;
		if (conn_alive(s->sp_conn) == -1) {
			spare_dead(s, "closed by the far side");
			continue;
		}
		return (spare_give(s));
	}
	/* A miss is replaced after its attempt (spare_begin()). */
	return (NULL);
}

/*
 * The next estimate of how long a spare takes to build, from the last
 * one (0: none yet) and a build of ms: a moving average, so a proxy that
 * slows down is followed within a few builds.  Pure, for the unit test.
 */
long
spare_learn(long est, long ms)
{
	return (util_learn_ms(est, ms));
}

/*
 * How long a request may wait for a spare whose build began elapsed ms
 * ago, given the estimate: -1 if not at all.  Once begun, its expected
 * rest (est - elapsed) is below a new connection's (est).  It is waited
 * for until it is late by a whole estimate, when it is likely stuck: a
 * build merely slower than the average is still sooner than a new one
 * (cutting the wait at est sent half of them fresh, at a whole new
 * connection's cost).  None built yet: nothing to go by.  Pure, for the
 * unit test.
 */
long
spare_wait_ms(long est, long elapsed)
{
	if (est <= 0 || elapsed < 0 || elapsed >= 2 * est)
		return (-1);
	return (2 * est - elapsed);
}

/*
 * How long a build takes, after a wait for one begun elapsed ms ago ran
 * out: at least that long, so the next waits are longer and fewer calls
 * open a connection of their own beside a spare.  Pure, for the unit
 * test.
 */
long
spare_late_est(long est, long elapsed)
{
	return (elapsed > est ? elapsed : est);
}

/*
 * A wait for s ran out and its request goes fresh, in s's place: s stays
 * only as one of the spares kept, else it closes (no extra).
 */
static void
spare_late(struct spare *s)
{
	int	 base;

	sp.sp_est_ms = spare_late_est(sp.sp_est_ms, spare_since(&s->sp_t0));
	if (sp.sp_n - sp.sp_njudge > spare_goal(&base))
		spare_close(s);
}

/* The deadline: the spare goes on as one for later, the request fresh. */
static void
spare_late_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spare	*s = arg;
	spare_got_fn	 fn = s->sp_wfn;
	void		*warg = s->sp_warg;

	(void)fd;
	(void)what;
	spare_unwait(s);
	spare_late(s);
	metrics_spare(METRICS_SPARE_MISSED);
	fn(warg, NULL);
}

/*
 * No spare ready: wait for the oldest one of this config and proxy being
 * built, if that is worth it (spare_wait_ms()).  fn(arg, conn) comes
 * from the loop when it is ready, fn(arg, NULL) if it fails, its config
 * goes, or the wait is over: go fresh.  NULL: not waiting; else what
 * spare_unwait() takes when the request ends first.
 */
struct spare *
spare_wait(const struct config *cfg, int proxy, spare_got_fn fn, void *arg)
{
	struct spare	*s;
	struct timeval	 tv;
	long		 ms;

	TAILQ_FOREACH(s, &sp.sp_list, sp_entry) {
		if (s->sp_ready || s->sp_wfn != NULL || s->sp_judge ||
		    s->sp_cfg != cfg || s->sp_proxy != proxy ||
		    (ms = spare_wait_ms(sp.sp_est_ms,
		    spare_since(&s->sp_t0))) < 0)
			continue;
		if (s->sp_wait_ev == NULL && (s->sp_wait_ev = evtimer_new(
		    sp.sp_base, spare_late_cb, s)) == NULL)
			return (NULL);
		util_ms_timeval(ms, &tv);
		if (evtimer_add(s->sp_wait_ev, &tv) == -1)
			return (NULL);
		s->sp_wfn = fn;
		s->sp_warg = arg;
		spare_fill();
		return (s);
	}
	return (NULL);
}

/* What a request waiting for s waits on, in words (conn_waiting()). */
void
spare_waiting(const struct spare *s, char *buf, size_t len)
{
	char	 what[256];

	conn_waiting(s->sp_conn, what, sizeof(what));
	snprintf(buf, len, "a spare connection: %s", what);
}

/* The waiting request ended or moved on: the spare is one for later. */
void
spare_unwait(struct spare *s)
{
	if (s->sp_wait_ev != NULL)
		evtimer_del(s->sp_wait_ev);
	s->sp_wfn = NULL;
	s->sp_warg = NULL;
}
