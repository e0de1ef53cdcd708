/* SPDX-License-Identifier: ISC */
/*
 * config_load(): a table of (file, environment, flags) and the resulting
 * settings or error. "@FILE@" and "@PWFILE@" in any string stand for temp
 * files holding cc_file and cc_pwfile. No error may ever show "s3cretpw".
 */
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "conf.h"
#include "log.h"
#include "proxy.h"
#include "upstream.h"
#include "configkeys.h"
#include "tap.h"

#define SECRET	"s3cretpw"
#define NSLOTS	10
#define A32	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG257	A32 A32 A32 A32 A32 A32 A32 A32 "b"	/* the prefix "/" + 257 */

struct cfg_case {
	const char	*cc_name;
	const char	*cc_file;
	const char	*cc_pwfile;
	const char	*cc_env[NSLOTS];
	const char	*cc_argv[NSLOTS];	/* after argv[0] */
	const char	*cc_err;	/* NULL: must load; else a substring */
	const char	*cc_want[NSLOTS];	/* "key=value" */
};

static const struct cfg_case cases[] = {
	/* Defaults. */
	{ .cc_name = "defaults", .cc_want = {
	    "listen=127.0.0.1:8081", "listen_port=8081", "listen_af=4",
	    "upstream=https://api.telegram.org",
	    "upstream_host=api.telegram.org", "proxy=direct",
	    "pre_proxy=direct", "noproxy=NULL", "ca_file=NULL" } },
	{ .cc_name = "default numbers", .cc_want = {
	    "proxy_auth=1", "max_body=52428800", "connect_timeout=30000",
	    "upstream_timeout=120000", "stall_timeout=60000",
	    "poll_timeout=60000",
	    "idle_timeout=300000", "shutdown_timeout=10000", "log_level=1",
	    "check=0" } },
	{ .cc_name = "default sizes", .cc_want = {
	    "max_header_size=262144" } },

	/* Precedence: flag > env > file > default. */
	{ .cc_name = "file",
	    .cc_file = "listen = 127.0.0.1:1001\nproxy = http://file:1\n"
	    "max_body = 1k\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "listen=127.0.0.1:1001", "proxy=http://file:1",
	    "max_body=1024", "upstream=https://api.telegram.org" } },
	{ .cc_name = "env beats file",
	    .cc_file = "listen = 127.0.0.1:1001\nproxy = http://file:1\n"
	    "max_body = 1k\n",
	    .cc_env = { "TGSIDECAR_LISTEN=127.0.0.1:1002",
	    "TGSIDECAR_PROXY=socks5://env:2", "TGSIDECAR_MAX_BODY=2k" },
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "listen=127.0.0.1:1002", "proxy=socks5://env:2",
	    "max_body=2048" } },
	{ .cc_name = "flags beat env",
	    .cc_file = "listen = 127.0.0.1:1001\nproxy = http://file:1\n"
	    "max_body = 1k\n",
	    .cc_env = { "TGSIDECAR_LISTEN=127.0.0.1:1002",
	    "TGSIDECAR_PROXY=socks5://env:2", "TGSIDECAR_MAX_BODY=2k" },
	    .cc_argv = { "-c", "@FILE@", "-l", "127.0.0.1:1003",
	    "--proxy=https://flag:3", "--max-body", "3k" },
	    .cc_want = { "listen=127.0.0.1:1003", "proxy=https://flag:3",
	    "max_body=3072" } },
	{ .cc_name = "env only for some keys",
	    .cc_file = "listen = 127.0.0.1:1001\nmax_body = 1k\n",
	    .cc_env = { "TGSIDECAR_MAX_BODY=2k" },
	    .cc_argv = { "-c", "@FILE@", "-x", "socks5h://flag:4" },
	    .cc_want = { "listen=127.0.0.1:1001", "max_body=2048",
	    "proxy=socks5h://flag:4" } },
	{ .cc_name = "TGSIDECAR_CONFIG",
	    .cc_file = "listen = 127.0.0.1:1004\n",
	    .cc_env = { "TGSIDECAR_CONFIG=@FILE@" },
	    .cc_want = { "listen=127.0.0.1:1004" } },
	{ .cc_name = "-c beats TGSIDECAR_CONFIG",
	    .cc_file = "listen = 127.0.0.1:1005\n",
	    .cc_env = { "TGSIDECAR_CONFIG=/nonexistent/tgsidecar.conf" },
	    .cc_argv = { "--config", "@FILE@" },
	    .cc_want = { "listen=127.0.0.1:1005" } },
	{ .cc_name = "empty env is unset",
	    .cc_env = { "TGSIDECAR_LISTEN=", "TGSIDECAR_CONFIG=" },
	    .cc_want = { "listen=127.0.0.1:8081" } },
	{ .cc_name = "last flag wins",
	    .cc_argv = { "-l", "127.0.0.1:1", "--listen", "127.0.0.1:2" },
	    .cc_want = { "listen=127.0.0.1:2" } },

	/* File syntax. */
	{ .cc_name = "file syntax",
	    .cc_file = "# comment\n\n   \n  listen=127.0.0.1:1006   \n"
	    "\tmax_body\t=\t5M # trailing comment\n"
	    "upstream = \"http://h:81/\"  # quoted\n"
	    "proxy_password = \"pa#ss \" # with a hash\n"
	    "proxy = http://u@h:1\n"
	    "proxy_user = a#b\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "listen=127.0.0.1:1006", "max_body=5242880",
	    "upstream=http://h:81", "proxy_pass=pa#ss ",
	    "proxy_user=a#b" } },
	{ .cc_name = "CRLF and last wins",
	    .cc_file = "listen = 127.0.0.1:1\r\nlisten = 127.0.0.1:2\r\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "listen=127.0.0.1:2" } },
	{ .cc_name = "quote inside quotes",
	    .cc_file = "proxy = http://h:1\n"
	    "proxy_password = \"a\"b\" # \"c\"\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "proxy_pass=a\"b" } },
	{ .cc_name = "empty file", .cc_file = "",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "listen=127.0.0.1:8081" } },
	{ .cc_name = "no newline at end", .cc_file = "listen = 127.0.0.1:7",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "listen=127.0.0.1:7" } },
	{ .cc_name = "missing file",
	    .cc_argv = { "-c", "/nonexistent/tgsidecar.conf" },
	    .cc_err = "/nonexistent/tgsidecar.conf: cannot open: "
	    "No such file or directory" },
	{ .cc_name = "unknown key",
	    .cc_file = "listen = 127.0.0.1:1\n\nproxyy = http://h:1\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:3: unknown key \"proxyy\"" },
	{ .cc_name = "keys are lower case",
	    .cc_file = "Listen = 127.0.0.1:1\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: unknown key \"Listen\"" },
	{ .cc_name = "no equals", .cc_file = "# x\nlisten\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:2: expected \"key = value\"" },
	{ .cc_name = "no key", .cc_file = " = 1\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: expected" },
	{ .cc_name = "unterminated quote",
	    .cc_file = "upstream = \"http://h\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: unterminated quoted value" },
	{ .cc_name = "bad size in file",
	    .cc_file = "listen = 127.0.0.1:1\n# x\nmax_body = 12X\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:3: bad value for max_body: \"12X\" "
	    "(expected a size like 50M)" },
	{ .cc_name = "bad duration in file",
	    .cc_file = "connect_timeout = 5 s\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: bad value for connect_timeout: \"5 s\"" },
	{ .cc_name = "bad proxy scheme in file",
	    .cc_file = "proxy = ftp://u:" SECRET "@h:1\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: bad value for proxy: unsupported proxy "
	    "scheme \"ftp\" (use http, https, socks5, socks5h or socks4a)" },
	{ .cc_name = "proxy without scheme in file",
	    .cc_file = "proxy = u:" SECRET "@127.0.0.1:3128\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: bad value for proxy: proxy URL needs a "
	    "scheme, e.g. http://host:3128" },
	{ .cc_name = "bad log_level in file", .cc_file = "log_level = loud\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: bad value for log_level: \"loud\"" },

	/* Environment and flag errors name their source. */
	{ .cc_name = "env error", .cc_env = { "TGSIDECAR_MAX_BODY=0" },
	    .cc_err = "TGSIDECAR_MAX_BODY: bad value for max_body: \"0\"" },
	{ .cc_name = "env duration error",
	    .cc_env = { "TGSIDECAR_IDLE_TIMEOUT=forever" },
	    .cc_err = "TGSIDECAR_IDLE_TIMEOUT: bad value for idle_timeout" },
	{ .cc_name = "env proxy error",
	    .cc_env = { "TGSIDECAR_PROXY=socks4://u:" SECRET "@h" },
	    .cc_err = "TGSIDECAR_PROXY: bad value for proxy: unsupported "
	    "proxy scheme \"socks4\"" },
	{ .cc_name = "flag error", .cc_argv = { "--max-body", "-5" },
	    .cc_err = "--max-body: bad value for max_body: \"-5\"" },
	{ .cc_name = "short flag error", .cc_argv = { "-l", "nope" },
	    .cc_err = "--listen: bad value for listen: \"nope\"" },
	{ .cc_name = "raw '#' in a proxy password, flag",
	    .cc_argv = { "-x", "http://u:" SECRET "#x@h:3128" },
	    .cc_err = "--proxy: bad value for proxy: a '#' in the proxy URL's "
	    "user name or password must be percent-encoded as %23 (e.g. "
	    "http://user:pa%23ss@host:3128), or give the password in "
	    "proxy_password" },
	{ .cc_name = "raw '@' in a proxy password, file",
	    .cc_file = "proxy = socks5h://u:" SECRET "@x@h:1080\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: bad value for proxy: a '@' in the proxy "
	    "URL's user name or password must be percent-encoded as %40" },
	{ .cc_name = "raw '#' in a proxy password, env",
	    .cc_env = { "TGSIDECAR_PROXY=http://u:" SECRET "#@h:3128" },
	    .cc_err = "TGSIDECAR_PROXY: bad value for proxy: a '#' in the "
	    "proxy URL's" },
	{ .cc_name = "raw '#' in a pre_proxy password",
	    .cc_argv = { "--pre-proxy", "socks5://u:" SECRET "#@h:1080" },
	    .cc_err = "--pre-proxy: bad value for pre_proxy: a '#' in the "
	    "proxy URL's" },
	{ .cc_name = "raw ',' in a proxy list password",
	    .cc_argv = { "-x", "http://a:1,http://u:" SECRET ",x@h:3128" },
	    .cc_err = "--proxy: bad value for proxy: a ',' in a proxy URL's "
	    "user name or password must be percent-encoded as %2C (a ',' "
	    "separates proxies), or give the password in proxy_password" },
	{ .cc_name = "raw ',' in the first proxy's password",
	    .cc_argv = { "-x", "socks5://u:" SECRET ",x@h:1080" },
	    .cc_err = "a ',' in a proxy URL's user name or password" },
	{ .cc_name = "proxy password percent-encoded",
	    .cc_argv = { "-x", "http://u:" SECRET "%23%40%2C@h:3128" },
	    .cc_want = { "proxy=http://h:3128",
	    "proxy_pass=" SECRET "#@," } },
	{ .cc_name = "flag proxy error",
	    .cc_argv = { "-x", "http://u:" SECRET "@h:1/path" },
	    .cc_err = "--proxy: bad value for proxy: proxy URL must not "
	    "have a path" },
	{ .cc_name = "unknown long flag", .cc_argv = { "--bogus" },
	    .cc_err = "unknown option --bogus" },
	{ .cc_name = "unknown long flag=value",
	    .cc_argv = { "--bogus=" SECRET },
	    .cc_err = "unknown option --bogus" },
	{ .cc_name = "unknown short flag", .cc_argv = { "-z" },
	    .cc_err = "unknown option -z" },
	{ .cc_name = "missing short argument", .cc_argv = { "-l" },
	    .cc_err = "missing argument for option -l" },
	{ .cc_name = "missing long argument", .cc_argv = { "--upstream" },
	    .cc_err = "missing argument for option --upstream" },
	{ .cc_name = "stray argument", .cc_argv = { "-t", SECRET },
	    .cc_err = "unexpected argument" },
	{ .cc_name = "flag needs no value", .cc_argv = { "--check-config=1" },
	    .cc_err = "no argument allowed for option --check-config" },

	/* Sizes. */
	{ .cc_name = "size bytes", .cc_argv = { "--max-body", "10" },
	    .cc_want = { "max_body=10" } },
	{ .cc_name = "size K", .cc_argv = { "--max-body", "2K" },
	    .cc_want = { "max_body=2048" } },
	{ .cc_name = "size KiB", .cc_argv = { "--max-body", "3KiB" },
	    .cc_want = { "max_body=3072" } },
	{ .cc_name = "size M", .cc_argv = { "--max-body", "5M" },
	    .cc_want = { "max_body=5242880" } },
	{ .cc_name = "size MiB", .cc_argv = { "--max-body", "1MiB" },
	    .cc_want = { "max_body=1048576" } },
	{ .cc_name = "size G", .cc_argv = { "--max-body", "1G" },
	    .cc_want = { "max_body=1073741824" } },
	{ .cc_name = "size GiB", .cc_argv = { "--max-body", "2GiB" },
	    .cc_want = { "max_body=2147483648" } },
	{ .cc_name = "size empty", .cc_argv = { "--max-body", "" },
	    .cc_err = "bad value for max_body" },
	{ .cc_name = "size unit only", .cc_argv = { "--max-body", "k" },
	    .cc_err = "bad value for max_body" },
	{ .cc_name = "size fraction", .cc_argv = { "--max-body", "1.5M" },
	    .cc_err = "bad value for max_body" },
	{ .cc_name = "size T", .cc_argv = { "--max-body", "1T" },
	    .cc_err = "bad value for max_body" },
	{ .cc_name = "size space", .cc_argv = { "--max-body", " 1" },
	    .cc_err = "bad value for max_body" },
	{ .cc_name = "size overflow",
	    .cc_argv = { "--max-body", "99999999999999999999" },
	    .cc_err = "bad value for max_body" },
	{ .cc_name = "size overflow by unit",
	    .cc_argv = { "--max-body", "17179869184G" },
	    .cc_err = "bad value for max_body" },

	/* max_header_size: a size, bounded both ways. */
	{ .cc_name = "head size K", .cc_argv = { "--max-header-size", "64K" },
	    .cc_want = { "max_header_size=65536" } },
	{ .cc_name = "head size in file",
	    .cc_file = "max_header_size = 32KiB\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "max_header_size=32768" } },
	{ .cc_name = "head size smallest",
	    .cc_env = { "TGSIDECAR_MAX_HEADER_SIZE=1024" },
	    .cc_want = { "max_header_size=1024" } },
	{ .cc_name = "head size largest",
	    .cc_argv = { "--max-header-size", "512K" },
	    .cc_want = { "max_header_size=524288" } },
	{ .cc_name = "head size 0", .cc_argv = { "--max-header-size", "0" },
	    .cc_err = "--max-header-size: bad value for max_header_size: "
	    "\"0\" (expected a size from 1K to 512K, like 256K)" },
	{ .cc_name = "head size too small",
	    .cc_file = "max_header_size = 1023\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:1: bad value for max_header_size: \"1023\" "
	    "(expected a size from 1K to 512K, like 256K)" },
	{ .cc_name = "head size too large",
	    .cc_env = { "TGSIDECAR_MAX_HEADER_SIZE=513K" },
	    .cc_err = "TGSIDECAR_MAX_HEADER_SIZE: bad value for "
	    "max_header_size: \"513K\"" },
	{ .cc_name = "head size absurd",
	    .cc_argv = { "--max-header-size", "1G" },
	    .cc_err = "bad value for max_header_size: \"1G\"" },
	{ .cc_name = "head size overflow",
	    .cc_argv = { "--max-header-size", "18446744073709551617" },
	    .cc_err = "bad value for max_header_size" },
	{ .cc_name = "head size negative",
	    .cc_argv = { "--max-header-size", "-64K" },
	    .cc_err = "bad value for max_header_size" },
	{ .cc_name = "head size no number",
	    .cc_argv = { "--max-header-size", "big" },
	    .cc_err = "bad value for max_header_size" },

	/* Durations. */
	{ .cc_name = "duration ms",
	    .cc_argv = { "--connect-timeout", "500ms" },
	    .cc_want = { "connect_timeout=500" } },
	{ .cc_name = "duration s",
	    .cc_argv = { "--upstream-timeout", "30s" },
	    .cc_want = { "upstream_timeout=30000" } },
	{ .cc_name = "duration ms", .cc_argv = { "--stall-timeout", "2500ms" },
	    .cc_want = { "stall_timeout=2500" } },
	{ .cc_name = "duration m", .cc_argv = { "--poll-timeout", "2m" },
	    .cc_want = { "poll_timeout=120000" } },
	{ .cc_name = "duration plain", .cc_argv = { "--idle-timeout", "45" },
	    .cc_want = { "idle_timeout=45000" } },
	{ .cc_name = "duration h",
	    .cc_argv = { "--shutdown-timeout", "1h" },
	    .cc_want = { "shutdown_timeout=3600000" } },
	{ .cc_name = "duration 24h", .cc_argv = { "--idle-timeout", "24h" },
	    .cc_want = { "idle_timeout=86400000" } },
	{ .cc_name = "duration zero",
	    .cc_argv = { "--connect-timeout", "0" },
	    .cc_err = "--connect-timeout: bad value for connect_timeout: "
	    "\"0\" (expected a duration like 30s, 500ms or 2m" },
	{ .cc_name = "duration 0ms",
	    .cc_argv = { "--connect-timeout", "0ms" },
	    .cc_err = "bad value for connect_timeout" },
	{ .cc_name = "duration too long",
	    .cc_argv = { "--idle-timeout", "25h" },
	    .cc_err = "bad value for idle_timeout" },
	{ .cc_name = "duration huge",
	    .cc_argv = { "--idle-timeout", "99999999999999999999s" },
	    .cc_err = "bad value for idle_timeout" },
	{ .cc_name = "duration fraction",
	    .cc_argv = { "--idle-timeout", "1.5s" },
	    .cc_err = "bad value for idle_timeout" },
	{ .cc_name = "duration bad unit",
	    .cc_argv = { "--idle-timeout", "1ss" },
	    .cc_err = "bad value for idle_timeout" },
	{ .cc_name = "duration negative",
	    .cc_argv = { "--idle-timeout", "-1" },
	    .cc_err = "bad value for idle_timeout" },

	/* log_level and proxy_auth. */
	{ .cc_name = "log_level debug", .cc_argv = { "--log-level", "debug" },
	    .cc_want = { "log_level=2" } },
	{ .cc_name = "log_level WARN", .cc_env = { "TGSIDECAR_LOG_LEVEL=WARN" },
	    .cc_want = { "log_level=0" } },
	{ .cc_name = "proxy_auth digest,ntlm",
	    .cc_argv = { "--proxy-auth", "digest,ntlm" },
	    .cc_want = { "proxy_auth=10" } },	/* 2 | 8 */
	{ .cc_name = "proxy_auth spaced list",
	    .cc_file = "proxy_auth = basic, Negotiate\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "proxy_auth=5" } },	/* 1 | 4 */
	{ .cc_name = "proxy_auth any", .cc_argv = { "--proxy-auth", "any" },
	    .cc_want = { "proxy_auth=-17" } },	/* CURLAUTH_ANY */
	{ .cc_name = "proxy_auth bad", .cc_argv = { "--proxy-auth", "magic" },
	    .cc_err = "--proxy-auth: bad value for proxy_auth: \"magic\"" },
	{ .cc_name = "proxy_auth empty item",
	    .cc_argv = { "--proxy-auth", "basic,,digest" },
	    .cc_err = "bad value for proxy_auth" },
	{ .cc_name = "proxy_auth trailing comma",
	    .cc_argv = { "--proxy-auth", "basic," },
	    .cc_err = "bad value for proxy_auth" },

	/* listen and upstream. */
	{ .cc_name = "listen IPv6", .cc_argv = { "-l", "[::1]:8082" },
	    .cc_want = { "listen=[::1]:8082", "listen_port=8082",
	    "listen_af=6" } },
	{ .cc_name = "listen without port", .cc_argv = { "-l", "127.0.0.1" },
	    .cc_err = "--listen: bad value for listen: \"127.0.0.1\" "
	    "(expected ADDRESS:PORT" },
	{ .cc_name = "listen port 0", .cc_argv = { "-l", "127.0.0.1:0" },
	    .cc_err = "bad value for listen" },
	{ .cc_name = "listen hostname", .cc_argv = { "-l", "localhost:80" },
	    .cc_err = "bad value for listen" },
	{ .cc_name = "upstream with slash",
	    .cc_argv = { "-u", "http://127.0.0.1:8443/" },
	    .cc_want = { "upstream=http://127.0.0.1:8443",
	    "upstream_host=127.0.0.1" } },
	{ .cc_name = "upstream IPv6", .cc_argv = { "-u", "https://[::1]:9" },
	    .cc_want = { "upstream=https://[::1]:9", "upstream_host=::1" } },
	{ .cc_name = "upstream upper-case scheme",
	    .cc_argv = { "-u", "HTTPS://api.example" },
	    .cc_want = { "upstream=https://api.example",
	    "upstream_host=api.example" } },
	{ .cc_name = "upstream ftp", .cc_argv = { "-u", "ftp://h" },
	    .cc_err = "--upstream: bad value for upstream: \"ftp://h\" "
	    "(scheme must be http or https)" },
	{ .cc_name = "upstream no scheme",
	    .cc_argv = { "-u", "api.telegram.org" },
	    .cc_err = "(needs a scheme, e.g. https://api.telegram.org)" },
	{ .cc_name = "upstream path /bot", .cc_argv = { "-u", "https://h/bot" },
	    .cc_err = "(a path prefix does not end in /bot: the sidecar adds "
	    "/bot<token>/<method>)" },
	{ .cc_name = "upstream query", .cc_argv = { "-u", "https://h/?a" },
	    .cc_err = "(no query or fragment allowed)" },
	{ .cc_name = "upstream fragment", .cc_argv = { "-u", "https://h#a" },
	    .cc_err = "(no query or fragment allowed)" },

	/* Issue 19: an upstream under a path prefix. */
	{ .cc_name = "upstream no prefix", .cc_argv = { "-u", "https://h" },
	    .cc_want = { "upstream=https://h", "upstream_path=" } },
	{ .cc_name = "upstream prefix",
	    .cc_argv = { "-u", "http://10.10.0.1:4822/t" },
	    .cc_want = { "upstream=http://10.10.0.1:4822",
	    "upstream_host=10.10.0.1", "upstream_path=/t" } },
	{ .cc_name = "upstream prefix trailing slash",
	    .cc_argv = { "-u", "https://h/t/" },
	    .cc_want = { "upstream=https://h", "upstream_path=/t" } },
	{ .cc_name = "upstream prefix deep",
	    .cc_argv = { "-u", "https://[::1]:9/api/tg-1.0_x~y/" },
	    .cc_want = { "upstream=https://[::1]:9", "upstream_host=::1",
	    "upstream_path=/api/tg-1.0_x~y" } },
	{ .cc_name = "upstream prefix in file",
	    .cc_file = "upstream = https://h.example/worker\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "upstream=https://h.example",
	    "upstream_path=/worker" } },
	{ .cc_name = "upstream prefix in env",
	    .cc_env = { "TGSIDECAR_UPSTREAM=http://h:1/t" },
	    .cc_want = { "upstream=http://h:1", "upstream_path=/t" } },
	{ .cc_name = "upstream prefix dot-dot",
	    .cc_argv = { "-u", "https://h/a/../t" },
	    .cc_err = "(a path prefix has no \".\" or \"..\" segment)" },
	{ .cc_name = "upstream prefix dot",
	    .cc_argv = { "-u", "https://h/./t" },
	    .cc_err = "(a path prefix has no \".\" or \"..\" segment)" },
	{ .cc_name = "upstream prefix trailing dot-dot",
	    .cc_argv = { "-u", "https://h/t/.." },
	    .cc_err = "(a path prefix has no \".\" or \"..\" segment)" },
	{ .cc_name = "upstream prefix encoded dot-dot",
	    .cc_argv = { "-u", "https://h/%2e%2e/t" },
	    .cc_err = "(a path prefix holds only letters, digits, \"-._~\" "
	    "and \"/\")" },
	{ .cc_name = "upstream prefix encoded slash",
	    .cc_argv = { "-u", "https://h/a%2Fb" },
	    .cc_err = "(a path prefix holds only letters" },
	{ .cc_name = "upstream prefix backslash",
	    .cc_argv = { "-u", "https://h/a\\b" },
	    .cc_err = "bad value for upstream" },
	{ .cc_name = "upstream prefix semicolon",
	    .cc_argv = { "-u", "https://h/..;x/t" },
	    .cc_err = "(a path prefix holds only letters" },
	{ .cc_name = "upstream prefix empty segment",
	    .cc_argv = { "-u", "https://h/a//b" },
	    .cc_err = "(a path prefix has no empty segment)" },
	{ .cc_name = "upstream prefix two slashes",
	    .cc_argv = { "-u", "https://h//" },
	    .cc_err = "(a path prefix has no empty segment)" },
	{ .cc_name = "upstream prefix with query",
	    .cc_argv = { "-u", "https://h/t?a=b" },
	    .cc_err = "(no query or fragment allowed)" },
	{ .cc_name = "upstream prefix with fragment",
	    .cc_argv = { "-u", "https://h/t#x" },
	    .cc_err = "(no query or fragment allowed)" },
	{ .cc_name = "upstream prefix ending in /BOT",
	    .cc_argv = { "-u", "https://h/t/BOT/" },
	    .cc_err = "(a path prefix does not end in /bot" },
	{ .cc_name = "upstream prefix with a token",
	    .cc_argv = { "-u", "https://h/bot123:abc" },
	    .cc_err = "(a path prefix holds only letters" },
	{ .cc_name = "upstream prefix too long",
	    .cc_argv = { "-u", "https://h/" LONG257 },
	    .cc_err = "(a path prefix is at most 256 bytes)" },
	{ .cc_name = "upstream prefix userinfo",
	    .cc_argv = { "-u", "https://u:" SECRET "@h/t" },
	    .cc_err = "--upstream: bad value for upstream: credentials" },
	{ .cc_name = "upstream port 0", .cc_argv = { "-u", "https://h:0" },
	    .cc_err = "bad value for upstream" },
	{ .cc_name = "upstream no host", .cc_argv = { "-u", "https:///x" },
	    .cc_err = "bad value for upstream" },
	{ .cc_name = "upstream credentials",
	    .cc_argv = { "-u", "https://u:" SECRET "@api.telegram.org" },
	    .cc_err = "--upstream: bad value for upstream: credentials" },

	/* ca_file. */
	{ .cc_name = "ca_file", .cc_file = "x",
	    .cc_argv = { "--ca-file", "@FILE@" },
	    .cc_want = { "ca_file=@FILE@" } },
	{ .cc_name = "ca_file missing",
	    .cc_argv = { "--ca-file", "/nonexistent/ca.pem" },
	    .cc_err = "--ca-file: cannot read ca_file \"/nonexistent/ca.pem\": "
	    "No such file or directory" },
	{ .cc_name = "ca_file directory", .cc_argv = { "--ca-file", "/" },
	    .cc_err = "not a regular file" },

	/* Proxy credentials. */
	{ .cc_name = "credentials from URL",
	    .cc_argv = { "-x", "http://us%40er:p%3A" SECRET "@h:1" },
	    .cc_want = { "proxy=http://h:1", "proxy_user=us@er",
	    "proxy_pass=p:" SECRET } },
	{ .cc_name = "proxy_user and proxy_password override the URL",
	    .cc_file = "proxy = http://u:p@h:1\nproxy_user = alice\n",
	    .cc_env = { "TGSIDECAR_PROXY_PASSWORD=" SECRET },
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "proxy=http://h:1", "proxy_user=alice",
	    "proxy_pass=" SECRET } },
	{ .cc_name = "proxy_password_file",
	    .cc_pwfile = SECRET "\nsecond line\n",
	    .cc_argv = { "-x", "socks5://u@h:1", "--proxy-password-file",
	    "@PWFILE@" },
	    .cc_want = { "proxy_user=u", "proxy_pass=" SECRET } },
	{ .cc_name = "proxy_password_file CRLF, no newline",
	    .cc_pwfile = SECRET "\r\n",
	    .cc_file = "proxy = http://u:old@h:1\n"
	    "proxy_password_file = @PWFILE@\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "proxy_pass=" SECRET } },
	{ .cc_name = "proxy_password beats file from a weaker source",
	    .cc_pwfile = "frompwfile\n",
	    .cc_file = "proxy = http://u@h:1\n"
	    "proxy_password_file = @PWFILE@\n",
	    .cc_argv = { "-c", "@FILE@", "--proxy-password", SECRET },
	    .cc_want = { "proxy_pass=" SECRET } },
	{ .cc_name = "overridden password file is not read",
	    .cc_file = "proxy = http://u@h:1\n"
	    "proxy_password_file = /nonexistent/pw\n",
	    .cc_argv = { "-c", "@FILE@", "--proxy-password", SECRET },
	    .cc_want = { "proxy_pass=" SECRET } },
	{ .cc_name = "proxy_password_file unreadable",
	    .cc_file = "proxy = http://u@h:1\n\n"
	    "proxy_password_file = /nonexistent/pw\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_err = "@FILE@:3: cannot read proxy_password_file "
	    "\"/nonexistent/pw\": No such file or directory" },
	{ .cc_name = "proxy_password_file empty", .cc_pwfile = "",
	    .cc_argv = { "-x", "http://h:1", "--proxy-password-file",
	    "@PWFILE@" },
	    .cc_err = "--proxy-password-file: proxy_password_file" },
	{ .cc_name = "credentials without a proxy are unused",
	    .cc_argv = { "--proxy-user", "alice", "--proxy-password",
	    SECRET },
	    .cc_want = { "proxy=direct", "proxy_user=NULL",
	    "proxy_pass=NULL" } },

	/* HTTPS_PROXY and friends only when no proxy is configured. */
	{ .cc_name = "HTTPS_PROXY fallback",
	    .cc_env = { "HTTPS_PROXY=http://u:" SECRET "@envproxy:3128" },
	    .cc_want = { "proxy=http://envproxy:3128", "proxy_user=u",
	    "proxy_pass=" SECRET } },
	{ .cc_name = "ALL_PROXY fallback",
	    .cc_env = { "ALL_PROXY=socks5h://all:1080" },
	    .cc_want = { "proxy=socks5h://all:1080" } },
	{ .cc_name = "proxy_user applies to HTTPS_PROXY",
	    .cc_env = { "HTTPS_PROXY=http://envproxy:3128",
	    "TGSIDECAR_PROXY_USER=bob" },
	    .cc_want = { "proxy=http://envproxy:3128", "proxy_user=bob" } },
	{ .cc_name = "file proxy beats HTTPS_PROXY",
	    .cc_file = "proxy = http://fileproxy:1\n",
	    .cc_env = { "HTTPS_PROXY=http://envproxy:3128" },
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "proxy=http://fileproxy:1" } },
	{ .cc_name = "direct flag beats HTTPS_PROXY",
	    .cc_env = { "HTTPS_PROXY=http://envproxy:3128" },
	    .cc_argv = { "-x", "direct" },
	    .cc_want = { "proxy=direct" } },
	{ .cc_name = "direct env beats HTTPS_PROXY",
	    .cc_env = { "HTTPS_PROXY=http://envproxy:3128",
	    "TGSIDECAR_PROXY=DIRECT" },
	    .cc_want = { "proxy=direct" } },
	{ .cc_name = "direct in file beats HTTPS_PROXY",
	    .cc_file = "proxy = direct\n",
	    .cc_env = { "HTTPS_PROXY=http://envproxy:3128" },
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "proxy=direct" } },
	{ .cc_name = "bad HTTPS_PROXY unused when proxy set",
	    .cc_env = { "HTTPS_PROXY=ftp://u:" SECRET "@h" },
	    .cc_argv = { "-x", "http://h:1" },
	    .cc_want = { "proxy=http://h:1" } },
	{ .cc_name = "bad HTTPS_PROXY",
	    .cc_env = { "HTTPS_PROXY=ftp://u:" SECRET "@h" },
	    .cc_err = "HTTPS_PROXY: unsupported proxy scheme \"ftp\"" },
	{ .cc_name = "http_proxy is not used",
	    .cc_env = { "http_proxy=http://plain:1" },
	    .cc_want = { "proxy=direct" } },
	{ .cc_name = "NO_PROXY captured",
	    .cc_env = { "NO_PROXY=localhost,.internal" },
	    .cc_want = { "noproxy=localhost,.internal" } },
	{ .cc_name = "no_proxy captured",
	    .cc_env = { "no_proxy=.corp" }, .cc_want = { "noproxy=.corp" } },

	/* pre_proxy. */
	{ .cc_name = "chain",
	    .cc_file = "pre_proxy = socks5h://tor:9050\n"
	    "proxy = http://corp:3128\n",
	    .cc_argv = { "-c", "@FILE@" },
	    .cc_want = { "pre_proxy=socks5h://tor:9050",
	    "proxy=http://corp:3128" } },
	{ .cc_name = "chain with HTTPS_PROXY",
	    .cc_env = { "HTTPS_PROXY=http://corp:3128" },
	    .cc_argv = { "--pre-proxy", "socks4a://s" },
	    .cc_want = { "pre_proxy=socks4a://s:1080",
	    "proxy=http://corp:3128" } },
	{ .cc_name = "pre_proxy direct", .cc_argv = { "--pre-proxy", "direct" },
	    .cc_want = { "pre_proxy=direct" } },
	{ .cc_name = "pre_proxy must be SOCKS",
	    .cc_argv = { "-x", "http://corp:1", "--pre-proxy",
	    "http://u:" SECRET "@h:1" },
	    .cc_err = "--pre-proxy: pre_proxy must be a SOCKS proxy "
	    "(socks5://, socks5h:// or socks4a://)" },
	{ .cc_name = "pre_proxy without proxy",
	    .cc_argv = { "--pre-proxy", "socks5://u:" SECRET "@h:1" },
	    .cc_err = "pre_proxy is set but there is no proxy" },
	{ .cc_name = "pre_proxy bad scheme",
	    .cc_env = { "TGSIDECAR_PRE_PROXY=socks4://u:" SECRET "@h" },
	    .cc_err = "TGSIDECAR_PRE_PROXY: bad value for pre_proxy: "
	    "unsupported proxy scheme" },

	/* Other flags. */
	{ .cc_name = "-t", .cc_argv = { "-t" }, .cc_want = { "check=1" } },
	{ .cc_name = "--check-config", .cc_argv = { "--check-config" },
	    .cc_want = { "check=1", "version=0", "help=0" } },
	{ .cc_name = "-V skips a broken config",
	    .cc_argv = { "-V", "-c", "/nonexistent/tgsidecar.conf" },
	    .cc_want = { "version=1" } },
	{ .cc_name = "--help", .cc_argv = { "--help" },
	    .cc_want = { "help=1" } },
	{ .cc_name = "clustered short flags", .cc_argv = { "-tl127.0.0.1:9" },
	    .cc_want = { "check=1", "listen=127.0.0.1:9" } },
};

static char	 file_path[64], pwfile_path[64];

static char *
subst(const char *s)
{
	char	*out, *p;
	size_t	 n = strlen(s) + 1;

	if ((out = malloc(n + 256)) == NULL)
		abort();
	*out = '\0';
	while ((p = strchr(s, '@')) != NULL) {
		strncat(out, s, p - s);
		if (strncmp(p, "@FILE@", 6) == 0) {
			strcat(out, file_path);
			s = p + 6;
		} else if (strncmp(p, "@PWFILE@", 8) == 0) {
			strcat(out, pwfile_path);
			s = p + 8;
		} else {
			strcat(out, "@");
			s = p + 1;
		}
	}
	strcat(out, s);
	return (out);
}

static void
write_temp(char *path, size_t len, const char *content)
{
	const char	*dir = getenv("TMPDIR");
	char		*text;
	FILE		*fp;
	int		 fd;

	snprintf(path, len, "%s/tgsidecar-test.XXXXXX", dir && *dir ? dir :
	    "/tmp");
	if ((fd = mkstemp(path)) == -1 || (fp = fdopen(fd, "w")) == NULL)
		abort();
	text = subst(content ? content : "");
	fputs(text, fp);
	free(text);
	fclose(fp);
}

static void
field(const struct config *cfg, const struct config_cli *cli,
    const char *key, char *buf, size_t len)
{
	const struct sockaddr_in6	*sin6;
	const struct sockaddr_in	*sin;
	const char			*s = NULL;
	long long			 n = 0;
	int				 isnum = 1;

#define STR(k, v)	else if (strcmp(key, k) == 0) { s = (v); isnum = 0; }
#define NUM(k, v)	else if (strcmp(key, k) == 0) n = (long long)(v);
	if (0) ;
	STR("listen", cfg->cfg_listen)
	STR("upstream", cfg->cfg_upstream)
	STR("upstream_host", cfg->cfg_upstream_host)
	STR("upstream_path", cfg->cfg_upstream_path)
	STR("proxy", cfg->cfg_proxy[0].px_scheme == PROXY_NONE ? "direct" :
	    cfg->cfg_proxy[0].px_url)
	STR("proxy_user", cfg->cfg_proxy[0].px_user)
	STR("proxy_pass", cfg->cfg_proxy[0].px_pass)
	STR("pre_proxy", cfg->cfg_pre_proxy.px_scheme == PROXY_NONE ?
	    "direct" : cfg->cfg_pre_proxy.px_url)
	STR("noproxy", cfg->cfg_noproxy)
	STR("ca_file", cfg->cfg_ca_file)
	NUM("proxy_auth", cfg->cfg_proxy_auth)
	NUM("max_body", cfg->cfg_max_body)
	NUM("max_header_size", cfg->cfg_max_header_size)
	NUM("connect_timeout", cfg->cfg_connect_timeout_ms)
	NUM("upstream_timeout", cfg->cfg_upstream_timeout_ms)
	NUM("stall_timeout", cfg->cfg_stall_timeout_ms)
	NUM("poll_timeout", cfg->cfg_poll_timeout_ms)
	NUM("idle_timeout", cfg->cfg_idle_timeout_ms)
	NUM("shutdown_timeout", cfg->cfg_shutdown_timeout_ms)
	NUM("log_level", cfg->cfg_log_level)
	NUM("check", cli->cli_check)
	NUM("version", cli->cli_version)
	NUM("help", cli->cli_help)
	NUM("listen_af", cfg->cfg_listen_ss.ss_family == AF_INET ? 4 :
	    cfg->cfg_listen_ss.ss_family == AF_INET6 ? 6 : 0)
	else if (strcmp(key, "listen_port") == 0) {
		sin = (const struct sockaddr_in *)&cfg->cfg_listen_ss;
		sin6 = (const struct sockaddr_in6 *)&cfg->cfg_listen_ss;
		n = ntohs(cfg->cfg_listen_ss.ss_family == AF_INET ?
		    sin->sin_port : sin6->sin6_port);
	} else {
		s = "UNKNOWN-TEST-KEY";
		isnum = 0;
	}
#undef STR
#undef NUM
	if (isnum)
		snprintf(buf, len, "%lld", n);
	else
		snprintf(buf, len, "%s", s ? s : "NULL");
}

static void
run(const struct cfg_case *c)
{
	struct config		 cfg;
	struct config_cli	 cli;
	char			*argv[NSLOTS + 2], *envp[NSLOTS + 1];
	char			 err[TGS_ERRLEN] = "", got[512], *want, *eq;
	int			 argc = 0, i, rv;

	/* The password file first: the config file may name it. */
	write_temp(pwfile_path, sizeof(pwfile_path), c->cc_pwfile);
	write_temp(file_path, sizeof(file_path), c->cc_file);
	argv[argc++] = strdup("tgsidecar");
	for (i = 0; i < NSLOTS && c->cc_argv[i] != NULL; i++)
		argv[argc++] = subst(c->cc_argv[i]);
	argv[argc] = NULL;
	for (i = 0; i < NSLOTS && c->cc_env[i] != NULL; i++)
		envp[i] = subst(c->cc_env[i]);
	envp[i] = NULL;

	rv = config_load(&cfg, &cli, argc, argv, envp, err, sizeof(err));
	if (c->cc_err != NULL) {
		want = subst(c->cc_err);
		is_int(rv, -1, "%s: fails", c->cc_name);
		like(err, want, "%s: error", c->cc_name);
		/* SHOW_ERRORS=1 prints every message, to review wording. */
		if (getenv("SHOW_ERRORS") != NULL)
			diag("%s", err);
		unlike(err, SECRET, "%s: error hides the password",
		    c->cc_name);
		free(want);
	} else if (is_int(rv, 0, "%s: loads", c->cc_name)) {
		for (i = 0; i < NSLOTS && c->cc_want[i] != NULL; i++) {
			want = subst(c->cc_want[i]);
			eq = strchr(want, '=');
			*eq = '\0';
			field(&cfg, &cli, want, got, sizeof(got));
			is_str(got, eq + 1, "%s: %s", c->cc_name, want);
			free(want);
		}
	} else
		diag("error: %s", err);
	config_free(&cfg);

	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	for (i = 0; envp[i] != NULL; i++)
		free(envp[i]);
	unlink(file_path);
	unlink(pwfile_path);
}

/* Loading registers proxy passwords with the log redactor. */
static void
test_secrets(void)
{
	struct config		 cfg;
	struct config_cli	 cli;
	char			*argv[] = { "tgsidecar",
				    "-x", "http://u:p%40" SECRET "@h:1",
				    "--pre-proxy",
				    "socks5://v:pre" SECRET "@s:1", NULL };
	char			*envp[] = { NULL };
	char			 err[TGS_ERRLEN], line[256];
	size_t			 n;

	log_secrets_clear();
	is_int(config_load(&cfg, &cli, 5, argv, envp, err, sizeof(err)), 0,
	    "secrets: loads");
	snprintf(line, sizeof(line), "a p@" SECRET " b p%%40" SECRET
	    " c pre" SECRET);
	n = log_redact(line, strlen(line));
	line[n] = '\0';
	is_str(line, "a *** b *** c ***", "secrets: passwords redacted");
	config_free(&cfg);
	log_secrets_clear();
}

/* Free, init, load again; free twice; init alone. */
static void
test_lifecycle(void)
{
	struct config		 cfg;
	struct config_cli	 cli;
	char			*argv1[] = { "tgsidecar", "-l", "127.0.0.1:1",
				    NULL };
	char			*argv2[] = { "tgsidecar", NULL };
	char			*bad[] = { "tgsidecar", "--max-body", "x",
				    NULL };
	char			*envp[] = { NULL };
	char			 err[TGS_ERRLEN];

	config_init(&cfg);
	is_str(cfg.cfg_listen, TGS_DEFAULT_LISTEN, "init: listen");
	is_str(cfg.cfg_upstream, TGS_DEFAULT_UPSTREAM, "init: upstream");
	is_int(cfg.cfg_listen_sslen, sizeof(struct sockaddr_in),
	    "init: sslen");
	config_free(&cfg);
	config_free(&cfg);
	ok(cfg.cfg_listen == NULL, "free twice is harmless");

	is_int(config_load(&cfg, &cli, 3, argv1, envp, err, sizeof(err)), 0,
	    "reload 1");
	is_str(cfg.cfg_listen, "127.0.0.1:1", "reload 1: listen");
	config_free(&cfg);
	is_int(config_load(&cfg, &cli, 1, argv2, envp, err, sizeof(err)), 0,
	    "reload 2: getopt starts over");
	is_str(cfg.cfg_listen, TGS_DEFAULT_LISTEN, "reload 2: listen");
	config_free(&cfg);
	is_int(config_load(&cfg, &cli, 3, bad, envp, err, sizeof(err)), -1,
	    "failed load");
	ok(cfg.cfg_listen == NULL, "failed load frees cfg");
	config_free(&cfg);
	is_int(config_load(&cfg, &cli, 3, argv1, NULL, err, sizeof(err)), 0,
	    "NULL envp");
	config_free(&cfg);
}

static void
test_usage(void)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		abort();
	config_usage(fp);
	fclose(fp);
	like(buf, "--max-body", "usage lists flags");
	like(buf, "--proxy-password-file", "usage lists long flags");
	like(buf, "TGSIDECAR_SOME_KEY", "usage explains env");
	like(buf, "-x, --proxy", "usage lists short flags");
	like(buf, "--check-config", "usage lists -t");
	free(buf);
}

static int
str_same(const char *a, const char *b)
{
	return ((a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0));
}

/* The settings a key with a default can reach. */
static int
cfg_same(const struct config *a, const struct config *b)
{
	return (str_same(a->cfg_listen, b->cfg_listen) &&
	    a->cfg_listen_sslen == b->cfg_listen_sslen &&
	    memcmp(&a->cfg_listen_ss, &b->cfg_listen_ss,
	    sizeof(a->cfg_listen_ss)) == 0 &&
	    str_same(a->cfg_upstream, b->cfg_upstream) &&
	    str_same(a->cfg_upstream_host, b->cfg_upstream_host) &&
	    a->cfg_nproxy == b->cfg_nproxy &&
	    a->cfg_proxy[0].px_scheme == b->cfg_proxy[0].px_scheme &&
	    a->cfg_proxy_auth == b->cfg_proxy_auth &&
	    a->cfg_tls_session_resume == b->cfg_tls_session_resume &&
	    a->cfg_max_body == b->cfg_max_body &&
	    a->cfg_connect_timeout_ms == b->cfg_connect_timeout_ms &&
	    a->cfg_upstream_timeout_ms == b->cfg_upstream_timeout_ms &&
	    a->cfg_stall_timeout_ms == b->cfg_stall_timeout_ms &&
	    a->cfg_poll_timeout_ms == b->cfg_poll_timeout_ms &&
	    a->cfg_idle_timeout_ms == b->cfg_idle_timeout_ms &&
	    a->cfg_header_timeout_ms == b->cfg_header_timeout_ms &&
	    a->cfg_shutdown_timeout_ms == b->cfg_shutdown_timeout_ms &&
	    a->cfg_proxy_fail_timeout_ms == b->cfg_proxy_fail_timeout_ms &&
	    a->cfg_retries == b->cfg_retries &&
	    a->cfg_max_inflight == b->cfg_max_inflight &&
	    a->cfg_log_json == b->cfg_log_json &&
	    a->cfg_syslog == b->cfg_syslog &&
	    a->cfg_log_level == b->cfg_log_level &&
	    a->cfg_core_dumps == b->cfg_core_dumps);
}

/*
 * Every default is written once, in the key table: -h shows it, and
 * giving it as a flag changes nothing from what config_init() set.
 */
static void
test_defaults(void)
{
	const struct config_key	*ck;
	struct config		 def, cfg;
	struct config_cli	 cli;
	char			 flag[CONFIG_NAMELEN + 2], want[128];
	char			 err[TGS_ERRLEN], *argv[4], *envp[] = { NULL };
	char			*buf = NULL, *line;
	size_t			 i, len = 0;
	FILE			*fp;

	if ((fp = open_memstream(&buf, &len)) == NULL)
		abort();
	config_usage(fp);
	fclose(fp);
	config_init(&def);
	for (i = 0; i < config_nkeys; i++) {
		ck = &config_keys[i];
		flag[0] = flag[1] = '-';
		config_keys_name(ck, 0, flag + 2, sizeof(flag) - 2);
		snprintf(want, sizeof(want), " %s ", flag);
		line = strstr(buf, want);
		ok(line != NULL, "-h lists %s", flag);
		if (ck->ck_def == NULL || line == NULL)
			continue;
		snprintf(want, sizeof(want), " (%s)\n", ck->ck_def);
		ok(strstr(line, want) == strchr(line, '\n') - strlen(want) + 1,
		    "-h shows %s's default %s", flag, ck->ck_def);
		argv[0] = "tgsidecar";
		argv[1] = flag;
		argv[2] = (char *)ck->ck_def;
		argv[3] = NULL;
		is_int(config_load(&cfg, &cli, 3, argv, envp, err,
		    sizeof(err)), 0, "%s %s loads", flag, ck->ck_def);
		ok(cfg_same(&cfg, &def), "%s %s is what config_init() set",
		    flag, ck->ck_def);
		config_free(&cfg);
	}
	/* The values, as they were before the table held them. */
	ok(def.cfg_nproxy == 1 && def.cfg_proxy[0].px_scheme == PROXY_NONE,
	    "default: direct");
	ok(def.cfg_proxy_auth == CURLAUTH_BASIC, "default: basic auth");
	ok(def.cfg_max_body == 50ULL << 20, "default: max_body 50M");
	ok(def.cfg_proxy_fail_timeout_ms == 30000 && def.cfg_retries == 2 &&
	    def.cfg_max_inflight == 1024 && def.cfg_tls_session_resume == 1,
	    "default: failover, retries, max_inflight, session resumption");
	ok(def.cfg_connect_timeout_ms == 30000 &&
	    def.cfg_upstream_timeout_ms == 120000 &&
	    def.cfg_stall_timeout_ms == 60000 &&
	    def.cfg_poll_timeout_ms == 60000 &&
	    def.cfg_idle_timeout_ms == 300000 &&
	    def.cfg_header_timeout_ms == 10000 &&
	    def.cfg_shutdown_timeout_ms == 10000, "default: timeouts");
	ok(def.cfg_log_level == LOG_LEVEL_INFO && !def.cfg_log_json &&
	    !def.cfg_syslog && !def.cfg_core_dumps && def.cfg_nallow == 0 &&
	    def.cfg_nbots == 0 && def.cfg_admin_listen == NULL &&
	    def.cfg_user == NULL && def.cfg_ca_file == NULL,
	    "default: logging, acl, admin, user, ca_file");
	config_free(&def);
	free(buf);
}

int
main(void)
{
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run(&cases[i]);
	test_secrets();
	test_lifecycle();
	test_usage();
	test_defaults();
	log_secrets_clear();
	return (done_testing());
}
