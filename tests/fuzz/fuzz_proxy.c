/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for proxy.c.  The first line of the input is a proxy
 * URL for proxy_parse(); every line is also an environment entry for
 * proxy_from_env().  A parsed proxy must be usable as upstream.c and
 * config.c use it, and proxy_clear() must release all of it.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "proxy.h"

#define FUZZ_ENV_MAX	32

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_proxy(const struct proxy *px, const char *err)
{
	if (memchr(err, '\0', TGS_ERRLEN) == NULL)
		abort();
	if (px->px_scheme == PROXY_NONE) {
		if (px->px_url != NULL || px->px_user != NULL ||
		    px->px_pass != NULL)
			abort();
		return;
	}
	if (px->px_scheme < PROXY_HTTP || px->px_scheme > PROXY_SOCKS4A ||
	    px->px_url == NULL || px->px_port < 1 || px->px_port > 65535)
		abort();
	/* px_url is logged as is: it must never carry credentials. */
	if (strchr(px->px_url, '@') != NULL || strstr(px->px_url, "://") ==
	    NULL)
		abort();
	if ((px->px_user != NULL && *px->px_user == '\0') ||
	    (px->px_pass != NULL && *px->px_pass == '\0'))
		abort();
}

static void
check_cleared(const struct proxy *px)
{
	static const struct proxy	 zero;

	if (memcmp(px, &zero, sizeof(zero)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy	 px;
	char		 err[TGS_ERRLEN];
	char		*buf, *line, *save, *envp[FUZZ_ENV_MAX + 1];
	size_t		 n = 0, nl;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';

	/* The first line alone, NUL-terminated where the line ends. */
	nl = strcspn(buf, "\n");
	line = strndup(buf, nl);
	if (line != NULL) {
		memset(err, 0, sizeof(err));
		if (proxy_parse(&px, line, err, sizeof(err)) == 0)
			check_proxy(&px, err);
		else if (err[0] == '\0')
			abort();	/* a failure must say why */
		else
			check_cleared(&px);
		proxy_clear(&px);
		check_cleared(&px);
		free(line);
	}

	for (line = strtok_r(buf, "\n", &save); line != NULL &&
	    n < FUZZ_ENV_MAX; line = strtok_r(NULL, "\n", &save))
		envp[n++] = line;
	envp[n] = NULL;
	memset(err, 0, sizeof(err));
	if (proxy_from_env(&px, envp, err, sizeof(err)) == 0)
		check_proxy(&px, err);
	else if (err[0] == '\0')
		abort();
	proxy_clear(&px);
	check_cleared(&px);
	free(buf);
	return 0;
}
