/* SPDX-License-Identifier: ISC */
/*
 * The listener, the loop and its signals.  SIGINT and SIGTERM stop
 * accepting and let requests in flight finish, within shutdown_timeout.
 */
#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "client.h"
#include "conf.h"
#include "failover.h"
#include "health.h"
#include "log.h"
#include "pac.h"
#include "metrics.h"
#include "multi.h"
#include "server.h"
#include "spare.h"
#include "tls.h"
#include "trim.h"
#include "trustmark.h"
#include "upstream.h"
#include "util.h"

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#define server_notify(state)	sd_notify(0, (state))
#else
#define server_notify(state)	((void)0)
#endif

#define SERVER_BACKLOG		511

extern char **environ;
#define SERVER_ACCEPT_PAUSE_MS	100

static void
server_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server	*srv = arg;

	evutil_make_socket_nonblocking(fd);
	client_new(&srv->srv_pool, fd, sa, salen, l == srv->srv_admin);
}

static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	if (srv->srv_pool.cp_draining)
		return;
	evconnlistener_enable(srv->srv_listener);
	if (srv->srv_admin != NULL)
		evconnlistener_enable(srv->srv_admin);
}

/*
 * Out of file descriptors: pause accepting for a moment rather than
 * spin on a listener that can never be drained.
 */
static void
server_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 0, SERVER_ACCEPT_PAUSE_MS * 1000 };

	log_warn("accept");
	evconnlistener_disable(l);
	event_base_once(srv->srv_base, -1, EV_TIMEOUT, server_resume_cb, srv,
	    &tv);
}

static void
server_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;
	struct client	*clt;

	(void)fd;
	(void)what;
	log_warnx("shutdown: %d connection(s) still busy after "
	    "shutdown_timeout, closing them", srv->srv_pool.cp_clients);
	while ((clt = TAILQ_FIRST(&srv->srv_pool.cp_clts)) != NULL)
		client_close(clt, "sidecar shutting down");
	event_base_loopbreak(srv->srv_base);
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server		*srv = arg;
	const struct config	*cfg = srv->srv_pool.cp_cfg;
	struct timeval		 tv;

	(void)what;
	if (srv->srv_pool.cp_draining)
		return;
	log_info("%s: draining %d connection(s)", strsignal(sig),
	    srv->srv_pool.cp_clients);
	server_notify("STOPPING=1");
	srv->srv_pool.cp_draining = 1;
	spare_config(NULL);
	/* Closed, not disabled: new bots must be refused, not left hanging. */
	evconnlistener_free(srv->srv_listener);
	srv->srv_listener = NULL;
	if (srv->srv_admin != NULL)
		evconnlistener_free(srv->srv_admin);
	srv->srv_admin = NULL;
	client_drain(&srv->srv_pool);
	if (srv->srv_pool.cp_clients == 0) {
		event_base_loopbreak(srv->srv_base);
		return;
	}
	util_ms_timeval(cfg->cfg_shutdown_timeout_ms, &tv);
	evtimer_add(srv->srv_drain_timer, &tv);
}

/* Bound and trusted: nothing needs root from here on. */
static int
server_privdrop(const char *name)
{
	struct passwd	*pw;

	if ((pw = getpwnam(name)) == NULL) {
		log_warnx("user %s: no such user", name);
		return (-1);
	}
	if (geteuid() != 0) {
		log_warnx("user = %s needs tgsidecar to start as root", name);
		return (-1);
	}
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_warn("cannot drop privileges to %s", name);
		return (-1);
	}
	/* Make sure there is no way back. */
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		log_warnx("privileges to %s were not dropped", name);
		return (-1);
	}
	log_info("running as %s", name);
	return (0);
}

/*
 * SIGHUP: parse the configuration anew into a fresh struct and swap it in
 * only if it is valid.  Requests in flight keep the one they started with.
 *
 * Signals coalesce: a SIGHUP only marks a reload pending (libevent calls
 * the handler once per signal caught, 2,000 times for a burst of 2,000),
 * and the reload runs from a timer, no sooner than SERVER_RELOAD_GAP_MS
 * after the last one ended.  SIGHUPs during a pending or running reload
 * make at most one more, which still sees the latest files.
 */
#define SERVER_RELOAD_GAP_MS	200

static void	server_reload(struct server *);

static void
server_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;
	struct timespec	 now;
	struct timeval	 tv;
	long		 wait = 0;

	(void)sig;
	(void)what;
	metrics_reload(METRICS_RELOAD_SIGNAL);
	if (srv->srv_reload_pending)
		return;
	srv->srv_reload_pending = 1;
	if (srv->srv_reload_last.tv_sec != 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		wait = SERVER_RELOAD_GAP_MS -
		    util_ms_between(&srv->srv_reload_last, &now);
		if (wait < 0)
			wait = 0;
	}
	util_ms_timeval(wait, &tv);
	evtimer_add(srv->srv_reload_ev, &tv);
}

static void
server_reload_run(evutil_socket_t fd, short what, void *arg)
{
	struct server	*srv = arg;

	(void)fd;
	(void)what;
	srv->srv_reload_pending = 0;
	server_notify("RELOADING=1");
	server_reload(srv);
	pac_run_refresh();	/* a pac+ proxy's file, in the background */
	server_notify("READY=1");
	clock_gettime(CLOCK_MONOTONIC, &srv->srv_reload_last);
}

/*
 * The trust store again, only if its files changed (trustmark.c): a CA
 * bundle costs about 25 ms to parse.
 */
static int
server_trust(struct server *srv, const struct config *cfg)
{
	struct trustmark	 tm;

	trustmark_take(&tm, cfg);
	if (trustmark_same(&tm, &srv->srv_trust))
		return (0);
	if (tls_init(cfg) == -1)
		return (-1);
	srv->srv_trust = tm;
	metrics_reload(METRICS_RELOAD_TRUST);
	log_info("reload: the trust store was read anew (its files changed)");
	return (0);
}

/* pac_run.c's hook: the PAC answers a new list; reload with it. */
static void
server_pac_changed(void *arg)
{
	server_reload(arg);
}

static void
server_reload(struct server *srv)
{
	struct config	*cfg;
	struct config_cli cli;
	char		 err[TGS_ERRLEN * 2];

	if ((cfg = config_new()) == NULL) {
		log_warn("reload: config_new");
		return;
	}
	if (config_load(cfg, &cli, srv->srv_argc, srv->srv_argv, environ,
	    err, sizeof(err)) == -1) {
		log_warnx("reload failed, the old configuration stays: %s", err);
		metrics_reload(METRICS_RELOAD_FAILED);
		config_unref(cfg);
		return;
	}
	if (strcmp(cfg->cfg_listen, srv->srv_pool.cp_cfg->cfg_listen) != 0)
		log_warnx("reload: listen %s takes a restart; still on %s",
		    cfg->cfg_listen, srv->srv_pool.cp_cfg->cfg_listen);
	if (server_trust(srv, cfg) == -1) {
		log_warnx("reload failed, the old configuration stays");
		metrics_reload(METRICS_RELOAD_FAILED);
		config_unref(cfg);
		return;
	}
	metrics_reload(METRICS_RELOAD_APPLIED);
	log_init(cfg->cfg_log_level);
	log_format(cfg->cfg_log_json, cfg->cfg_syslog);
	failover_inherit(cfg, srv->srv_pool.cp_cfg);
	config_unref(srv->srv_pool.cp_cfg);
	srv->srv_pool.cp_cfg = cfg;
	spare_config(cfg);	/* the old config's spares close */
	pac_run_schedule(cfg);
	log_info("configuration reloaded: upstream %s%s, proxy %s",
	    cfg->cfg_upstream, cfg->cfg_upstream_path,
	    cfg->cfg_proxy[0].px_scheme == PROXY_NONE ?
	    "direct" : cfg->cfg_proxy[0].px_url);
}

/*
 * The pool's cp_idle hook, when nothing is in flight: hand freed memory
 * back to the system once things are quiet (trim.c), so a burst of
 * thousands of long polls does not stay in RSS for good.
 */
static void
server_idle(void *arg)
{
	struct server	*srv = arg;

	trim_soon(srv->srv_base);
}

/* The pool's cp_gone hook: the last connection ends a drain. */
static void
server_client_gone(void *arg)
{
	struct server	*srv = arg;

	if (srv->srv_pool.cp_draining && srv->srv_pool.cp_clients == 0)
		event_base_loopbreak(srv->srv_base);
}

/* One listening socket, paused rather than spun on when out of fds. */
static struct evconnlistener *
server_bind(struct server *srv, const struct sockaddr_storage *ss, int len)
{
	struct evconnlistener	*l;

	l = evconnlistener_new_bind(srv->srv_base, server_accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    SERVER_BACKLOG, (const struct sockaddr *)ss, len);
	if (l != NULL)
		evconnlistener_set_error_cb(l, server_accept_error_cb);
	return (l);
}

/* The listener, and admin_listen when it is set. */
static int
server_listen(struct server *srv, const struct config *cfg)
{
	if ((srv->srv_listener = server_bind(srv, &cfg->cfg_listen_ss,
	    cfg->cfg_listen_sslen)) == NULL) {
		log_warn("cannot listen on %s", cfg->cfg_listen);
		return (-1);
	}
	if (cfg->cfg_admin_listen != NULL &&
	    (srv->srv_admin = server_bind(srv, &cfg->cfg_admin_ss,
	    cfg->cfg_admin_sslen)) == NULL) {
		log_warn("cannot listen on admin_listen %s",
		    cfg->cfg_admin_listen);
		return (-1);
	}
	return (0);
}

int
server_init(struct server *srv, struct config *cfg, int argc, char **argv)
{
	memset(srv, 0, sizeof(*srv));
	TAILQ_INIT(&srv->srv_pool.cp_clts);
	srv->srv_pool.cp_cfg = config_ref(cfg);
	srv->srv_argc = argc;
	srv->srv_argv = argv;
	/* A bot that hangs up must cost us an EPIPE, not the process. */
	signal(SIGPIPE, SIG_IGN);
	if ((srv->srv_base = event_base_new()) == NULL) {
		log_warnx("event_base_new failed");
		goto fail;
	}
	srv->srv_pool.cp_base = srv->srv_base;
	srv->srv_pool.cp_idle = server_idle;
	srv->srv_pool.cp_gone = server_client_gone;
	srv->srv_pool.cp_arg = srv;
	trustmark_take(&srv->srv_trust, cfg);
	if (tls_init(cfg) == -1 || multi_init(srv->srv_base) == -1 ||
	    spare_init(srv->srv_base) == -1)
		goto fail;
	spare_config(cfg);
	if (pac_run_init(srv->srv_base, server_pac_changed, srv) == -1)
		goto fail;
	pac_run_schedule(cfg);
	srv->srv_sigint = evsignal_new(srv->srv_base, SIGINT,
	    server_signal_cb, srv);
	srv->srv_sigterm = evsignal_new(srv->srv_base, SIGTERM,
	    server_signal_cb, srv);
	srv->srv_sighup = evsignal_new(srv->srv_base, SIGHUP,
	    server_reload_cb, srv);
	srv->srv_drain_timer = evtimer_new(srv->srv_base, server_stop_cb, srv);
	srv->srv_reload_ev = evtimer_new(srv->srv_base, server_reload_run,
	    srv);
	if (srv->srv_sigint == NULL || srv->srv_sigterm == NULL ||
	    srv->srv_reload_ev == NULL ||
	    srv->srv_sighup == NULL || srv->srv_drain_timer == NULL ||
	    evsignal_add(srv->srv_sigint, NULL) == -1 ||
	    evsignal_add(srv->srv_sigterm, NULL) == -1 ||
	    evsignal_add(srv->srv_sighup, NULL) == -1) {
		log_warnx("cannot set up signal handling");
		goto fail;
	}
	if (server_listen(srv, cfg) == -1)
		goto fail;
	if (cfg->cfg_user != NULL && server_privdrop(cfg->cfg_user) == -1)
		goto fail;
	return (0);
 fail:
	server_free(srv);
	return (-1);
}

int
server_run(struct server *srv)
{
	const struct config	*cfg = srv->srv_pool.cp_cfg;
	char			 via[1024];
	size_t			 off = 0;
	int			 i;

	via[0] = '\0';
	for (i = 0; i < cfg->cfg_nproxy && off < sizeof(via); i++)
		off += snprintf(via + off, sizeof(via) - off, "%s%s",
		    i > 0 ? ", " : "",
		    cfg->cfg_proxy[i].px_scheme == PROXY_NONE ? "direct" :
		    cfg->cfg_proxy[i].px_url);
	log_info("listening on %s, upstream %s%s, proxy %s%s%s",
	    cfg->cfg_listen, cfg->cfg_upstream, cfg->cfg_upstream_path, via,
	    cfg->cfg_pre_proxy.px_scheme == PROXY_NONE ? "" :
	    " via pre_proxy ",
	    cfg->cfg_pre_proxy.px_scheme == PROXY_NONE ? "" :
	    cfg->cfg_pre_proxy.px_url);
	server_notify("READY=1");
	if (event_base_dispatch(srv->srv_base) == -1) {
		log_warnx("event loop failed");
		return (-1);
	}
	log_info("stopped");
	return (0);
}

void
server_free(struct server *srv)
{
	struct client	*clt;

	while ((clt = TAILQ_FIRST(&srv->srv_pool.cp_clts)) != NULL)
		client_close(clt, "sidecar shutting down");
	if (srv->srv_listener != NULL)
		evconnlistener_free(srv->srv_listener);
	if (srv->srv_admin != NULL)
		evconnlistener_free(srv->srv_admin);
	if (srv->srv_sigint != NULL)
		event_free(srv->srv_sigint);
	if (srv->srv_sigterm != NULL)
		event_free(srv->srv_sigterm);
	if (srv->srv_sighup != NULL)
		event_free(srv->srv_sighup);
	if (srv->srv_reload_ev != NULL)
		event_free(srv->srv_reload_ev);
	if (srv->srv_drain_timer != NULL)
		event_free(srv->srv_drain_timer);
	health_free();
	pac_run_free();
	spare_free();
	multi_free();
	tls_free();
	if (srv->srv_base != NULL)
		event_base_free(srv->srv_base);
	config_unref(srv->srv_pool.cp_cfg);
	memset(srv, 0, sizeof(*srv));
}
