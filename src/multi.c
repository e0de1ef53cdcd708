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
#include "trim.h"
#include "util.h"

#define MULTI_MAXCONNECTS	1024	/* spares of every config, with room */

struct multi_sock {
	struct event	 ms_ev;	/* re-armed with event_assign() */
};

/* A transfer's owner and the hooks it installed (CURLOPT_PRIVATE). */
struct multi_xfer {
	multi_done_fn	 mx_done;
	void		*mx_arg;
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
	int			 action = 0;

	(void)arg;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	multi_ok("curl_multi_socket_action",
	    curl_multi_socket_action(mu.mu_multi, fd, action, &mu.mu_running));
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
	short			 kind = EV_PERSIST;

	(void)easy;
	(void)arg;
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
	 * Connections are never reused, but a CONNECT_ONLY connection through
	 * an https:// proxy stays in the cache for its life (conn.c):
	 * MAXCONNECTS must hold them all, or the oldest is closed.
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
