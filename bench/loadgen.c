/* SPDX-License-Identifier: ISC */
/*
 * loadgen: a small libcurl multi_socket + epoll load generator for the
 * tgsidecar benchmarks (bench/run). Not part of the daemon.
 *
 *   loadgen -u URL [-n N] [-c C] [-w WARMUP] [--fresh] [-x PROXY]
 *           [--cainfo FILE] [--keep-capath] [--resume yes|no]
 *           [--timeout-ms MS] [--label TEXT] [--expect TEXT]
 *           [--post JSON]
 *           [--think-ms MIN-MAX [--seed S] [--first-ms MS]]
 *   loadgen --startup HOST:PORT -r RUNS -- COMMAND [ARGS...]
 *
 * Load mode: N requests at concurrency C (C slots, each slot sends its
 * next request as soon as the previous one is done). With --fresh every
 * request opens a new connection (CURLOPT_FRESH_CONNECT + FORBID_REUSE),
 * like the sidecar does upstream; otherwise the slots keep their
 * connections alive, like a bot's pool talking to the sidecar. With
 * --cainfo FILE the trust store is FILE alone (CAPATH cleared) unless
 * --keep-capath keeps libcurl's built-in CA path (/etc/ssl/certs on
 * Debian), which makes libcurl re-read the bundle per connection (see
 * NOTES.md: the "default CA bundle" setup); --resume no
 * turns off TLS session resumption (default: one session cache shared by
 * all slots, as the sidecar's tls_session_resume = yes does).
 * WARMUP requests run first and are not counted. --post JSON sends each
 * request as a POST with that body (Content-Type: application/json), as a
 * bot's sendMessage goes.
 *
 * With --think-ms every slot, after each answer, waits a think time drawn
 * uniformly from MIN..MAX milliseconds (a fixed xorshift sequence from
 * --seed, the same on every machine) before its next request: a chat-like
 * pattern instead of back-to-back requests. --first-ms delays the first
 * request, so that several generators started together do not fire in
 * step.
 *
 * It prints one JSON line: requests, errors, throughput, latency
 * percentiles (from adding the request to the multi handle to its
 * completion) and its own CPU seconds (getrusage) per request.
 *
 * Startup mode: RUNS times, spawn COMMAND and measure the time from
 * posix_spawn() until HOST:PORT accepts a TCP connection (non-blocking
 * connect() retried every 100 us), then SIGTERM it and wait. Prints one
 * JSON line with the median, min and max.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

extern char **environ;

#define BODY_KEEP	4096

struct slot {
	CURL		*easy;
	double		 t0;
	double		 due;		/* think mode: start then; 0 idle */
	size_t		 blen;
	char		 body[BODY_KEEP + 1];
};

static struct {
	const char	*url, *proxy, *cainfo, *label, *expect, *post;
	long		 n, c, warmup, timeout_ms;
	int		 fresh, keep_capath, resume;
	double		 think_min, think_max, first_ms;	/* ms */
	int		 think;
	uint64_t	 seed;
} opt = {
	.n = 1000, .c = 1, .warmup = 0, .timeout_ms = 60000,
	.expect = "\"ok\":true", .label = "", .resume = 1, .seed = 1,
};

static struct curl_slist	*post_hdrs;
static int	 epfd;
static long	 timer_ms = -1;
static CURLM	*multi;
static CURLSH	*share;
static int	 running;
static struct slot *slots;

/* Per phase. */
static long	 started, finished, errors, target;
static double	*lat;
static long	 nlat;
static char	 first_error[256];

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_self(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
die(const char *msg)
{
	fprintf(stderr, "loadgen: %s\n", msg);
	exit(2);
}

static size_t
write_cb(char *p, size_t sz, size_t nm, void *arg)
{
	struct slot	*s = arg;
	size_t		 len = sz * nm, room = BODY_KEEP - s->blen;

	if (room > 0) {
		memcpy(s->body + s->blen, p, len < room ? len : room);
		s->blen += len < room ? len : room;
		s->body[s->blen] = '\0';
	}
	return len;
}

static int
sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct epoll_event	ev;

	(void)e;
	(void)arg;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);	/* may be closed */
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.data.fd = fd;
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (sockp == NULL) {
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1 &&
		    errno == EEXIST)
			epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
		curl_multi_assign(multi, fd, (void *)1);
	} else if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == -1 &&
	    errno == ENOENT)
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	return 0;
}

static int
timer_cb(CURLM *m, long ms, void *arg)
{
	(void)m;
	(void)arg;
	timer_ms = ms;
	return 0;
}

static void
slot_setup(struct slot *s)
{
	CURL	*e;

	if ((e = curl_easy_init()) == NULL)
		die("curl_easy_init failed");
	s->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, opt.url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, opt.timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, opt.timeout_ms);
	curl_easy_setopt(e, CURLOPT_PROXY, opt.proxy ? opt.proxy : "");
	if (opt.proxy != NULL)
		curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	if (opt.fresh) {
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	}
	if (opt.cainfo != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, opt.cainfo);
	if (!opt.keep_capath)
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (opt.resume)
		curl_easy_setopt(e, CURLOPT_SHARE, share);
	else
		curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
	if (opt.post != NULL) {
		if (post_hdrs == NULL && ((post_hdrs = curl_slist_append(NULL,
		    "Content-Type: application/json")) == NULL ||
		    curl_slist_append(post_hdrs, "Expect:") == NULL))
			die("curl_slist_append failed");
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, opt.post);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, post_hdrs);
	}
}

/* xorshift64*: the same think times everywhere for one seed. */
static double
rnd01(void)
{
	uint64_t	x = opt.seed;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	opt.seed = x;
	return ((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void
slot_start(struct slot *s)
{
	s->due = 0;
	s->blen = 0;
	s->body[0] = '\0';
	s->t0 = now();
	started++;
	if (curl_multi_add_handle(multi, s->easy) != CURLM_OK)
		die("curl_multi_add_handle failed");
}

/* Think mode: the slot's next request, in this phase or the next. */
static void
slot_think(struct slot *s)
{
	double	ms = opt.think_min + (opt.think_max - opt.think_min) * rnd01();

	s->due = now() + ms / 1000.0;
}

/* Start the slots whose think time is over; ms until the next one. */
static long
start_due(void)
{
	double	t = now(), next = -1;
	long	i;

	for (i = 0; i < opt.c; i++) {
		if (slots[i].due == 0 || started >= target)
			continue;
		if (slots[i].due <= t)
			slot_start(&slots[i]);
		else if (next < 0 || slots[i].due < next)
			next = slots[i].due;
	}
	return (next < 0 ? -1 : (long)((next - t) * 1000.0) + 1);
}

static void
check_done(void)
{
	CURLMsg		*m;
	struct slot	*s;
	long		 code;
	int		 left;
	double		 t;

	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		t = now();
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		code = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(multi, m->easy_handle);
		finished++;
		if (m->data.result != CURLE_OK || code != 200 ||
		    (opt.expect[0] != '\0' && strstr(s->body, opt.expect) ==
		    NULL)) {
			errors++;
			if (first_error[0] == '\0')
				snprintf(first_error, sizeof(first_error),
				    "curl %d (%s), HTTP %ld, body %.80s",
				    m->data.result,
				    curl_easy_strerror(m->data.result), code,
				    s->body);
		} else
			lat[nlat++] = (t - s->t0) * 1000.0;
		if (opt.think)
			slot_think(s);
		else if (started < target)
			slot_start(s);
	}
}

static void
loop(void)
{
	struct epoll_event	 evs[256];
	long			 wait, think;
	int			 i, k, flags;

	while (finished < target) {
		think = start_due();	/* may set the curl timer */
		wait = timer_ms < 0 ? 1000 : timer_ms;
		if (think >= 0 && think < wait)
			wait = think;
		k = epoll_wait(epfd, evs, 256, (int)wait);
		if (k == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait failed");
		}
		if (k == 0) {
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0,
			    &running);
		}
		for (i = 0; i < k; i++) {
			flags = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				flags |= CURL_CSELECT_IN;
			if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
				flags |= CURL_CSELECT_OUT;
			curl_multi_socket_action(multi, evs[i].data.fd, flags,
			    &running);
		}
		check_done();
	}
}

static int
cmp_d(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of the sorted array. */
static double
pct(double p)
{
	long	i;

	if (nlat == 0)
		return 0;
	i = (long)(p / 100.0 * nlat + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= nlat)
		i = nlat - 1;
	return lat[i];
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
phase(long n)
{
	long	i;

	started = finished = errors = nlat = 0;
	first_error[0] = '\0';
	target = n;
	for (i = 0; i < opt.c && started < target; i++) {
		if (!opt.think)
			slot_start(&slots[i]);
		else if (slots[i].due == 0)	/* the very first request */
			slots[i].due = now() + opt.first_ms / 1000.0;
	}
	loop();
}

static int
load_main(void)
{
	double		 t0, t1, c0, c1, sum;
	long		 i;

	if (opt.url == NULL)
		die("-u URL is required");
	if (opt.c < 1 || opt.n < 1)
		die("-n and -c must be positive");
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
		die("curl_global_init failed");
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1 failed");
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	/* Keep-alive: every slot keeps its connection in the cache. */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, opt.c + 16);
	share = curl_share_init();
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	if ((slots = calloc(opt.c, sizeof(*slots))) == NULL ||
	    (lat = calloc(opt.n + opt.warmup + 1, sizeof(double))) == NULL)
		die("out of memory");
	for (i = 0; i < opt.c; i++)
		slot_setup(&slots[i]);

	if (opt.warmup > 0)
		phase(opt.warmup);
	c0 = cpu_self();
	t0 = now();
	phase(opt.n);
	t1 = now();
	c1 = cpu_self();

	sum = 0;
	for (i = 0; i < nlat; i++)
		sum += lat[i];
	qsort(lat, nlat, sizeof(double), cmp_d);
	printf("{\"label\":");
	json_str(opt.label);
	printf(",\"mode\":\"%s\",\"n\":%ld,\"c\":%ld,\"ok\":%ld,"
	    "\"errors\":%ld,\"wall_s\":%.4f,\"rps\":%.1f,"
	    "\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
	    "\"p99_ms\":%.3f,\"max_ms\":%.3f,\"cpu_s\":%.4f,"
	    "\"cpu_ms_per_req\":%.4f,\"first_error\":",
	    opt.think ? (opt.fresh ? "fresh+think" : "keepalive+think") :
	    opt.fresh ? "fresh" : "keepalive", opt.n, opt.c, nlat, errors,
	    t1 - t0, opt.n / (t1 - t0), nlat ? sum / nlat : 0.0,
	    pct(50), pct(90), pct(99), nlat ? lat[nlat - 1] : 0.0,
	    c1 - c0, (c1 - c0) * 1000.0 / opt.n);
	json_str(first_error);
	printf("}\n");
	fflush(stdout);

	for (i = 0; i < opt.c; i++)
		curl_easy_cleanup(slots[i].easy);
	curl_multi_cleanup(multi);
	curl_share_cleanup(share);
	curl_global_cleanup();
	free(slots);
	free(lat);
	return 0;
}

/* ------------------------------------------------------------ startup */

static int
try_connect(const struct sockaddr_in *sin)
{
	struct linger	li = { 1, 0 };
	int		fd, ok;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket failed");
	ok = connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == 0;
	/* Reset rather than TIME_WAIT, so the port can be bound again. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &li, sizeof(li));
	close(fd);
	return ok;
}

static int
startup_main(const char *hostport, long runs, char **argv)
{
	struct sockaddr_in	 sin;
	struct timespec		 nap = { 0, 100000 };
	char			 host[64], *colon;
	double			*t, t0, dt;
	pid_t			 pid;
	long			 r, fails = 0, got = 0;
	int			 st;

	if (argv[0] == NULL)
		die("--startup needs a command after --");
	snprintf(host, sizeof(host), "%s", hostport);
	if ((colon = strrchr(host, ':')) == NULL)
		die("--startup HOST:PORT");
	*colon = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		die("--startup wants an IPv4 address");
	if ((t = calloc(runs + 1, sizeof(double))) == NULL)
		die("out of memory");
	for (r = 0; r < runs; r++) {
		if (try_connect(&sin))
			die("something already listens on the startup port");
		t0 = now();
		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0)
			die("posix_spawn failed");
		dt = -1;
		/* Bounded: at most 5 s of 100 us naps. */
		for (long i = 0; i < 50000; i++) {
			if (try_connect(&sin)) {
				dt = (now() - t0) * 1000.0;
				break;
			}
			if (waitpid(pid, &st, WNOHANG) == pid) {
				pid = -1;
				break;
			}
			nanosleep(&nap, NULL);
		}
		if (dt >= 0)
			t[got++] = dt;
		else
			fails++;
		if (pid > 0) {
			kill(pid, SIGTERM);
			waitpid(pid, &st, 0);
		}
		/* Let the port be released before the next run. */
		for (int i = 0; i < 1000 && try_connect(&sin); i++)
			nanosleep(&nap, NULL);
	}
	qsort(t, got, sizeof(double), cmp_d);
	printf("{\"runs\":%ld,\"failed\":%ld,\"median_ms\":%.3f,"
	    "\"min_ms\":%.3f,\"max_ms\":%.3f}\n", runs, fails,
	    got ? (got % 2 ? t[got / 2] : (t[got / 2 - 1] + t[got / 2]) / 2)
	    : -1.0, got ? t[0] : -1.0, got ? t[got - 1] : -1.0);
	free(t);
	return fails ? 1 : 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen -u URL [-n N] [-c C] [-w WARMUP] [--fresh]\n"
	    "               [-x PROXY] [--cainfo FILE] [--keep-capath]\n"
	    "               [--resume yes|no] [--timeout-ms MS]\n"
	    "               [--label TEXT] [--expect TEXT] [--post JSON]\n"
	    "               [--think-ms MIN-MAX [--seed S] [--first-ms MS]]\n"
	    "       loadgen --startup HOST:PORT [-r RUNS] -- COMMAND [ARGS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char	*startup = NULL;
	long		 runs = 20;
	int		 i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--fresh") == 0) {
			opt.fresh = 1;
			continue;
		} else if (strcmp(a, "--keep-capath") == 0) {
			opt.keep_capath = 1;
			continue;
		}
		if (v == NULL)
			usage();
		if (strcmp(a, "-u") == 0)
			opt.url = v;
		else if (strcmp(a, "-n") == 0)
			opt.n = atol(v);
		else if (strcmp(a, "-c") == 0)
			opt.c = atol(v);
		else if (strcmp(a, "-w") == 0)
			opt.warmup = atol(v);
		else if (strcmp(a, "-x") == 0)
			opt.proxy = v;
		else if (strcmp(a, "--cainfo") == 0)
			opt.cainfo = v;
		else if (strcmp(a, "--resume") == 0)
			opt.resume = strcmp(v, "no") != 0;
		else if (strcmp(a, "--timeout-ms") == 0)
			opt.timeout_ms = atol(v);
		else if (strcmp(a, "--label") == 0)
			opt.label = v;
		else if (strcmp(a, "--expect") == 0)
			opt.expect = v;
		else if (strcmp(a, "--post") == 0)
			opt.post = v;
		else if (strcmp(a, "--think-ms") == 0) {
			if (sscanf(v, "%lf-%lf", &opt.think_min,
			    &opt.think_max) != 2 || opt.think_min < 0 ||
			    opt.think_max < opt.think_min)
				usage();
			opt.think = 1;
		} else if (strcmp(a, "--seed") == 0)
			opt.seed = strtoull(v, NULL, 10) | 1;	/* never 0 */
		else if (strcmp(a, "--first-ms") == 0)
			opt.first_ms = atof(v);
		else if (strcmp(a, "--startup") == 0)
			startup = v;
		else if (strcmp(a, "-r") == 0)
			runs = atol(v);
		else
			usage();
		i++;
	}
	if (startup != NULL)
		return startup_main(startup, runs, argv + i);
	if (i < argc)
		usage();
	return load_main();
}
