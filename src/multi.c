/* SPDX-License-Identifier: ISC */
/*
 * libcurl's multi_socket API driven by the libevent loop, in the shape
 * of curl's docs/examples/hiperfifo.c: one loop-wide multi handle, one
 * struct per socket attached with curl_multi_assign(), and one timer.
 */
#include "config.h"

#include <stdlib.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "log.h"
#include "multi.h"
#include "tls.h"
#include "trim.h"
#include "util.h"

#define MULTI_MAXCONNECTS	1024	/* spares of every config, with room */

struct multi_sock {
	struct event	 ms_ev;	/* re-armed with event_assign() */
	CURL		*ms_easy;	/* the transfer on this socket */
};

/* A transfer's owner and the hooks it installed (CURLOPT_PRIVATE). */
struct multi_xfer {
	multi_done_fn	 mx_done;
	multi_reading_fn mx_reading;	/* or NULL */
	void		*mx_arg;
	int		 mx_what;	/* CURL_POLL_* libcurl last asked for */
};

static struct {
	struct event_base	*mu_base;
	CURLM			*mu_multi;
	struct event		*mu_timer;
	int			 mu_running;
} mu;

static void	multi_check(void);

static struct multi_xfer *
multi_xfer(CURL *easy)
{
	struct multi_xfer	*mx = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&mx);
	return (mx);
}

/*
 * libcurl has handled an event of this transfer.  If it now waits only
 * to read, its owner's hook hears of it; with no hook, the TLS record
 * buffers of a connection with nothing buffered go back (a spare's, at
 * the end of its handshake).
 */
static void
multi_after(CURL *easy)
{
	struct multi_xfer	*mx = multi_xfer(easy);

	if (mx != NULL && mx->mx_reading != NULL) {
		if (mx->mx_what == CURL_POLL_IN)
			mx->mx_reading(mx->mx_arg);
	} else if (tls_release(easy))
		trim_soon(mu.mu_base);
}

/* Every CURLMcode is checked; what failed is logged where it is known. */
static int
multi_ok(const char *what, CURLMcode rc)
{
	if (rc == CURLM_OK)
		return (0);
	log_warnx("%s: %s", what, curl_multi_strerror(rc));
	return (-1);
}

static void
multi_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct multi_sock	*ms = arg;
	CURL			*easy = ms->ms_easy;
	int			 action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	multi_ok("curl_multi_socket_action",
	    curl_multi_socket_action(mu.mu_multi, fd, action, &mu.mu_running));
	/* ms may be gone now; easy lives until its done hook frees it. */
	multi_after(easy);
	multi_check();
}

static void
multi_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	multi_ok("curl_multi_socket_action",
	    curl_multi_socket_action(mu.mu_multi, CURL_SOCKET_TIMEOUT, 0,
	    &mu.mu_running));
	multi_check();
}

/* libcurl must not be called from here: only arm or disarm the timer. */
static int
multi_timer_set(CURLM *multi, long ms, void *arg)
{
	struct timeval	 tv;

	(void)multi;
	(void)arg;
	if (ms < 0) {
		evtimer_del(mu.mu_timer);
		return (0);
	}
	util_ms_timeval(ms, &tv);
	return (evtimer_add(mu.mu_timer, &tv));
}

static int
multi_sock_set(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct multi_sock	*ms = sockp;
	struct multi_xfer	*mx = multi_xfer(easy);
	short			 kind = EV_PERSIST;

	(void)arg;
	if (mx != NULL)
		mx->mx_what = what;
	if (what == CURL_POLL_REMOVE) {
		if (ms != NULL) {
			event_del(&ms->ms_ev);
			free(ms);
		}
		return (0);
	}
	if (ms == NULL) {
		if ((ms = calloc(1, sizeof(*ms))) == NULL) {
			log_warn("%s: calloc", __func__);
			return (-1);
		}
		if (multi_ok("curl_multi_assign",
		    curl_multi_assign(mu.mu_multi, fd, ms)) == -1) {
			free(ms);
			return (-1);
		}
	} else
		event_del(&ms->ms_ev);
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	ms->ms_easy = easy;
	if (event_assign(&ms->ms_ev, mu.mu_base, fd, kind, multi_event_cb,
	    ms) == -1 || event_add(&ms->ms_ev, NULL) == -1) {
		log_warnx("%s: cannot watch upstream socket", __func__);
		return (-1);
	}
	return (0);
}

/* Hand every finished transfer to its owner. */
static void
multi_check(void)
{
	struct multi_xfer	*mx;
	CURLMsg			*msg;
	int			 left;

	while ((msg = curl_multi_info_read(mu.mu_multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		if ((mx = multi_xfer(msg->easy_handle)) != NULL)
			mx->mx_done(mx->mx_arg, msg->data.result);
	}
}

int
multi_init(struct event_base *base)
{
	mu.mu_base = base;
	if ((mu.mu_multi = curl_multi_init()) == NULL) {
		log_warnx("%s: curl_multi_init failed", __func__);
		return (-1);
	}
	if ((mu.mu_timer = evtimer_new(base, multi_timer_cb, NULL)) == NULL) {
		log_warnx("%s: evtimer_new failed", __func__);
		goto fail;
	}
	/*
	 * Connections are never reused, but a CONNECT_ONLY spare waits in
	 * the cache until its request: MAXCONNECTS must hold them all, or
	 * the oldest is closed.
	 */
	if (multi_ok("CURLMOPT_SOCKETFUNCTION", curl_multi_setopt(mu.mu_multi,
	    CURLMOPT_SOCKETFUNCTION, multi_sock_set)) == -1 ||
	    multi_ok("CURLMOPT_TIMERFUNCTION", curl_multi_setopt(mu.mu_multi,
	    CURLMOPT_TIMERFUNCTION, multi_timer_set)) == -1 ||
	    multi_ok("CURLMOPT_MAXCONNECTS", curl_multi_setopt(mu.mu_multi,
	    CURLMOPT_MAXCONNECTS, (long)MULTI_MAXCONNECTS)) == -1)
		goto fail;
	return (0);
 fail:
	multi_free();
	return (-1);
}

void
multi_free(void)
{
	if (mu.mu_multi != NULL)
		curl_multi_cleanup(mu.mu_multi);
	if (mu.mu_timer != NULL)
		event_free(mu.mu_timer);
	trim_free();
	mu.mu_multi = NULL;
	mu.mu_timer = NULL;
}

/* Start a transfer; done(arg, result) runs from the loop when it ends. */
int
multi_add(CURL *easy, multi_done_fn done, void *arg)
{
	struct multi_xfer	*mx;

	if ((mx = calloc(1, sizeof(*mx))) == NULL) {
		log_warn("%s: calloc", __func__);
		return (-1);
	}
	mx->mx_done = done;
	mx->mx_arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, mx);
	if (multi_ok("curl_multi_add_handle",
	    curl_multi_add_handle(mu.mu_multi, easy)) == -1) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(mx);
		return (-1);
	}
	return (0);
}

/* Removing a handle closes its connection, since none is ever reused. */
void
multi_remove(CURL *easy)
{
	struct multi_xfer	*mx;

	multi_ok("curl_multi_remove_handle",
	    curl_multi_remove_handle(mu.mu_multi, easy));
	mx = multi_xfer(easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(mx);
}

/* A transfer changes hands (a spare taken): its end goes to done(arg). */
void
multi_rehook(CURL *easy, multi_done_fn done, void *arg)
{
	struct multi_xfer	*mx = multi_xfer(easy);

	if (mx == NULL)
		return;
	mx->mx_done = done;
	mx->mx_reading = NULL;
	mx->mx_arg = arg;
}

/*
 * reading(arg) runs after each event of the transfer that leaves libcurl
 * waiting only to read (all it had to send is sent, or sending is
 * paused): for the owner to give back what only sending needed.
 */
void
multi_reading(CURL *easy, multi_reading_fn reading)
{
	struct multi_xfer	*mx = multi_xfer(easy);

	if (mx != NULL)
		mx->mx_reading = reading;
}
