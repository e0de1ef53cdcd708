/* SPDX-License-Identifier: ISC */
/*
 * The clocks of one upstream attempt.  Connecting (proxy, tunnel, TLS)
 * is libcurl's, under connect_timeout.  From the request on, a timer
 * here ends the attempt when the body going out or the answer coming
 * in moves no byte for stall_timeout, or when the answer does not begin
 * within upstream_timeout (a long poll: its own) of the whole request
 * having left.  A transfer that keeps moving is never cut.
 *
 * "Left" means taken by the next hop: the bytes still in our socket's
 * send queue are not counted, since on a slow link the kernel holds
 * megabytes that take minutes to go.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "longpoll.h"
#include "req.h"
#include "upstream.h"
#include "util.h"

#define UPSTREAM_WATCH_FDS	4	/* sockets of one connect kept */
#define UPSTREAM_WATCH_TICK_MIN	100	/* ms between looks at a body */
#define UPSTREAM_WATCH_TICK_MAX	1000

struct upstream_watch {
	struct req		*uw_req;
	struct event		*uw_ev;
	void			(*uw_expired)(struct req *);
	int			 uw_phase;	/* enum upstream_phase */
	long			 uw_wait_ms;	/* for the answer to begin */
	struct timespec		 uw_since;	/* phase began, bytes moved */
	uint64_t		 uw_up;		/* body bytes the hop took */
	uint64_t		 uw_down;	/* answer body bytes read */
	int			 uw_unsent;	/* in our socket's send queue */
	int			 uw_fd;		/* its socket, or -1 */
	int			 uw_fds[UPSTREAM_WATCH_FDS];	/* candidates */
	int			 uw_nfds;
};

/* Bytes our side of the connection still holds, unacknowledged. */
static int
upstream_watch_unsent(int fd)
{
	int	 n = 0;

	if (fd == -1)
		return (0);
#if defined(SIOCOUTQ)
	if (ioctl(fd, SIOCOUTQ, &n) == -1)
		n = 0;
#elif defined(FIONWRITE)
	if (ioctl(fd, FIONWRITE, &n) == -1)
		n = 0;
#endif
	return (n > 0 ? n : 0);
}

static long
upstream_watch_limit(const struct upstream_watch *uw)
{
	const struct config	*cfg = uw->uw_req->req_cfg;

	switch (uw->uw_phase) {
	case UPH_CONNECT:
		return (cfg->cfg_connect_timeout_ms);
	case UPH_WAIT:
		return (uw->uw_wait_ms);
	default:
		return (cfg->cfg_stall_timeout_ms);
	}
}

/* A body is looked at often enough to see a stall within 1/8 of it. */
static void
upstream_watch_arm(struct upstream_watch *uw, long left)
{
	struct timeval	 tv;
	long		 tick = uw->uw_req->req_cfg->cfg_stall_timeout_ms / 8;

	if (tick < UPSTREAM_WATCH_TICK_MIN)
		tick = UPSTREAM_WATCH_TICK_MIN;
	if (tick > UPSTREAM_WATCH_TICK_MAX)
		tick = UPSTREAM_WATCH_TICK_MAX;
	if (uw->uw_phase != UPH_WAIT && left > tick)
		left = tick;
	util_ms_timeval(left, &tv);
	if (evtimer_add(uw->uw_ev, &tv) == -1)
		log_warnx("%s: cannot arm the upstream clock", __func__);
}

static void
upstream_watch_enter(struct upstream_watch *uw, int phase)
{
	uw->uw_phase = phase;
	clock_gettime(CLOCK_MONOTONIC, &uw->uw_since);
	upstream_watch_arm(uw, upstream_watch_limit(uw));
}

/* Did bytes move either way since the last look? */
static int
upstream_watch_look(struct upstream_watch *uw)
{
	CURL		*e = uw->uw_req->req_easy;
	curl_off_t	 up = 0, down = 0;
	int		 moved = 0;

	curl_easy_getinfo(e, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &down);
	uw->uw_unsent = upstream_watch_unsent(uw->uw_fd);
	up = up > uw->uw_unsent ? up - uw->uw_unsent : 0;
	if ((uint64_t)up > uw->uw_up) {
		uw->uw_up = up;
		moved = 1;
	}
	if ((uint64_t)down > uw->uw_down) {
		uw->uw_down = down;
		moved = 1;
	}
	return (moved);
}

/*
 * The sidecar holds the transfer for the bot: the bot has sent no more
 * of its body (and all it sent is gone), or reads its answer slowly.
 * That is the bot's time, under idle_timeout, not the upstream's.
 */
static int
upstream_watch_held(const struct upstream_watch *uw)
{
	const struct req	*req = uw->uw_req;

	if (uw->uw_phase == UPH_SEND)
		return (req->req_send_paused && uw->uw_unsent == 0);
	return (uw->uw_phase == UPH_RECV && req->req_recv_paused);
}

/* The whole body has been taken by the next hop. */
static int
upstream_watch_sent(const struct upstream_watch *uw)
{
	const struct req	*req = uw->uw_req;

	if (uw->uw_unsent > 0)
		return (0);
	if (req->req_clen >= 0)
		return (uw->uw_up >= (uint64_t)req->req_clen);
	return (req->req_body_done && evbuffer_get_length(req->req_body) == 0);
}

static void
upstream_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_watch	*uw = arg;
	struct timespec		 now;
	long			 limit, idle;

	(void)fd;
	(void)what;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (uw->uw_phase != UPH_WAIT &&
	    (upstream_watch_look(uw) || upstream_watch_held(uw)))
		uw->uw_since = now;
	if (uw->uw_phase == UPH_SEND && upstream_watch_sent(uw)) {
		uw->uw_phase = UPH_WAIT;
		uw->uw_since = now;
	}
	limit = upstream_watch_limit(uw);
	idle = util_ms_between(&uw->uw_since, &now);
	if (idle < limit) {
		upstream_watch_arm(uw, limit - idle);
		return;
	}
	uw->uw_expired(uw->uw_req);	/* this ends the attempt, and uw */
}

/*
 * Is fd the connection libcurl reports?  A candidate that lost a happy
 * eyeballs race is closed by now, and its number may be another
 * socket's: both ends must match.
 */
static int
upstream_watch_match(int fd, const char *ip, int port, int lport)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    util_sockaddr_host((struct sockaddr *)&ss, host, sizeof(host)) != lport)
		return (0);
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    util_sockaddr_host((struct sockaddr *)&ss, host, sizeof(host)) != port)
		return (0);
	return (strcmp(host, ip) == 0);
}

/* Each socket libcurl opens: one of them will carry the request. */
static int
upstream_watch_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	struct upstream_watch	*uw = arg;

	if (purpose == CURLSOCKTYPE_IPCXN)
		uw->uw_fds[uw->uw_nfds++ % UPSTREAM_WATCH_FDS] = fd;
	return (CURL_SOCKOPT_OK);
}

/* Connected, through every hop: the request goes out now. */
static int
upstream_watch_prereq(void *arg, char *ip, char *lip, int port, int lport)
{
	struct upstream_watch	*uw = arg;
	int			 i, n;

	(void)lip;
	n = uw->uw_nfds < UPSTREAM_WATCH_FDS ? uw->uw_nfds :
	    UPSTREAM_WATCH_FDS;
	for (i = 0; i < n && uw->uw_fd == -1; i++)
		if (upstream_watch_match(uw->uw_fds[i], ip, port, lport))
			uw->uw_fd = uw->uw_fds[i];
	/* Then what the kernel still holds is counted as sent. */
	if (uw->uw_fd == -1)
		log_debug("%s: no socket for %s:%d", __func__, ip, port);
	upstream_watch_enter(uw, uw->uw_req->req_has_body ? UPH_SEND :
	    UPH_WAIT);
	longpoll_sent(uw->uw_req);
	return (CURL_PREREQFUNC_OK);
}

/*
 * The clocks of the attempt on e: expired(req) ends it from the loop
 * when one runs out; upstream_watch_stop() is the other half.
 */
int
upstream_watch_start(struct req *req, CURL *e, long wait_ms,
    void (*expired)(struct req *))
{
	struct upstream_watch	*uw;

	if ((uw = calloc(1, sizeof(*uw))) == NULL)
		return (-1);
	if ((uw->uw_ev = evtimer_new(req->req_base, upstream_watch_cb,
	    uw)) == NULL) {
		free(uw);
		return (-1);
	}
	uw->uw_req = req;
	uw->uw_expired = expired;
	uw->uw_wait_ms = wait_ms;
	uw->uw_phase = UPH_CONNECT;
	uw->uw_fd = -1;
	curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, upstream_watch_sockopt);
	curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, uw);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, upstream_watch_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, uw);
	req->req_watch = uw;
	return (0);
}

void
upstream_watch_stop(struct req *req)
{
	struct upstream_watch	*uw = req->req_watch;

	if (uw == NULL)
		return;
	event_free(uw->uw_ev);
	free(uw);
	req->req_watch = NULL;
}

/* The answer's status line: waiting is over, receiving begins. */
void
upstream_watch_answer(struct req *req)
{
	struct upstream_watch	*uw = req->req_watch;

	if (uw != NULL && uw->uw_phase != UPH_RECV)
		upstream_watch_enter(uw, UPH_RECV);
}

/* Where the attempt is: enum upstream_phase (UPH_CONNECT before it). */
int
upstream_watch_phase(const struct req *req)
{
	const struct upstream_watch	*uw = req->req_watch;

	return (uw != NULL ? uw->uw_phase : UPH_CONNECT);
}

/* Where the attempt was, and the bytes that had gone each way. */
void
upstream_watch_facts(struct req *req, struct upstream_facts *uf)
{
	struct upstream_watch	*uw = req->req_watch;

	uf->uf_phase = uw != NULL ? uw->uw_phase : UPH_CONNECT;
	uf->uf_limit_ms = uw != NULL ? upstream_watch_limit(uw) :
	    req->req_cfg->cfg_connect_timeout_ms;
	uf->uf_longpoll = req->req_route.rt_longpoll;
	uf->uf_up = uw != NULL ? uw->uw_up : 0;
	uf->uf_up_total = req->req_has_body ? req->req_clen : 0;
	uf->uf_down = uw != NULL ? uw->uw_down : 0;
	uf->uf_down_total = req->req_up_status >= 200 &&
	    !req->req_up_chunked ? req->req_up_clen : -1;
}
