/* SPDX-License-Identifier: ISC */
/*
 * delayrelay: a TCP relay that makes a loopback hop look like a long one,
 * for the WAN benchmark (bench/run). Not part of the daemon.
 *
 *   delayrelay -l ADDR:PORT -t ADDR:PORT -d MS [-b BYTES] [-m CONNS]
 *
 * Every byte takes MS milliseconds (the one-way delay D) to cross, in each
 * direction, in order. A loopback connect() completes at once, so the relay
 * also plays the far side's TCP handshake: the client's first bytes leave
 * no earlier than 2D after the accept (when a real connect() would have
 * returned) and the target's no earlier than 3D (when the far server would
 * have accepted). A proxy's CONNECT to a far server then costs its round
 * trip: connect plus first echo is 2 RTT, each later echo 1 RTT.
 *
 * A direction holds at most BYTES (default 1 MiB, plus one read) in flight
 * or unwritten; past that it stops reading its source, so a peer that does
 * not read slows the sender down instead of growing memory. An EOF travels
 * like data (D later, after the bytes before it) and becomes a
 * shutdown(SHUT_WR); an error on either side resets both. At most CONNS
 * (default 4096) relays at a time; past that accepting pauses.
 *
 * It prints "delayrelay ready ADDR:PORT" once it listens, and at SIGTERM
 * or SIGINT one JSON line of totals, then exits 0.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#define RELAY_SEGS	256		/* chunks in flight per direction */
#define RELAY_READMAX	16384		/* bytes per read */

enum relay_side {
	SIDE_CLIENT,
	SIDE_TARGET,
};

/* One chunk in flight: its bytes leave at sg_due (monotonic µs). */
struct seg {
	uint64_t	 sg_due;
	size_t		 sg_len;
	int		 sg_eof;
};

/* One direction: bytes read from dr_src wait in dr_pend until due. */
struct dir {
	struct relay		*dr_relay;
	struct bufferevent	*dr_src, *dr_dst;
	struct evbuffer		*dr_pend;
	struct event		 dr_timer;
	struct seg		 dr_seg[RELAY_SEGS];
	int			 dr_head, dr_nseg;
	uint64_t		 dr_gate;	/* no byte leaves before */
	int			 dr_paused;	/* source not read: full */
	int			 dr_eof;	/* source sent its EOF */
	int			 dr_eofdue;	/* EOF passed, not yet sent */
	int			 dr_done;	/* EOF sent: shutdown done */
};

struct relay {
	TAILQ_ENTRY(relay)	 rl_entry;
	struct bufferevent	*rl_bev[2];	/* enum relay_side */
	struct dir		 rl_dir[2];	/* from client, from target */
	int			 rl_connecting;	/* in the connect call */
	int			 rl_failed;	/* it failed in there */
};
TAILQ_HEAD(relay_list, relay);

static struct {
	struct event_base	*base;
	struct evconnlistener	*lsn;
	struct relay_list	 relays;
	struct sockaddr_storage	 target;
	int			 targetlen;
	uint64_t		 delay;		/* one way, µs */
	size_t			 bound;
	long			 maxconns, nconns;
	int			 lsn_paused;
	/* Totals for the exit line. */
	uint64_t		 accepted, bytes[2], resets;
	size_t			 held_max;
} rs = {
	.bound = 1 << 20, .maxconns = 4096,
};

static void	relay_free(struct relay *, int);
static void	dir_take(struct dir *);

static uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

static void
dir_arm(struct dir *d)
{
	struct timeval	tv;
	uint64_t	due, now;

	if (d->dr_nseg == 0)
		return;
	due = d->dr_seg[d->dr_head].sg_due;
	now = now_us();
	due = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(due / 1000000);
	tv.tv_usec = (suseconds_t)(due % 1000000);
	evtimer_add(&d->dr_timer, &tv);
}

/* Bytes this direction holds: in flight plus written but not yet sent. */
static size_t
dir_held(struct dir *d)
{
	return (evbuffer_get_length(d->dr_pend) +
	    evbuffer_get_length(bufferevent_get_output(d->dr_dst)));
}

/* Stop reading the source when full; read again below half. */
static void
dir_pressure(struct dir *d)
{
	size_t	held = dir_held(d);

	if (held > rs.held_max)
		rs.held_max = held;
	if (d->dr_eof)
		return;
	if (!d->dr_paused && held >= rs.bound) {
		bufferevent_disable(d->dr_src, EV_READ);
		d->dr_paused = 1;
	} else if (d->dr_paused && held < rs.bound / 2) {
		d->dr_paused = 0;
		bufferevent_enable(d->dr_src, EV_READ);
		dir_take(d);	/* bytes that came with the pausing read */
	}
}

/*
 * Queue a chunk. Due times never decrease, so the queue stays in order; a
 * chunk due with the last one joins it, and when the ring is full the last
 * one waits for the new one (later, never earlier than a real network).
 */
static void
dir_push(struct dir *d, size_t len, int eof)
{
	struct seg	*last;
	uint64_t	 now, due;

	now = now_us();
	due = (now > d->dr_gate ? now : d->dr_gate) + rs.delay;
	last = d->dr_nseg == 0 ? NULL :
	    &d->dr_seg[(d->dr_head + d->dr_nseg - 1) % RELAY_SEGS];
	if (last != NULL && (last->sg_due == due ||
	    d->dr_nseg == RELAY_SEGS)) {
		last->sg_due = due;
		last->sg_len += len;
		last->sg_eof |= eof;
		return;
	}
	last = &d->dr_seg[(d->dr_head + d->dr_nseg) % RELAY_SEGS];
	last->sg_due = due;
	last->sg_len = len;
	last->sg_eof = eof;
	if (d->dr_nseg++ == 0)
		dir_arm(d);
}

static void
dir_take(struct dir *d)
{
	struct evbuffer	*in = bufferevent_get_input(d->dr_src);
	size_t		 len = evbuffer_get_length(in);

	if (len == 0)
		return;
	evbuffer_add_buffer(d->dr_pend, in);
	dir_push(d, len, 0);
	dir_pressure(d);
}

/* The EOF went out once everything before it was written. */
static void
dir_finish(struct dir *d)
{
	struct relay	*r = d->dr_relay;

	if (!d->dr_eofdue || evbuffer_get_length(
	    bufferevent_get_output(d->dr_dst)) > 0)
		return;
	d->dr_eofdue = 0;
	d->dr_done = 1;
	shutdown(bufferevent_getfd(d->dr_dst), SHUT_WR);
	if (r->rl_dir[0].dr_done && r->rl_dir[1].dr_done)
		relay_free(r, 0);
}

static void
dir_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dir	*d = arg;
	struct seg	*s;
	struct evbuffer	*out;
	uint64_t	 now = now_us();

	(void)fd;
	(void)what;
	out = bufferevent_get_output(d->dr_dst);
	while (d->dr_nseg > 0 && !d->dr_eofdue) {
		s = &d->dr_seg[d->dr_head];
		if (s->sg_due > now)
			break;
		evbuffer_remove_buffer(d->dr_pend, out, s->sg_len);
		d->dr_eofdue = s->sg_eof;
		d->dr_head = (d->dr_head + 1) % RELAY_SEGS;
		d->dr_nseg--;
	}
	dir_arm(d);
	if (d->dr_eofdue) {
		dir_finish(d);		/* may free the relay */
		return;
	}
	dir_pressure(d);
}

static struct dir *
relay_dir_from(struct relay *r, struct bufferevent *bev)
{
	return (&r->rl_dir[bev == r->rl_bev[SIDE_CLIENT] ? 0 : 1]);
}

static void
relay_read_cb(struct bufferevent *bev, void *arg)
{
	struct relay	*r = arg;
	struct dir	*d = relay_dir_from(r, bev);

	rs.bytes[d - r->rl_dir] += evbuffer_get_length(
	    bufferevent_get_input(bev));
	dir_take(d);
}

/* Output drained: a pending EOF can go, a paused source can read. */
static void
relay_write_cb(struct bufferevent *bev, void *arg)
{
	struct relay	*r = arg;
	struct dir	*d = &r->rl_dir[bev == r->rl_bev[SIDE_CLIENT] ? 1 : 0];

	if (d->dr_eofdue) {
		dir_finish(d);
		return;
	}
	dir_pressure(d);
}

static void
relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct relay	*r = arg;
	struct dir	*d = relay_dir_from(r, bev);

	if (what & BEV_EVENT_CONNECTED) {
		evutil_make_socket_closeonexec(bufferevent_getfd(bev));
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &(int){ 1 }, sizeof(int));
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (d->dr_eof)
			return;
		d->dr_eof = 1;
		dir_take(d);
		bufferevent_disable(bev, EV_READ);
		dir_push(d, 0, 1);
		return;
	}
	if (r->rl_connecting) {		/* relay_new() frees it */
		r->rl_failed = 1;
		return;
	}
	relay_free(r, 1);		/* an error: reset both sides */
}

/* Close both sides; a reset (linger 0) if the relay ends on an error. */
static void
relay_free(struct relay *r, int reset)
{
	struct linger	li = { 1, 0 };
	int		i, fd;

	if (reset)
		rs.resets++;
	for (i = 0; i < 2; i++) {
		evtimer_del(&r->rl_dir[i].dr_timer);
		if (r->rl_dir[i].dr_pend != NULL)
			evbuffer_free(r->rl_dir[i].dr_pend);
		if (r->rl_bev[i] == NULL)
			continue;
		fd = bufferevent_getfd(r->rl_bev[i]);
		if (reset && fd != -1)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &li, sizeof(li));
		bufferevent_free(r->rl_bev[i]);
	}
	TAILQ_REMOVE(&rs.relays, r, rl_entry);
	free(r);
	rs.nconns--;
	if (rs.lsn_paused && rs.nconns < rs.maxconns) {
		rs.lsn_paused = 0;
		evconnlistener_enable(rs.lsn);
	}
}

static int
relay_new(evutil_socket_t fd)
{
	struct relay	*r;
	struct dir	*d;
	uint64_t	 t0 = now_us();
	int		 i;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		close(fd);
		return (-1);
	}
	TAILQ_INSERT_TAIL(&rs.relays, r, rl_entry);
	rs.nconns++;
	for (i = 0; i < 2; i++) {
		d = &r->rl_dir[i];
		d->dr_relay = r;
		d->dr_pend = evbuffer_new();
		evtimer_assign(&d->dr_timer, rs.base, dir_timer_cb, d);
	}
	if ((r->rl_bev[SIDE_CLIENT] = bufferevent_socket_new(rs.base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		close(fd);
	r->rl_bev[SIDE_TARGET] = bufferevent_socket_new(rs.base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	for (i = 0; i < 2; i++)
		if (r->rl_bev[i] == NULL || r->rl_dir[i].dr_pend == NULL)
			goto fail;
	for (i = 0; i < 2; i++) {
		d = &r->rl_dir[i];
		d->dr_src = r->rl_bev[i];
		d->dr_dst = r->rl_bev[!i];
		bufferevent_setcb(r->rl_bev[i], relay_read_cb, relay_write_cb,
		    relay_event_cb, r);
		bufferevent_set_max_single_read(r->rl_bev[i], RELAY_READMAX);
		bufferevent_enable(r->rl_bev[i], EV_READ | EV_WRITE);
	}
	/* The far side's handshake: see the comment at the top. */
	r->rl_dir[0].dr_gate = t0 + 2 * rs.delay;
	r->rl_dir[1].dr_gate = t0 + 3 * rs.delay;
	setsockopt(bufferevent_getfd(r->rl_bev[SIDE_CLIENT]), IPPROTO_TCP,
	    TCP_NODELAY, &(int){ 1 }, sizeof(int));
	/* A connect that fails at once calls relay_event_cb() inside. */
	r->rl_connecting = 1;
	if (bufferevent_socket_connect(r->rl_bev[SIDE_TARGET],
	    (struct sockaddr *)&rs.target, rs.targetlen) == -1 ||
	    r->rl_failed)
		goto fail;
	r->rl_connecting = 0;
	return (0);
 fail:
	relay_free(r, 1);
	return (-1);
}

static void
accept_cb(struct evconnlistener *lsn, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)lsn;
	(void)sa;
	(void)salen;
	(void)arg;
	rs.accepted++;
	if (relay_new(fd) == -1)
		fprintf(stderr, "delayrelay: cannot relay a connection\n");
	if (!rs.lsn_paused && rs.nconns >= rs.maxconns) {
		rs.lsn_paused = 1;
		evconnlistener_disable(rs.lsn);
	}
}

static void
accept_error_cb(struct evconnlistener *lsn, void *arg)
{
	(void)lsn;
	(void)arg;
	/* Out of descriptors, most likely: wait for relays to end. */
	fprintf(stderr, "delayrelay: accept: %s\n", strerror(errno));
	if (rs.nconns > 0) {
		rs.lsn_paused = 1;
		evconnlistener_disable(rs.lsn);
	}
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopbreak(rs.base);
}

static void
usage(void)
{
	fprintf(stderr, "usage: delayrelay -l ADDR:PORT -t ADDR:PORT -d MS "
	    "[-b BYTES] [-m CONNS]\n");
	exit(2);
}

/* ADDR:PORT, numeric; port 0 (any free port) too, which libevent refuses. */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, int *len)
{
	char	buf[128];
	size_t	n = strlen(s);
	int	any = n > 2 && strcmp(s + n - 2, ":0") == 0;

	if (n >= sizeof(buf))
		return (-1);
	memcpy(buf, s, n + 1);
	if (any)
		buf[n - 1] = '1';
	*len = sizeof(*ss);
	memset(ss, 0, sizeof(*ss));
	if (evutil_parse_sockaddr_port(buf, (struct sockaddr *)ss, len) == -1)
		return (-1);
	if (any && ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = 0;
	else if (any)
		((struct sockaddr_in *)ss)->sin_port = 0;
	return (0);
}

static void
print_ready(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			 host[64];
	int			 port;

	getsockname(evconnlistener_get_fd(rs.lsn), (struct sockaddr *)&ss,
	    &len);
	if (ss.ss_family == AF_INET6) {
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
		    sin6_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		printf("delayrelay ready [%s]:%d\n", host, port);
	} else {
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
		    sin_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		printf("delayrelay ready %s:%d\n", host, port);
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage	 ls;
	struct event_config	*cfg;
	struct event		*sigs[2];
	struct relay		*r;
	const char		*listen_at = NULL, *target = NULL;
	char			*end;
	double			 ms = -1;
	int			 c, lslen;

	while ((c = getopt(argc, argv, "b:d:l:m:t:")) != -1) {
		switch (c) {
		case 'b':
			rs.bound = strtoul(optarg, &end, 10);
			if (*end != '\0' || rs.bound < 1024)
				usage();
			break;
		case 'd':
			ms = strtod(optarg, &end);
			if (*end != '\0' || !(ms >= 0 && ms <= 60000))
				usage();
			break;
		case 'l':
			listen_at = optarg;
			break;
		case 'm':
			rs.maxconns = strtol(optarg, &end, 10);
			if (*end != '\0' || rs.maxconns < 1)
				usage();
			break;
		case 't':
			target = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || listen_at == NULL || target == NULL || ms < 0)
		usage();
	rs.delay = (uint64_t)(ms * 1000.0 + 0.5);
	if (parse_addr(listen_at, &ls, &lslen) == -1 ||
	    parse_addr(target, &rs.target, &rs.targetlen) == -1) {
		fprintf(stderr, "delayrelay: want ADDR:PORT, numeric\n");
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	TAILQ_INIT(&rs.relays);
	/* timerfd on Linux: epoll_wait's milliseconds would round up. */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) == -1 ||
	    (rs.base = event_base_new_with_config(cfg)) == NULL)
		return (1);
	event_config_free(cfg);
	rs.lsn = evconnlistener_new_bind(rs.base, accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    -1, (struct sockaddr *)&ls, lslen);
	if (rs.lsn == NULL) {
		fprintf(stderr, "delayrelay: cannot listen on %s: %s\n",
		    listen_at, strerror(errno));
		return (1);
	}
	evconnlistener_set_error_cb(rs.lsn, accept_error_cb);
	sigs[0] = evsignal_new(rs.base, SIGTERM, signal_cb, NULL);
	sigs[1] = evsignal_new(rs.base, SIGINT, signal_cb, NULL);
	evsignal_add(sigs[0], NULL);
	evsignal_add(sigs[1], NULL);
	print_ready();

	event_base_dispatch(rs.base);

	while ((r = TAILQ_FIRST(&rs.relays)) != NULL)
		relay_free(r, 0);
	printf("{\"accepted\":%" PRIu64 ",\"bytes_up\":%" PRIu64
	    ",\"bytes_down\":%" PRIu64 ",\"resets\":%" PRIu64
	    ",\"held_max\":%zu,\"bound\":%zu}\n", rs.accepted, rs.bytes[0],
	    rs.bytes[1], rs.resets, rs.held_max, rs.bound);
	fflush(stdout);
	event_free(sigs[0]);
	event_free(sigs[1]);
	evconnlistener_free(rs.lsn);
	event_base_free(rs.base);
	return (0);
}
