/*
 * Configuration from four sources, strongest first: command-line flags,
 * TGSIDECAR_* environment variables, the config file, built-in defaults.
 * One table of keys drives all three parsers; each source is applied in
 * turn (file, env, flags) so the last writer wins.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/util.h>

#include "tgsidecar.h"

#define CONFIG_ENV_PREFIX	"TGSIDECAR_"
#define CONFIG_NAMELEN		64
#define CONFIG_MAX_MS		(24L * 60 * 60 * 1000)	/* sanity bound */
#define CONFIG_OPT_KEY		1000	/* getopt val for table keys */

/* State of one config_load() beyond what struct config holds. */
struct config_load {
	struct config	*cl_cfg;
	int		 cl_proxy_set;	/* by any source, "direct" too */
	char		*cl_user;
	char		*cl_pass;
	char		*cl_pwfile;
	char		 cl_pwfile_where[TGS_ERRLEN];
};

struct config_key;
typedef int (*config_setter)(struct config_load *, const struct config_key *,
    const char *, char *, size_t);

struct config_key {
	const char	*ck_name;	/* file key; env and flag derive */
	int		 ck_short;	/* short flag, or 0 */
	config_setter	 ck_set;
	size_t		 ck_off;	/* field of struct config, if any */
	const char	*ck_arg;	/* for config_usage() */
	const char	*ck_help;
};

static int	config_set_listen(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_upstream(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_proxy(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_user(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_password(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_pwfile(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_auth(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_cafile(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_size(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_duration(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);
static int	config_set_loglevel(struct config_load *,
		    const struct config_key *, const char *, char *, size_t);

#define CFG(f)	offsetof(struct config, f)

static const struct config_key config_keys[] = {
	{ "listen", 'l', config_set_listen, 0, "ADDR:PORT",
	    "address to listen on (" TGS_DEFAULT_LISTEN ")" },
	{ "upstream", 'u', config_set_upstream, 0, "URL",
	    "Bot API server (" TGS_DEFAULT_UPSTREAM ")" },
	{ "proxy", 'x', config_set_proxy, CFG(cfg_proxy), "URL",
	    "http|https|socks5|socks5h|socks4a://[user:pass@]host[:port]"
	    " or direct" },
	{ "pre_proxy", 0, config_set_proxy, CFG(cfg_pre_proxy), "URL",
	    "SOCKS proxy in front of the proxy" },
	{ "proxy_user", 0, config_set_user, 0, "USER",
	    "proxy user name (overrides the URL)" },
	{ "proxy_password", 0, config_set_password, 0, "PASS",
	    "proxy password (overrides the URL)" },
	{ "proxy_password_file", 0, config_set_pwfile, 0, "FILE",
	    "read the proxy password from the first line of FILE" },
	{ "proxy_auth", 0, config_set_auth, 0, "LIST",
	    "basic|digest|ntlm|negotiate|any, comma-separated (basic)" },
	{ "ca_file", 0, config_set_cafile, 0, "FILE",
	    "extra CA certificates (PEM) to trust" },
	{ "max_body", 0, config_set_size, 0, "SIZE",
	    "largest request body, e.g. 50M (50M)" },
	{ "connect_timeout", 0, config_set_duration,
	    CFG(cfg_connect_timeout_ms), "TIME",
	    "connect to proxy/upstream, e.g. 30s, 500ms, 2m (30s)" },
	{ "upstream_timeout", 0, config_set_duration,
	    CFG(cfg_upstream_timeout_ms), "TIME",
	    "whole upstream request (120s)" },
	{ "poll_timeout", 0, config_set_duration,
	    CFG(cfg_poll_timeout_ms), "TIME",
	    "extra time granted to getUpdates long polls (60s)" },
	{ "idle_timeout", 0, config_set_duration,
	    CFG(cfg_idle_timeout_ms), "TIME",
	    "close idle bot connections after (300s)" },
	{ "shutdown_timeout", 0, config_set_duration,
	    CFG(cfg_shutdown_timeout_ms), "TIME",
	    "wait for requests in flight on SIGTERM (10s)" },
	{ "log_level", 0, config_set_loglevel, 0, "LEVEL",
	    "warn|info|debug (info)" },
};
#define CONFIG_NKEYS	(sizeof(config_keys) / sizeof(config_keys[0]))

static const struct config_key *
config_key_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].ck_name, name) == 0)
			return (&config_keys[i]);
	return (NULL);
}

/* "max_body" -> "TGSIDECAR_MAX_BODY" or "--max-body". */
static void
config_key_env(const struct config_key *ck, char *buf, size_t len)
{
	size_t	 i, n;

	n = strlcpy_compat(buf, CONFIG_ENV_PREFIX, len);
	for (i = 0; ck->ck_name[i] != '\0' && n + 1 < len; i++)
		buf[n++] = toupper((unsigned char)ck->ck_name[i]);
	buf[n] = '\0';
}
