/* SPDX-License-Identifier: ISC */
/*
 * config.c and its parts: struct config, refcounted, one per request.
 * (config.h is autoconf's.)
 */
#ifndef CONF_H
#define CONF_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "acl.h"
#include "proxy.h"

#define TGS_VERSION		PACKAGE_VERSION
#define TGS_DEFAULT_LISTEN	"127.0.0.1:8081"
#define TGS_DEFAULT_UPSTREAM	"https://api.telegram.org"
#define TGS_ERRLEN		256

#define CONFIG_PROXY_MAX	8
#define CONFIG_ALLOW_MAX	32
#define CONFIG_BOTS_MAX		64
/* max_header_size: libcurl 7.88 sends at most 1 MiB of request head. */
#define CONFIG_HEAD_MIN		1024
#define CONFIG_HEAD_MAX		(512 * 1024)
#define CONFIG_PREWARM_MAX	64	/* spares per config, at most */

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
	char			*cfg_upstream_path;	/* "/t" or "": a prefix */
	struct proxy		 cfg_proxy[CONFIG_PROXY_MAX];	/* failover order */
	int			 cfg_nproxy;	/* [0] PROXY_NONE: direct */
	long			 cfg_proxy_fail_timeout_ms;
	int			 cfg_retries;
	int			 cfg_max_inflight;
	int			 cfg_max_inflight_per_bot;	/* 0: half; share.c */
	int			 cfg_prewarm;	/* spares; 0: none */
	int			 cfg_prewarm_max;
	long			 cfg_prewarm_max_idle_ms;
	long			 cfg_prewarm_linger_ms;
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
	long			 cfg_upstream_timeout_ms;	/* the answer */
	long			 cfg_stall_timeout_ms;	/* a body not moving */
	long			 cfg_poll_timeout_ms;	/* added for getUpdates */
	long			 cfg_idle_timeout_ms;	/* idle bot connection */
	long			 cfg_header_timeout_ms;	/* whole request head */
	long			 cfg_shutdown_timeout_ms;
	int			 cfg_log_level;
	int			 cfg_core_dumps;	/* stay dumpable, debugging */
	int			 cfg_flood_guard;	/* honour 429 retry_after */
	int			 cfg_flood_pace;	/* pace calls to chats */
	long			 cfg_flood_chat_us;	/* interval per chat */
	long			 cfg_flood_group_us;	/* ... per group */
	long			 cfg_flood_bot_us;	/* ... per bot */
	int			 cfg_flood_burst;
	long			 cfg_flood_max_wait_ms;	/* longer: 429 here */
	int			 cfg_refs;	/* server and requests using it */
	char			*cfg_pac;	/* PAC URL, no "pac+", or NULL */
	long			 cfg_pac_refresh_ms;
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

#endif /* CONF_H */
