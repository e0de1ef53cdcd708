/* SPDX-License-Identifier: ISC */
/*
 * tgsidecar: private declarations, grouped by the file that defines them.
 * A request flows: server (accept) -> client (parse) -> route -> upstream
 * (libcurl via multi) -> client (stream back) -> log.
 */
#ifndef TGSIDECAR_H
#define TGSIDECAR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <http_parser.h>

#define TGS_VERSION		PACKAGE_VERSION
#define TGS_DEFAULT_LISTEN	"127.0.0.1:8081"
#define TGS_DEFAULT_UPSTREAM	"https://api.telegram.org"
#define TGS_ERRLEN		256

/* log.c */
enum log_level { LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
void	 log_init(int level);
int	 log_getlevel(void);
void	 log_secret(const char *secret);
void	 log_secrets_clear(void);
size_t	 log_redact(char *buf, size_t len);
int	 log_wants(int);
int	 log_is_json(void);
void	 log_access(int, const char *);
void	 log_format(int, int);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/* proxy.c */
enum proxy_scheme {
	PROXY_NONE = 0,		/* direct */
	PROXY_HTTP,
	PROXY_HTTPS,
	PROXY_SOCKS5,
	PROXY_SOCKS5H,
	PROXY_SOCKS4A
};

struct proxy {
	int	 px_scheme;	/* enum proxy_scheme */
	char	*px_url;	/* "scheme://host:port", no credentials */
	int	 px_port;
	char	*px_user;	/* percent-decoded, or NULL */
	char	*px_pass;	/* percent-decoded, or NULL */
	struct timespec	 px_failed;	/* failover.c: last failure, or 0 */
	struct timespec	 px_reached;	/* failover.c: last answer, or 0 */
};

int	 proxy_parse(struct proxy *, const char *, char *, size_t);
int	 proxy_is_socks(const struct proxy *);
void	 proxy_clear(struct proxy *);
int	 proxy_from_env(struct proxy *, char **, char *, size_t);

/* acl.c */
struct acl_net {
	int		 an_family;
	int		 an_bits;
	unsigned char	 an_addr[16];
};

/* config.c */
#define CONFIG_PROXY_MAX	8
#define CONFIG_ALLOW_MAX	32
#define CONFIG_BOTS_MAX		64
/* max_header_size: libcurl 7.88 sends at most 1 MiB of request head. */
#define CONFIG_HEAD_MIN		1024
#define CONFIG_HEAD_MAX		(512 * 1024)

struct config {
	struct sockaddr_storage	 cfg_listen_ss;
	int			 cfg_listen_sslen;
	char			*cfg_listen;	/* as given */
	struct sockaddr_storage	 cfg_admin_ss;
	int			 cfg_admin_sslen;
	char			*cfg_admin_listen;	/* or NULL: on listen */
	int			 cfg_log_json;
	int			 cfg_syslog;
	char			*cfg_upstream;	/* scheme://host[:port], no slash */
	char			*cfg_upstream_host;
	struct proxy		 cfg_proxy[CONFIG_PROXY_MAX];	/* failover order */
	int			 cfg_nproxy;	/* [0] PROXY_NONE: direct */
	long			 cfg_proxy_fail_timeout_ms;
	int			 cfg_retries;
	int			 cfg_max_inflight;
	struct acl_net		 cfg_allow[CONFIG_ALLOW_MAX];
	int			 cfg_nallow;	/* 0: loopback only */
	char			 cfg_bots[CONFIG_BOTS_MAX][24];
	int			 cfg_nbots;	/* 0: any bot */
	char			*cfg_user;	/* drop root to this user */
	struct proxy		 cfg_pre_proxy;	/* PROXY_NONE: no pre-proxy */
	char			*cfg_noproxy;	/* from NO_PROXY, or NULL */
	long			 cfg_proxy_auth;	/* CURLAUTH_* mask */
	char			*cfg_ca_file;	/* extra trust, or NULL */
	int			 cfg_tls_session_resume;
	uint64_t		 cfg_max_body;	/* bytes */
	size_t			 cfg_max_header_size;	/* whole request head */
	long			 cfg_connect_timeout_ms;
	long			 cfg_upstream_timeout_ms;
	long			 cfg_poll_timeout_ms;	/* added for getUpdates */
	long			 cfg_idle_timeout_ms;	/* idle bot connection */
	long			 cfg_header_timeout_ms;	/* whole request head */
	long			 cfg_shutdown_timeout_ms;
	int			 cfg_log_level;
	int			 cfg_core_dumps;	/* stay dumpable, debugging */
	int			 cfg_refs;	/* server and requests using it */
};

struct config_cli {
	int	 cli_check;	/* -t */
	int	 cli_version;	/* -V */
	int	 cli_help;	/* -h */
};

void	 config_init(struct config *);
struct config	*config_new(void);
struct config	*config_ref(struct config *);
void	 config_unref(struct config *);
int	 config_load(struct config *, struct config_cli *, int, char **,
	    char **, char *, size_t);
void	 config_free(struct config *);
void	 config_usage(FILE *);

int	 acl_parse(struct acl_net *, int, int *, const char *);
int	 acl_match(const struct acl_net *, int, const struct sockaddr *);
int	 acl_loopback(const struct sockaddr *);
int	 acl_bots_parse(char [][24], int, int *, const char *);
int	 acl_peer_allowed(const struct config *, const struct sockaddr *);
int	 acl_bot_allowed(const struct config *, const char *);

struct req;

/* coredump.c */
int	 coredump_set(int);

/* failover.c */
int	 failover_pick(const struct config *);
void	 failover_fail(struct config *, int, const char *);
void	 failover_ok(struct config *, int);
void	 failover_inherit(struct config *, const struct config *);
int	 failover_ready(const struct config *, long);
unsigned long	 failover_generation(void);

/* metrics.c */
enum metrics_stage {
	METRICS_STAGE_PROXY_CONNECT,
	METRICS_STAGE_PROXY_HANDSHAKE,
	METRICS_STAGE_TLS,
	METRICS_STAGE_UPSTREAM,
	METRICS_STAGE_TIMEOUT,
	METRICS_STAGE_CLIENT_ABORT,
	METRICS_STAGE_REFUSED,		/* answered by us, never sent upstream */
	METRICS_STAGE_MAX
};

void	 metrics_request(const struct req *, int, int);
void	 metrics_error(enum metrics_stage);
void	 metrics_failover(void);
void	 metrics_retry(void);
void	 metrics_phases(curl_off_t, curl_off_t, curl_off_t, curl_off_t, int);
int	 metrics_render(struct evbuffer *, int, int);

/* health.c: /healthz, /readyz and /metrics */
int	 health_route(const char *, size_t);
void	 health_serve(struct req *, int);
void	 health_forget(struct req *);
void	 health_done(struct req *, int);
void	 health_free(void);

/* route.c */
#define ROUTE_BOT_MAX	20	/* digits of a bot id, before the colon */
enum route_kind { ROUTE_NONE, ROUTE_METHOD, ROUTE_FILE };

struct route {
	int	 rt_kind;		/* enum route_kind */
	char	 rt_bot[24];		/* digits before the colon */
	char	 rt_method[64];		/* Bot API method, or "file" */
	int	 rt_longpoll;		/* getUpdates */
	int	 rt_readonly;		/* get*: safe to send twice */
	char	 rt_path[1280];		/* decoded path, sent upstream */
};

int	 route_parse(struct route *, const char *, size_t, int *,
	    const char **);
long	 route_timeout(const char *, size_t);
int	 route_tokenchar(int);
size_t	 route_token_len(const char *, size_t);
int	 route_token_valid(const char *);

/* apierror.c */
int	 apierror_body(char *, size_t, int, const char *);
const char *apierror_reason(int);
int	 apierror_string(char *, size_t, const char *);

/* tls.c */
int	 tls_init(const struct config *);
void	 tls_free(void);
void	 tls_setopts(CURL *);
CURLSH	*tls_sessions(void);

/* multi.c: libcurl multi_socket driven by the libevent loop */
int	 multi_init(struct event_base *);
void	 multi_free(void);
int	 multi_add(CURL *);
void	 multi_remove(CURL *);

struct server;

/* client.c: one bot connection; it owns at most one request at a time */
enum client_hstate {
	CLIENT_H_NONE,		/* no header begun */
	CLIENT_H_FIELD,		/* in a name */
	CLIENT_H_VALUE,		/* in a value, maybe still empty */
	CLIENT_H_DONE		/* head complete: trailers are ignored */
};

#define CLIENT_FIELDS_MAX	256	/* fields in a head (and its 431 text) */
#define CLIENT_BODY_HIGH	(256 * 1024)	/* stop reading the bot */
#define CLIENT_OUT_HIGH		(256 * 1024)	/* pause the upstream */
#define CLIENT_OUT_LOW		(64 * 1024)	/* resume the upstream */

struct req {
	struct client		*req_clt;
	struct config		*req_cfg;	/* a reference, see config_ref */
	unsigned int		 req_seq;	/* 1, 2, ... on its connection */
	struct route		 req_route;
	struct evbuffer		*req_target;	/* raw request-target */
	struct evbuffer		*req_hname;	/* header being parsed */
	struct evbuffer		*req_hvalue;
	int			 req_hstate;	/* enum client_hstate */
	int			 req_hte;	/* Transfer-Encoding headers */
	int			 req_hte_chunked;	/* its value is "chunked" */
	int			 req_hcl;	/* Content-Length headers */
	int64_t			 req_hclen;	/* its value, -1 if no number */
	struct curl_slist	*req_hdrs;	/* "Name: value", name checked */
	size_t			 req_hdrlen;
	int			 req_nfields;	/* header fields kept */
	char			*req_connection;	/* Connection: values */
	int			 req_refused;	/* answered at its head */
	const char		*req_allow;	/* methods, for a 405's Allow */
	int			 req_admin;	/* a health or metrics request */
	int			 req_probe;	/* the /readyz probe: no bot */
	int			 req_waiting;	/* a /readyz waiting for it */
	TAILQ_ENTRY(req)	 req_wait;	/* health.c */
	int			 req_held;	/* long poll waits for its body */
	int			 req_expect;	/* Expect: 100-continue */
	int			 req_method;	/* enum http_method */
	int			 req_http11;
	int			 req_keepalive;
	int			 req_has_body;
	int64_t			 req_clen;	/* -1: chunked */
	int			 req_body_done;	/* message fully read */
	struct evbuffer		*req_body;	/* upload not yet sent */
	uint64_t		 req_bytes_in;
	uint64_t		 req_bytes_out;
	struct timespec		 req_start;

	/* upstream.c */
	CURL			*req_easy;
	int			 req_proxy;	/* index in cfg_proxy */
	int			 req_attempt;
	struct event		*req_retry_ev;
	struct evbuffer		*req_replay;	/* body sent, for a retry */
	long			 req_poll_secs;	/* getUpdates timeout, -1 */
	struct curl_slist	*req_uphdrs;
	char			*req_url;
	int			 req_send_paused;
	int			 req_recv_paused;
	int			 req_up_status;
	double			 req_t_connect;	/* ms, for the access log */
	double			 req_t_tls;
	double			 req_t_ttfb;
	struct evbuffer		*req_up_head;	/* filtered reply headers */
	char			*req_up_connection;	/* its Connection: */
	int64_t			 req_up_clen;	/* -1: unknown */
	int			 req_up_chunked;	/* Transfer-Encoding seen */
	const char		*req_up_bad;	/* why the reply is refused */
	char			 req_errbuf[CURL_ERROR_SIZE];

	/* reply.c */
	int			 req_status;	/* sent to the bot */
	int			 req_head_sent;
	int			 req_chunked;
	int64_t			 req_clen_out;	/* declared, or -1 */
	char			 req_errdesc[CURL_ERROR_SIZE + 256];	/* for the access log */
};

struct client {
	struct server		*clt_srv;
	TAILQ_ENTRY(client)	 clt_entry;	/* srv_clts */
	struct bufferevent	*clt_bev;
	struct event		*clt_kick;
	http_parser		 clt_parser;
	struct req		*clt_req;
	char			 clt_peer[64];
	int			 clt_perr;	/* status for a parser error */
	const char		*clt_pwhy;	/* and its description */
	unsigned int		 clt_nreq;	/* requests begun */
	int			 clt_paused;	/* parser held at a message end */
	int			 clt_closing;	/* close once output is flushed */
	int			 clt_held;	/* EV_READ off: back-pressure */
	struct sockaddr_storage	 clt_ss;	/* the peer, for allow */
	struct event		*clt_head_ev;	/* header_timeout */
	int			 clt_admin;	/* came in on admin_listen */
	size_t			 clt_headlen;	/* headsize.c: head bytes so far */
};

struct client	*client_new(struct server *, evutil_socket_t,
		    struct sockaddr *, int, int);
void		 client_close(struct client *, const char *);
void		 client_schedule(struct client *);
void		 client_req_done(struct req *);
void		 client_drain(struct server *);

/* headsize.c: max_header_size, for the head a bot connection sends */
size_t	 headsize_max(const struct client *);
size_t	 headsize_room(const struct client *, size_t);
void	 headsize_count(struct client *, int, int, size_t);
int	 headsize_over(const struct client *, char *, size_t);

/* header.c: names are checked as tokens before they mean anything */
enum header_kind {
	HEADER_OTHER,		/* end-to-end: forwarded */
	HEADER_HOST,
	HEADER_CONTENT_LENGTH,
	HEADER_CONTENT_TYPE,
	HEADER_EXPECT,
	HEADER_CONNECTION,
	HEADER_TRANSFER_ENCODING,
	HEADER_HOP		/* any other hop-by-hop header */
};

int	 header_token(const char *, size_t);
int	 header_value_ok(const char *, size_t);
int	 header_is(const char *, size_t, const char *);
int	 header_kind(const char *, size_t);
int	 header_hop(const char *, size_t);
int	 header_listed(const char *, const char *, size_t);
void	 header_trim(const char **, size_t *);
int64_t	 header_clen(const char *, size_t);
int	 header_list_add(char **, const char *, size_t);
int	 header_split(const char *, size_t, size_t *, const char **,
	    size_t *);
int	 header_upstream(struct req *);

/* reply.c: HTTP/1.1 framing of what goes back to the bot */
int	 reply_head(struct req *, int, const char *, struct evbuffer *,
	    int64_t);
int	 reply_body(struct req *, const char *, size_t);
void	 reply_end(struct req *);
void	 reply_error(struct client *, struct req *, int, const char *);
void	 reply_full(struct req *, int, const char *, const char *, size_t);
void	 reply_continue(struct req *);
size_t	 reply_pending(struct client *);

/* upstream.c: one libcurl transfer per request, never a reused connection */
int	 upstream_start(struct req *);
CURL	*upstream_easy(struct req *);
int	 upstream_add(struct req *, CURL *);
const char *upstream_why(struct req *, CURLcode);
void	 upstream_done(CURL *, CURLcode);
void	 upstream_stop(struct req *);
void	 upstream_resume(struct req *);

/* util.c: small pure helpers */
struct timeval;
void	 util_ms_timeval(long, struct timeval *);
long	 util_ms_between(const struct timespec *, const struct timespec *);
int	 util_json_escape(char *, size_t, const char *, size_t *);

/* server.c */
struct server {
	struct event_base	*srv_base;
	struct evconnlistener	*srv_listener;
	struct evconnlistener	*srv_admin;
	struct event		*srv_sigint;
	struct event		*srv_sigterm;
	struct event		*srv_drain_timer;
	struct event		*srv_trim_timer;
	struct config		*srv_cfg;	/* current; requests hold refs */
	int			 srv_argc;	/* for a reload */
	char			**srv_argv;
	struct event		*srv_sighup;
	int			 srv_clients;	/* open bot connections */
	int			 srv_inflight;	/* upstream transfers */
	int			 srv_draining;
	TAILQ_HEAD(, client)	 srv_clts;	/* all clients, for drain */
};

int	 server_init(struct server *, struct config *, int, char **);
int	 server_run(struct server *);
void	 server_free(struct server *);
void	 server_client_gone(struct server *);
void	 server_idle(struct server *);

#endif /* TGSIDECAR_H */
