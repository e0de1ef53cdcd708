/* SPDX-License-Identifier: ISC */
/*
 * tgsidecar-bot: a minimal Telegram bot behind tgsidecar.
 * main() only reads the settings and runs the poll loop.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "bot.h"

extern char **environ;

int
main(int argc, char *argv[])
{
	struct botcfg	 cfg;
	struct botapi	 api;
	char		 err[BOT_ERRLEN];
	int		 rc = 1;

	log_init(LOG_LEVEL_INFO);
	/* Its memory holds the bot token: no core file, no ptrace by peers. */
	if (coredump_set(0) == -1)
		return (1);
	if (botcfg_load(&cfg, argc, argv, environ, err, sizeof(err)) == -1) {
		fprintf(stderr, "tgsidecar-bot: %s\n", err);
		botcfg_free(&cfg);
		return (2);
	}
	if (cfg.bc_help || cfg.bc_version) {
		if (cfg.bc_help)
			botcfg_usage(stdout);
		else
			printf("tgsidecar-bot %s (%s, jansson %s)\n",
			    PACKAGE_VERSION, curl_version(), JANSSON_VERSION);
		botcfg_free(&cfg);
		return (0);
	}
	log_init(cfg.bc_verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO);
	log_secret(cfg.bc_token);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init failed");
	if (botsig_init() == -1)
		goto done;
	if (botapi_init(&api, cfg.bc_url, cfg.bc_token) == -1)
		goto done;
	log_info("tgsidecar-bot %s starting, %zu allowed user(s)",
	    PACKAGE_VERSION, cfg.bc_nallowed);
	if (cfg.bc_nallowed == 0)
		log_warnx("no allowed users (ALLOWED_TELEGRAM_USER_ID is empty): "
		    "every message is ignored, and the log names its sender's "
		    "user id");
	if (botpoll_run(&cfg, &api) == 0) {
		log_info("stopped");
		rc = 0;
	}
	botapi_free(&api);
 done:
	botsig_free();
	curl_global_cleanup();
	botcfg_free(&cfg);
	log_secrets_clear();
	return (rc);
}
