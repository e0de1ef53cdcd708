/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for config_load().  Up to the first NUL the input is
 * the config file (kept in a memfd, read back through /proc/self/fd);
 * after it, NUL-separated strings are extra command-line arguments when
 * they start with '-', environment entries when they hold '=', and are
 * otherwise ignored.  The run is config_load() then config_free().
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"

#define FUZZ_ARGS_MAX	16

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 cfg_fd = -1;
static char	 cfg_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_LEVEL_WARN);
	if ((cfg_fd = memfd_create("fuzz_config", 0)) == -1) {
		perror("memfd_create");
		abort();
	}
	/* A file with a password in it must not be readable by others. */
	if (fchmod(cfg_fd, 0600) == -1) {
		perror("fchmod");
		abort();
	}
	snprintf(cfg_path, sizeof(cfg_path), "/proc/self/fd/%d", cfg_fd);
	return 0;
}

/*
 * proxy_password_file, ca_file and -c open whatever they are given: keep
 * the fuzzer off devices, FIFOs and procfs, where a read may never end
 * (/dev/zero has no first line).  Such inputs are rejected, not run.
 */
static int
fuzz_unsafe(const uint8_t *data, size_t size)
{
	static const char	*bad[] = { "/dev", "/proc", "/sys", "/run" };
	size_t			 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (memmem(data, size, bad[i], strlen(bad[i])) != NULL)
			return 1;
	/* A PAC URL that passes its checks forks and fetches (pac_run.c). */
	for (i = 0; i + 8 <= size; i++)
		if (strncasecmp((const char *)data + i, "pac+file", 8) == 0 ||
		    strncasecmp((const char *)data + i, "pac+http", 8) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config		 cfg;
	struct config_cli	 cli;
	char			 err[TGS_ERRLEN];
	char			*argv[3 + FUZZ_ARGS_MAX + 1];
	char			*envp[FUZZ_ARGS_MAX + 1];
	char			*rest = NULL, *s, *end;
	const uint8_t		*nul;
	size_t			 flen;
	int			 argc = 0, envc = 0, rv;

	if (fuzz_unsafe(data, size))
		return -1;
	nul = memchr(data, '\0', size);
	flen = nul != NULL ? (size_t)(nul - data) : size;
	if (ftruncate(cfg_fd, 0) == -1 ||
	    (flen > 0 && pwrite(cfg_fd, data, flen, 0) != (ssize_t)flen))
		abort();

	argv[argc++] = "tgsidecar";
	argv[argc++] = "-c";
	argv[argc++] = cfg_path;
	if (nul != NULL) {
		/* Copies: getopt may permute argv, and we need the NULs. */
		if ((rest = malloc(size - flen)) == NULL)
			return 0;
		memcpy(rest, nul + 1, size - flen - 1);
		rest[size - flen - 1] = '\0';
		end = rest + (size - flen - 1);
		for (s = rest; s < end; s += strlen(s) + 1) {
			if (*s == '-' && argc < 3 + FUZZ_ARGS_MAX)
				argv[argc++] = s;
			else if (strchr(s, '=') != NULL &&
			    envc < FUZZ_ARGS_MAX)
				envp[envc++] = s;
		}
	}
	argv[argc] = NULL;
	envp[envc] = NULL;

	memset(&cfg, 0, sizeof(cfg));
	memset(err, 0, sizeof(err));
	rv = config_load(&cfg, &cli, argc, argv, envp, err, sizeof(err));
	if (rv == -1 && err[0] == '\0')
		abort();	/* a failure must say why */
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rv == 0 && !cli.cli_help && !cli.cli_version &&
	    (cfg.cfg_listen == NULL || cfg.cfg_upstream == NULL ||
	    cfg.cfg_upstream_host == NULL || cfg.cfg_max_body == 0 ||
	    cfg.cfg_idle_timeout_ms <= 0))
		abort();
	config_free(&cfg);
	log_secrets_clear();
	free(rest);
	return 0;
}
