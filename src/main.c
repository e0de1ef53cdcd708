/* SPDX-License-Identifier: ISC */
/*
 * tgsidecar: a fresh upstream connection for every Bot API request.
 * main() only reads the configuration and runs the server.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "conf.h"
#include "coredump.h"
#include "log.h"
#include "server.h"

extern char **environ;

int
main(int argc, char *argv[])
{
	struct config		*cfg;
	struct config_cli	 cli = { 0 };
	struct server		 srv;
	char			 err[TGS_ERRLEN * 2];
	int			 rc = 1;

	log_init(LOG_LEVEL_INFO);
	/* Before the config, the proxy password and any bot token. */
	if (coredump_set(0) == -1)
		return (1);
	if ((cfg = config_new()) == NULL)
		fatal("config_new");
	if (config_load(cfg, &cli, argc, argv, environ, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "tgsidecar: %s\n", err);
		if (cli.cli_check)
			fprintf(stderr, "configuration failed\n");
		config_unref(cfg);
		return (2);
	}
	if (cli.cli_help) {
		config_usage(stdout);
		rc = 0;
		goto done;
	}
	if (cli.cli_version) {
		printf("tgsidecar %s (%s)\n", TGS_VERSION,
		    curl_version());
		rc = 0;
		goto done;
	}
	if (cli.cli_check) {
		printf("configuration OK\n");
		rc = 0;
		goto done;
	}
	log_init(cfg->cfg_log_level);
	log_format(cfg->cfg_log_json, cfg->cfg_syslog);
	if (cfg->cfg_core_dumps && coredump_set(1) == -1)
		goto done;
	/* Only retry jitter uses it. */
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	if (server_init(&srv, cfg, argc, argv) == 0) {
		/* Dropping root (user =) reset it to fs.suid_dumpable. */
		if (coredump_set(cfg->cfg_core_dumps) == 0)
			rc = server_run(&srv) == 0 ? 0 : 1;
		server_free(&srv);
	}
	curl_global_cleanup();
 done:
	config_unref(cfg);
	log_secrets_clear();
	return (rc);
}
