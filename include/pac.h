/* SPDX-License-Identifier: ISC */
/*
 * PAC files (proxy = pac+file:///path or pac+http://host/proxy.pac):
 * pac.c runs FindProxyForURL() in a bounded JavaScript engine (duktape)
 * and reads its answer into a failover list; pac_fetch.c reads the
 * script; pac_run.c runs both in a child process with a deadline, at
 * start, on SIGHUP and every pac_refresh, and keeps the last good answer.
 */
#ifndef PAC_H
#define PAC_H

#include <stddef.h>

struct config;
struct event_base;
struct proxy;

#define PAC_SCRIPT_MAX	(1024 * 1024)		/* bytes of script */
#define PAC_HEAP_MAX	(32 * 1024 * 1024)	/* the engine's memory */
#define PAC_ANSWER_MAX	4096			/* FindProxyForURL's answer */
#define PAC_FETCH_MS	10000			/* reading the script */
#define PAC_EVAL_MS	2000			/* running it */

/* What to run: the script's URL (file://, http://, https://), for whom. */
struct pac_job {
	const char	*pj_url;	/* without "pac+" */
	const char	*pj_upstream;	/* "https://api.telegram.org" */
	const char	*pj_host;	/* "api.telegram.org" */
	const char	*pj_ca_file;	/* extra trust for https://, or NULL */
	long		 pj_eval_ms;	/* 0: PAC_EVAL_MS */
};

/* pac.c */
int	 pac_eval(const char *, size_t, const char *, const char *, char *,
	    size_t, char *, size_t);
int	 pac_parse(const char *, struct proxy *, int, int *, char *, size_t);

/* pac_fetch.c */
int	 pac_fetch(const struct pac_job *, char **, size_t *, char *, size_t);

/* pac_run.c */
typedef void	 (*pac_changed_fn)(void *);
int	 pac_run_sync(const struct pac_job *, char *, size_t, char *, size_t);
int	 pac_config(struct config *, char *, size_t);
int	 pac_run_init(struct event_base *, pac_changed_fn, void *);
void	 pac_run_schedule(const struct config *);
void	 pac_run_refresh(void);
void	 pac_run_free(void);

#endif /* PAC_H */
