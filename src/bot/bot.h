/* SPDX-License-Identifier: ISC */
/*
 * tgsidecar-bot: a minimal Telegram bot that talks to the Bot API through
 * tgsidecar. An update flows: botpoll (getUpdates) -> bothandle (what to
 * answer) -> botapi (sendMessage). Logging is the daemon's log.c.
 */
#ifndef BOT_H
#define BOT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <curl/curl.h>
#include <jansson.h>

#include "coredump.h"
#include "envopt.h"
#include "log.h"
#include "route.h"
#include "util.h"

#define BOT_DEFAULT_URL		"http://127.0.0.1:8081"
#define BOT_DEFAULT_POLL	30	/* getUpdates timeout, seconds */
#define BOT_MAX_POLL		50	/* the Bot API clamps to this */
#define BOT_ERRLEN		256

/* botcfg.c: environment and flags, flags win */
struct botcfg {
	char		*bc_token;	/* never logged, never echoed */
	char		*bc_url;	/* sidecar root, no trailing slash */
	int64_t		*bc_allowed;	/* user ids */
	size_t		 bc_nallowed;
	long		 bc_poll_timeout;	/* seconds */
	int		 bc_verbose;
	int		 bc_help;
	int		 bc_version;
};

void	 botcfg_init(struct botcfg *);
int	 botcfg_load(struct botcfg *, int, char **, char **, char *, size_t);
int	 botcfg_token_valid(const char *);
int	 botcfg_parse_allowed(struct botcfg *, const char *, char *, size_t);
int	 botcfg_allowed(const struct botcfg *, int64_t);
void	 botcfg_free(struct botcfg *);
void	 botcfg_usage(FILE *);

/* botsig.c: SIGINT/SIGTERM set a flag and wake interruptible waits */
int	 botsig_init(void);
int	 botsig_stopping(void);	/* one signal: finish and leave */
int	 botsig_forced(void);	/* two signals: abort anything */
int	 botsig_sleep(long);
void	 botsig_free(void);

/* botbackoff.c: exponential backoff with a cap and jitter */
#define BOTBACKOFF_BASE_MS	1000
#define BOTBACKOFF_CAP_MS	60000

struct botbackoff {
	long	 bb_base_ms;
	long	 bb_cap_ms;
	long	 bb_cur_ms;	/* 0: no failure yet */
};

void	 botbackoff_init(struct botbackoff *, long, long);
long	 botbackoff_next(struct botbackoff *, uint32_t);
void	 botbackoff_reset(struct botbackoff *);

/* botapi.c: one Bot API call to the sidecar on a kept-alive handle */
enum botapi_kind {
	BOTAPI_OK,		/* "ok": true; br_result is set */
	BOTAPI_ABORTED,		/* stopped by a signal */
	BOTAPI_NETWORK,		/* no HTTP reply at all */
	BOTAPI_CONFLICT,	/* 409: another getUpdates */
	BOTAPI_RETRY,		/* 429: wait br_retry_after */
	BOTAPI_SERVER,		/* 5xx, or a reply that is not the Bot API's */
	BOTAPI_UNAUTHORIZED,	/* 401: the token was rejected */
	BOTAPI_CLIENT		/* other 4xx: our request was wrong */
};

#define BOTAPI_ABORTABLE	0x01	/* a signal ends the call at once */

struct botapi {
	CURL		*ba_curl;
	struct curl_slist *ba_hdrs;
	char		*ba_base;	/* url + "/bot" + token: secret */
	char		 ba_errbuf[CURL_ERROR_SIZE];
	int		 ba_abortable;
};

struct botapi_res {
	int		 br_kind;	/* enum botapi_kind */
	long		 br_status;	/* HTTP status, 0 if none */
	long		 br_retry_after;	/* seconds, for BOTAPI_RETRY */
	json_t		*br_json;	/* whole reply, owned */
	json_t		*br_result;	/* borrowed from br_json */
	char		 br_desc[BOT_ERRLEN];
};

int	 botapi_init(struct botapi *, const char *, const char *);
int	 botapi_call(struct botapi *, const char *, json_t *, long, int,
	    struct botapi_res *);
void	 botapi_classify(struct botapi_res *, long, json_t *);
const char *botapi_kindname(int);
void	 botapi_res_clear(struct botapi_res *);
void	 botapi_free(struct botapi *);

/* bothandle.c: what to answer to one update; no I/O but the rtt hook */
enum bothandle_action {
	BOTHANDLE_NONE,		/* nothing to say */
	BOTHANDLE_REPLY,	/* send hr_text to hr_chat */
	BOTHANDLE_DENIED	/* a user not on the allowed list */
};

struct bothandle_ctx {
	const struct botcfg *bh_cfg;	/* the allowed list */
	const char	*bh_username;	/* ours, for /cmd@name; or NULL */
	int		(*bh_rtt)(void *, double *);	/* ms, for /ping */
	void		*bh_arg;
};

struct bothandle_reply {
	int		 hr_action;	/* enum bothandle_action */
	json_int_t	 hr_chat;
	json_int_t	 hr_from;
	const char	*hr_what;	/* for the log: "echo", "/ping"... */
	char		*hr_text;	/* owned */
};

int	 bothandle_update(const struct bothandle_ctx *, json_t *,
	    struct bothandle_reply *);
void	 bothandle_reply_clear(struct bothandle_reply *);

/* botpoll.c: the getUpdates loop */
int	 botpoll_run(const struct botcfg *, struct botapi *);

#endif /* BOT_H */
