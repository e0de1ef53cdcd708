/* SPDX-License-Identifier: ISC */
/*
 * A PAC file read and run in a child process: a script that loops, eats
 * memory or crashes the engine costs a killed child, never the sidecar,
 * and the event loop never waits on the PAC server.  The child writes
 * 'F' once the script is read, then 'O' and the answer or 'E' and why.
 *
 * At start (and when a reload names another PAC or upstream) the config
 * waits for the answer: a PAC that cannot be read then is an error.
 * Later, on SIGHUP and every pac_refresh, the file is read again in the
 * background; a new answer is kept and the owner's hook reloads the
 * configuration with it; a failure keeps the last good answer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>

#include "conf.h"
#include "log.h"
#include "pac.h"
#include "proxy.h"

#define PAC_OUT_MAX	(PAC_ANSWER_MAX + TGS_ERRLEN + 8)

static struct {
	struct event_base	*pr_base;
	pac_changed_fn		 pr_hook;
	void			*pr_arg;
	struct event		*pr_timer;	/* every pac_refresh */
	struct event		*pr_read;	/* the child's pipe */
	pid_t			 pr_pid;	/* a background run, or 0 */
	int			 pr_fd;
	int			 pr_fetched;
	char			 pr_out[PAC_OUT_MAX];
	size_t			 pr_outlen;
	char			*pr_key;	/* url "\n" upstream, answered */
	char			*pr_answer;	/* the last good answer */
	char			*pr_runkey;	/* of the background run */
	/* The current config's PAC, for background runs. */
	char			*pr_url, *pr_upstream, *pr_host, *pr_ca;
	long			 pr_refresh_ms;
} pr = { .pr_fd = -1 };

static void
pac_run_write(int fd, char kind, const char *msg)
{
	size_t	 n = strlen(msg);

	(void)!write(fd, &kind, 1);
	(void)!write(fd, msg, n < PAC_OUT_MAX - 2 ? n : PAC_OUT_MAX - 2);
}

/*
 * The child keeps stdin, stdout, stderr and its pipe (as fd 3) only: a
 * bot's socket it held would stay open after the sidecar closed it.
 */
static int
pac_run_closefds(int fd)
{
	long	 i, max;

	if (fd != 3 && dup2(fd, 3) == -1)
		_exit(1);
	if (close_range(4, ~0U, 0) == 0)
		return (3);
	max = sysconf(_SC_OPEN_MAX);
	for (i = 4; i < (max > 0 && max < 65536 ? max : 65536); i++)
		close((int)i);
	return (3);
}

static void
pac_run_child(const struct pac_job *pj, int fd)
{
	char		 answer[PAC_ANSWER_MAX], err[TGS_ERRLEN], url[1024];
	char		*script = NULL;
	size_t		 len;
	struct sigaction sa;
	int		 sigs[] = { SIGHUP, SIGINT, SIGTERM, SIGALRM, SIGCHLD };
	size_t		 i;

	/* The parent's libevent handlers must not run here. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	fd = pac_run_closefds(fd);
	/* A backstop, should the parent be gone. */
	alarm((PAC_FETCH_MS + (pj->pj_eval_ms ? pj->pj_eval_ms :
	    PAC_EVAL_MS)) / 1000 + 5);
	if (pac_fetch(pj, &script, &len, err, sizeof(err)) == -1) {
		pac_run_write(fd, 'E', err);
		_exit(0);
	}
	(void)!write(fd, "F", 1);
	snprintf(url, sizeof(url), "%s/", pj->pj_upstream);
	if (pac_eval(script, len, url, pj->pj_host, answer, sizeof(answer),
	    err, sizeof(err)) == -1)
		pac_run_write(fd, 'E', err);
	else
		pac_run_write(fd, 'O', answer);
	_exit(0);
}

static pid_t
pac_run_fork(const struct pac_job *pj, int *fdp)
{
	int	 fds[2];
	pid_t	 pid;

	if (pipe2(fds, O_CLOEXEC) == -1)
		return (-1);
	fflush(NULL);	/* or the child may write the parent's buffers too */
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return (-1);
	}
	if (pid == 0) {
		close(fds[0]);
		pac_run_child(pj, fds[1]);
	}
	close(fds[1]);
	*fdp = fds[0];
	return (pid);
}

/* The child's verdict from its output and exit status: 0 and answer. */
static int
pac_run_verdict(const char *out, size_t len, int status, const char **msg)
{
	size_t	 off = len > 0 && out[0] == 'F' ? 1 : 0;

	if (len > off && out[off] == 'O') {
		*msg = out + off + 1;
		return (0);
	}
	if (len > off && out[off] == 'E')
		*msg = out + off + 1;
	else if (WIFSIGNALED(status))
		*msg = "the JavaScript engine crashed";
	else
		*msg = "the JavaScript engine failed";
	return (-1);
}

static long
pac_run_ms_left(const struct timespec *end)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return ((end->tv_sec - now.tv_sec) * 1000 +
	    (end->tv_nsec - now.tv_nsec) / 1000000);
}

static void
pac_run_deadline(struct timespec *end, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, end);
	end->tv_sec += ms / 1000;
	end->tv_nsec += (ms % 1000) * 1000000;
	if (end->tv_nsec >= 1000000000) {
		end->tv_sec++;
		end->tv_nsec -= 1000000000;
	}
}

/* Run pj and wait for it: answer, or -1 and err. */
int
pac_run_sync(const struct pac_job *pj, char *answer, size_t alen, char *err,
    size_t errlen)
{
	char		 out[PAC_OUT_MAX];
	const char	*msg;
	struct timespec	 end;
	struct pollfd	 pfd;
	size_t		 len = 0;
	ssize_t		 n;
	long		 eval = pj->pj_eval_ms ? pj->pj_eval_ms : PAC_EVAL_MS;
	int		 status = 0, fetched = 0, late = 0;
	pid_t		 pid;

	if ((pid = pac_run_fork(pj, &pfd.fd)) == -1) {
		snprintf(err, errlen, "PAC %s: cannot start: %s", pj->pj_url,
		    strerror(errno));
		return (-1);
	}
	pfd.events = POLLIN;
	pac_run_deadline(&end, PAC_FETCH_MS + 1000);
	for (;;) {
		if (pac_run_ms_left(&end) <= 0) {
			late = 1;
			break;
		}
		if ((n = poll(&pfd, 1, (int)pac_run_ms_left(&end))) == -1 &&
		    errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if ((n = read(pfd.fd, out + len, sizeof(out) - 1 - len)) <= 0)
			break;
		len += n;
		if (!fetched && out[0] == 'F') {
			fetched = 1;
			pac_run_deadline(&end, eval);
		}
	}
	out[len] = '\0';
	close(pfd.fd);
	if (late)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (late) {
		snprintf(err, errlen, fetched ? "PAC %s: the script did "
		    "not finish in %ld ms" : "PAC %s: not read in %ld ms",
		    pj->pj_url, fetched ? eval : (long)PAC_FETCH_MS + 1000);
		return (-1);
	}
	if (pac_run_verdict(out, len, status, &msg) == -1) {
		snprintf(err, errlen, "PAC %s: %s", pj->pj_url, msg);
		return (-1);
	}
	snprintf(answer, alen, "%s", msg);
	return (0);
}

static char *
pac_run_key(const char *url, const char *upstream)
{
	char	*key;

	if (asprintf(&key, "%s\n%s", url, upstream) == -1)
		return (NULL);
	return (key);
}

/* Keep answer as the last good one for key (taken). */
static void
pac_run_keep(char *key, const char *answer)
{
	char	*a;

	if ((a = strdup(answer)) == NULL) {
		free(key);
		return;
	}
	free(pr.pr_key);
	free(pr.pr_answer);
	pr.pr_key = key;
	pr.pr_answer = a;
}

/*
 * For config_load: a "pac+" proxy becomes the list its PAC answers, the
 * last good answer if the PAC and upstream are the same, else a fresh
 * one waited for.
 */
int
pac_config(struct config *cfg, char *err, size_t errlen)
{
	struct pac_job	 pj;
	char		 answer[PAC_ANSWER_MAX], msg[TGS_ERRLEN], *key;

	if (cfg->cfg_pac == NULL)
		return (0);
	if ((key = pac_run_key(cfg->cfg_pac, cfg->cfg_upstream)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	if (pr.pr_key == NULL || strcmp(pr.pr_key, key) != 0) {
		memset(&pj, 0, sizeof(pj));
		pj.pj_url = cfg->cfg_pac;
		pj.pj_upstream = cfg->cfg_upstream;
		pj.pj_host = cfg->cfg_upstream_host;
		pj.pj_ca_file = cfg->cfg_ca_file;
		if (pac_run_sync(&pj, answer, sizeof(answer), err,
		    errlen) == -1) {
			free(key);
			return (-1);
		}
		pac_run_keep(key, answer);
	} else
		free(key);
	if (pr.pr_answer == NULL || pac_parse(pr.pr_answer, cfg->cfg_proxy,
	    CONFIG_PROXY_MAX, &cfg->cfg_nproxy, msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "PAC %s: %s", cfg->cfg_pac,
		    pr.pr_answer == NULL ? "out of memory" : msg);
		return (-1);
	}
	return (0);
}

static void
pac_run_reap(void)
{
	int	 status;

	if (pr.pr_read != NULL)
		event_free(pr.pr_read);
	pr.pr_read = NULL;
	if (pr.pr_fd != -1)
		close(pr.pr_fd);
	pr.pr_fd = -1;
	if (pr.pr_pid > 0) {
		kill(pr.pr_pid, SIGKILL);
		while (waitpid(pr.pr_pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	pr.pr_pid = 0;
}

/* A background run ended: a new answer reloads, a failure keeps the old. */
static void
pac_run_finish(int late)
{
	struct proxy	 px[CONFIG_PROXY_MAX];
	const char	*msg;
	char		 why[TGS_ERRLEN], *key = pr.pr_runkey;
	int		 status = 0, n, i, rc;

	pr.pr_runkey = NULL;
	if (!late) {
		while (waitpid(pr.pr_pid, &status, 0) == -1 && errno == EINTR)
			;
		pr.pr_pid = 0;
	}
	pac_run_reap();
	pr.pr_out[pr.pr_outlen] = '\0';
	if (late)
		rc = -1, msg = pr.pr_fetched ? "the script did not finish "
		    "in time" : "not read in time";
	else
		rc = pac_run_verdict(pr.pr_out, pr.pr_outlen, status, &msg);
	if (rc == 0 && pac_parse(msg, px, CONFIG_PROXY_MAX, &n, why,
	    sizeof(why)) == 0) {
		for (i = 0; i < n; i++)
			proxy_clear(&px[i]);
	} else if (rc == 0) {
		rc = -1;
		msg = why;
	}
	if (rc == -1) {
		log_warnx("PAC %s: %s; the last good proxy list stays",
		    pr.pr_url, msg);
		free(key);
		return;
	}
	if (pr.pr_key != NULL && strcmp(pr.pr_key, key) == 0 &&
	    strcmp(pr.pr_answer, msg) == 0) {
		log_debug("PAC %s: answer unchanged", pr.pr_url);
		free(key);
		return;
	}
	log_info("PAC %s now answers \"%s\"", pr.pr_url, msg);
	pac_run_keep(key, msg);
	if (pr.pr_hook != NULL)
		pr.pr_hook(pr.pr_arg);
}

static void
pac_run_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv;
	ssize_t		 n;

	(void)arg;
	if (what & EV_TIMEOUT) {
		pac_run_finish(1);
		return;
	}
	n = read(fd, pr.pr_out + pr.pr_outlen, PAC_OUT_MAX - 1 - pr.pr_outlen);
	if (n <= 0) {
		pac_run_finish(0);
		return;
	}
	pr.pr_outlen += n;
	if (!pr.pr_fetched && pr.pr_out[0] == 'F') {
		/* Read: now the script's own clock. */
		pr.pr_fetched = 1;
		tv.tv_sec = PAC_EVAL_MS / 1000;
		tv.tv_usec = (PAC_EVAL_MS % 1000) * 1000;
		event_add(pr.pr_read, &tv);
	}
}

/* Read and run the current PAC again, in the background. */
void
pac_run_refresh(void)
{
	struct pac_job	 pj;
	struct timeval	 tv = { (PAC_FETCH_MS + 1000) / 1000, 0 };

	if (pr.pr_url == NULL || pr.pr_pid > 0 || pr.pr_base == NULL)
		return;
	memset(&pj, 0, sizeof(pj));
	pj.pj_url = pr.pr_url;
	pj.pj_upstream = pr.pr_upstream;
	pj.pj_host = pr.pr_host;
	pj.pj_ca_file = pr.pr_ca;
	if ((pr.pr_runkey = pac_run_key(pr.pr_url, pr.pr_upstream)) == NULL)
		return;
	if ((pr.pr_pid = pac_run_fork(&pj, &pr.pr_fd)) == -1) {
		log_warn("PAC %s: cannot start", pr.pr_url);
		pr.pr_pid = 0;
		free(pr.pr_runkey);
		pr.pr_runkey = NULL;
		return;
	}
	pr.pr_outlen = 0;
	pr.pr_fetched = 0;
	pr.pr_read = event_new(pr.pr_base, pr.pr_fd, EV_READ | EV_PERSIST,
	    pac_run_read_cb, NULL);
	if (pr.pr_read == NULL || event_add(pr.pr_read, &tv) == -1) {
		pac_run_reap();
		free(pr.pr_runkey);
		pr.pr_runkey = NULL;
	}
}

static void
pac_run_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	pac_run_refresh();
}

int
pac_run_init(struct event_base *base, pac_changed_fn hook, void *arg)
{
	pr.pr_base = base;
	pr.pr_hook = hook;
	pr.pr_arg = arg;
	pr.pr_timer = event_new(base, -1, EV_PERSIST, pac_run_timer_cb, NULL);
	return (pr.pr_timer == NULL ? -1 : 0);
}

static int
pac_run_dup(char **dst, const char *src)
{
	free(*dst);
	*dst = NULL;
	return (src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0);
}

/* The config now in use: its PAC is the one read in the background. */
void
pac_run_schedule(const struct config *cfg)
{
	struct timeval	 tv;

	if (pr.pr_timer == NULL)
		return;
	evtimer_del(pr.pr_timer);
	if (pac_run_dup(&pr.pr_url, cfg->cfg_pac) == -1 ||
	    pac_run_dup(&pr.pr_upstream, cfg->cfg_upstream) == -1 ||
	    pac_run_dup(&pr.pr_host, cfg->cfg_upstream_host) == -1 ||
	    pac_run_dup(&pr.pr_ca, cfg->cfg_ca_file) == -1) {
		log_warnx("PAC: out of memory; no refresh");
		pac_run_dup(&pr.pr_url, NULL);
		return;
	}
	if (cfg->cfg_pac == NULL)
		return;
	pr.pr_refresh_ms = cfg->cfg_pac_refresh_ms;
	tv.tv_sec = pr.pr_refresh_ms / 1000;
	tv.tv_usec = (pr.pr_refresh_ms % 1000) * 1000;
	evtimer_add(pr.pr_timer, &tv);
}

void
pac_run_free(void)
{
	pac_run_reap();
	if (pr.pr_timer != NULL)
		event_free(pr.pr_timer);
	pr.pr_timer = NULL;
	free(pr.pr_runkey);
	free(pr.pr_key);
	free(pr.pr_answer);
	free(pr.pr_url);
	free(pr.pr_upstream);
	free(pr.pr_host);
	free(pr.pr_ca);
	memset(&pr, 0, sizeof(pr));
	pr.pr_fd = -1;
}
