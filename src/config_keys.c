/* SPDX-License-Identifier: ISC */
/*
 * The table of config keys. Each key is written once, with its default:
 * config_init() applies the defaults, config_usage() prints them, and
 * the file, environment and flag names all derive from ck_name.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "configkeys.h"

const struct config_key config_keys[] = {
	{ "listen", 'l', config_set_listen, CFG(cfg_listen),
	    TGS_DEFAULT_LISTEN, "ADDR:PORT", "address to listen on" },
	{ "upstream", 'u', config_set_upstream, 0, TGS_DEFAULT_UPSTREAM,
	    "URL", "Bot API server" },
	{ "proxy", 'x', config_set_proxy, CFG(cfg_proxy), "direct", "URLS",
	    "proxies for upstream connections, in failover order" },
	{ "pac_refresh", 0, config_set_duration, CFG(cfg_pac_refresh_ms),
	    "5m", "TIME", "read a pac+ proxy's PAC file again this often" },
	{ "pre_proxy", 0, config_set_proxy, CFG(cfg_pre_proxy), NULL, "URL",
	    "SOCKS proxy to reach the proxy through" },
	{ "proxy_user", 0, config_set_user, 0, NULL, "USER",
	    "proxy user name (overrides the URL)" },
	{ "proxy_password", 0, config_set_password, 0, NULL, "PASS",
	    "proxy password (overrides the URL)" },
	{ "proxy_password_file", 0, config_set_pwfile, 0, NULL, "FILE",
	    "its first line is the proxy password" },
	/* Basic: curl's "any" costs a 407 round trip per fresh connection. */
	{ "proxy_auth", 0, config_set_auth, 0, "basic", "LIST",
	    "basic,digest,ntlm,negotiate,any" },
	{ "ca_file", 0, config_set_cafile, 0, NULL, "FILE",
	    "extra CA certificates (PEM)" },
	{ "tls_session_resume", 0, config_set_bool,
	    CFG(cfg_tls_session_resume), "yes", "yes|no",
	    "resume TLS sessions on fresh connections" },
	{ "max_body", 0, config_set_size, 0, "50M", "SIZE",
	    "largest request body" },
	/* tdlib's own limit: whatever the Bot API server reads, we pass. */
	{ "max_header_size", 0, config_set_headsize, CFG(cfg_max_header_size),
	    "256K", "SIZE", "largest request head (414/431 beyond)" },
	{ "connect_timeout", 0, config_set_duration,
	    CFG(cfg_connect_timeout_ms), "30s", "TIME",
	    "connecting, TLS included" },
	{ "upstream_timeout", 0, config_set_duration,
	    CFG(cfg_upstream_timeout_ms), "120s", "TIME",
	    "waiting for the answer after the upload" },
	{ "stall_timeout", 0, config_set_duration,
	    CFG(cfg_stall_timeout_ms), "60s", "TIME",
	    "a body moving no byte this long" },
	{ "poll_timeout", 0, config_set_duration,
	    CFG(cfg_poll_timeout_ms), "60s", "TIME",
	    "extra for getUpdates long polls" },
	{ "idle_timeout", 0, config_set_duration,
	    CFG(cfg_idle_timeout_ms), "300s", "TIME",
	    "close idle bot connections" },
	{ "header_timeout", 0, config_set_duration,
	    CFG(cfg_header_timeout_ms), "10s", "TIME",
	    "time to send a whole request head" },
	{ "shutdown_timeout", 0, config_set_duration,
	    CFG(cfg_shutdown_timeout_ms), "10s", "TIME",
	    "drain time on SIGTERM" },
	{ "proxy_fail_timeout", 0, config_set_duration,
	    CFG(cfg_proxy_fail_timeout_ms), "30s", "TIME",
	    "skip a failed proxy this long" },
	{ "retries", 0, config_set_count, CFG(cfg_retries), "2", "N",
	    "retries of a failed upstream attempt" },
	{ "max_inflight", 0, config_set_count, CFG(cfg_max_inflight), "1024",
	    "N", "upstream requests at once; 503 beyond" },
	{ "max_inflight_per_bot", 0, config_set_count,
	    CFG(cfg_max_inflight_per_bot), "0", "N",
	    "one bot's share of max_inflight; 0: half of it" },
	/* Spares: a request on one pays 1 round trip, not 3 (issue 13). */
	{ "prewarm", 0, config_set_count, CFG(cfg_prewarm), "1", "N",
	    "spare connections kept ready while bots are active; 0: none" },
	{ "prewarm_max", 0, config_set_count, CFG(cfg_prewarm_max), "8", "N",
	    "most spares, as concurrency grows" },
	/* Below any sane proxy idle limit: some forget tunnels idle 2 s. */
	{ "prewarm_max_idle", 0, config_set_duration,
	    CFG(cfg_prewarm_max_idle_ms), "1500ms", "TIME",
	    "a spare unused this long is closed and replaced" },
	{ "prewarm_linger", 0, config_set_duration,
	    CFG(cfg_prewarm_linger_ms), "30s", "TIME",
	    "keep spares while a request came within this" },
	{ "allow", 0, config_set_acl, CFG(cfg_allow), NULL, "CIDRS",
	    "peers allowed in (loopback only)" },
	{ "allow_bots", 0, config_set_acl, CFG(cfg_bots), NULL, "IDS",
	    "bot ids allowed (any)" },
	{ "user", 0, config_set_runuser, 0, NULL, "NAME",
	    "drop root to this user after binding" },
	{ "admin_listen", 0, config_set_listen, CFG(cfg_admin_listen), NULL,
	    "ADDR:PORT", "serve /healthz, /readyz, /metrics here only" },
	{ "log_format", 0, config_set_logfmt, 0, "text", "text|json",
	    "access and other log lines" },
	{ "syslog", 0, config_set_bool, CFG(cfg_syslog), "no", "yes|no",
	    "log to syslog instead of stderr" },
	{ "log_level", 0, config_set_loglevel, 0, "info", "LEVEL",
	    "warn, info or debug" },
	{ "core_dumps", 0, config_set_bool, CFG(cfg_core_dumps), "no",
	    "yes|no", "allow core files and ptrace, for debugging" },
	/* Issue 21: a bot's 429 retry_after, kept for all its callers. */
	{ "flood_guard", 0, config_set_bool, CFG(cfg_flood_guard), "yes",
	    "yes|no", "answer a chat's calls 429 while Telegram said to wait" },
	/* Telegram's Bot FAQ: ~1/s per chat, 20/min per group, ~30/s in all. */
	{ "flood_pace", 0, config_set_bool, CFG(cfg_flood_pace), "no",
	    "yes|no", "hold calls to chats so they stay within the rates" },
	{ "flood_chat_rate", 0, config_set_rate, CFG(cfg_flood_chat_us), "1/s",
	    "RATE", "paced calls to one chat" },
	{ "flood_group_rate", 0, config_set_rate, CFG(cfg_flood_group_us),
	    "20/min", "RATE", "paced calls to one group or channel" },
	{ "flood_bot_rate", 0, config_set_rate, CFG(cfg_flood_bot_us), "30/s",
	    "RATE", "paced calls of one bot to any chats" },
	{ "flood_burst", 0, config_set_count, CFG(cfg_flood_burst), "3", "N",
	    "paced calls let go at once before the rates apply" },
	{ "flood_max_wait", 0, config_set_duration,
	    CFG(cfg_flood_max_wait_ms), "4s", "TIME",
	    "a paced call that would wait longer gets 429 at once" },
};
#define CONFIG_NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))
_Static_assert(CONFIG_NKEYS <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX");
const size_t config_nkeys = CONFIG_NKEYS;

const struct config_key *
config_keys_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].ck_name, name) == 0)
			return (&config_keys[i]);
	return (NULL);
}

/* "max_body" -> "TGSIDECAR_MAX_BODY" (env) or "max-body" (flag). */
void
config_keys_name(const struct config_key *ck, int env, char *buf, size_t len)
{
	const char	*p = env ? CONFIG_ENV_PREFIX : "";
	size_t		 n = 0;

	for (; *p != '\0' && n + 1 < len; p++)
		buf[n++] = *p;
	for (p = ck->ck_name; *p != '\0' && n + 1 < len; p++) {
		if (env)
			buf[n++] = toupper((unsigned char)*p);
		else
			buf[n++] = *p == '_' ? '-' : *p;
	}
	buf[n] = '\0';
}
