/* SPDX-License-Identifier: ISC */
/*
 * The getUpdates loop: long-poll with an advancing offset, answer each
 * update, and wait out trouble (409, 429, 5xx, no sidecar) without
 * hammering anything. A stop signal ends a poll at once but lets the
 * update in hand finish; the offset is then confirmed so a restart does
 * not answer the same messages again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot.h"

#define BOTPOLL_GRACE_MS	15000L	/* beyond the long-poll timeout */
#define BOTPOLL_CALL_MS		30000L	/* sendMessage, getMe */
#define BOTPOLL_ACK_MS		2000L	/* confirming the offset at exit */
#define BOTPOLL_SEND_TRIES	3
#define BOTPOLL_RETRY_MAX	3600L	/* seconds; a sanity bound on 429 */

struct botpoll {
	const struct botcfg	*bp_cfg;
	struct botapi		*bp_api;
	struct botbackoff	 bp_backoff;
	json_int_t		 bp_offset;	/* next update_id wanted */
	json_int_t		 bp_acked;	/* last offset the API saw */
	char			*bp_username;	/* from getMe, or NULL */
};

static long
botpoll_elapsed_us(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((t1.tv_sec - t0->tv_sec) * 1000000L +
	    (t1.tv_nsec - t0->tv_nsec) / 1000);
}

/* The /ping hook: how long a getMe takes through the sidecar. */
static int
botpoll_rtt(void *arg, double *ms)
{
	struct botpoll		*bp = arg;
	struct botapi_res	 res;
	struct timespec		 t0;
	int			 rv;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rv = botapi_call(bp->bp_api, "getMe", NULL, BOTPOLL_CALL_MS, 0, &res);
	*ms = botpoll_elapsed_us(&t0) / 1000.0;
	if (rv == -1)
		log_warnx("/ping: getMe failed: %s", res.br_desc);
	botapi_res_clear(&res);
	return (rv);
}

/* Learn our @username, so commands for other bots can be told apart. */
static int
botpoll_getme(struct botpoll *bp)
{
	struct botapi_res	 res;
	json_t			*v;
	int			 rv = 0;

	if (botapi_call(bp->bp_api, "getMe", NULL, BOTPOLL_CALL_MS,
	    BOTAPI_ABORTABLE, &res) == -1) {
		if (res.br_kind == BOTAPI_UNAUTHORIZED) {
			log_warnx("the Bot API rejected the token (%s): check "
			    "TELEGRAM_BOT_TOKEN", res.br_desc);
			rv = -1;
		} else if (res.br_kind != BOTAPI_ABORTED)
			log_warnx("getMe: %s: %s", botapi_kindname(res.br_kind),
			    res.br_desc);
		goto done;
	}
	v = json_object_get(res.br_result, "username");
	if (json_is_string(v) &&
	    (bp->bp_username = strdup(json_string_value(v))) != NULL)
		log_info("I am @%s, talking to the Bot API via %s",
		    bp->bp_username, bp->bp_cfg->bc_url);
 done:
	botapi_res_clear(&res);
	return (rv);
}

static void
botpoll_send(struct botpoll *bp, json_int_t update_id,
    const struct bothandle_reply *hr)
{
	struct botapi_res	 res;
	json_t			*params;
	int			 i;

	params = json_pack("{sIss}", "chat_id", hr->hr_chat, "text",
	    hr->hr_text);
	if (params == NULL) {
		log_warnx("update %lld: cannot build the reply",
		    (long long)update_id);
		return;
	}
	for (i = 0; i < BOTPOLL_SEND_TRIES; i++) {
		if (botapi_call(bp->bp_api, "sendMessage", params,
		    BOTPOLL_CALL_MS, 0, &res) == 0) {
			log_info("update %lld from user %lld: %s, replied",
			    (long long)update_id, (long long)hr->hr_from,
			    hr->hr_what);
			botapi_res_clear(&res);
			break;
		}
		log_warnx("update %lld: sendMessage to chat %lld: %s: %s",
		    (long long)update_id, (long long)hr->hr_chat,
		    botapi_kindname(res.br_kind), res.br_desc);
		/* Only flood control is worth another try. */
		if (res.br_kind != BOTAPI_RETRY || i + 1 == BOTPOLL_SEND_TRIES ||
		    botsig_sleep(res.br_retry_after * 1000) == -1) {
			botapi_res_clear(&res);
			break;
		}
		botapi_res_clear(&res);
	}
	json_decref(params);
}

static void
botpoll_update(struct botpoll *bp, json_t *update)
{
	struct bothandle_ctx	 ctx;
	struct bothandle_reply	 hr;
	json_int_t		 id;

	id = json_integer_value(json_object_get(update, "update_id"));
	ctx.bh_cfg = bp->bp_cfg;
	ctx.bh_username = bp->bp_username;
	ctx.bh_rtt = botpoll_rtt;
	ctx.bh_arg = bp;
	if (bothandle_update(&ctx, update, &hr) == -1)
		log_warnx("update %lld: out of memory", (long long)id);
	else if (hr.hr_action == BOTHANDLE_DENIED)
		log_info("update %lld: ignoring user id %lld: not in the "
		    "allowed list", (long long)id, (long long)hr.hr_from);
	else if (hr.hr_action == BOTHANDLE_NONE)
		log_debug("update %lld: skipped (%s)", (long long)id,
		    hr.hr_what);
	else
		botpoll_send(bp, id, &hr);
	bothandle_reply_clear(&hr);
}

/*
 * Answer a batch. A stop signal ends it after the update in hand; the
 * rest stay unconfirmed, so the next start gets them again.
 */
static void
botpoll_updates(struct botpoll *bp, json_t *updates)
{
	json_t		*u, *v;
	json_int_t	 id;
	size_t		 i;

	json_array_foreach(updates, i, u) {
		if (botsig_stopping())
			break;
		if (!json_is_integer(v = json_object_get(u, "update_id")))
			continue;
		id = json_integer_value(v);
		if (id < bp->bp_offset)
			continue;	/* seen already */
		bp->bp_offset = id + 1;
		botpoll_update(bp, u);
	}
}

/* Log what went wrong and wait; -1 if the bot cannot go on. */
static int
botpoll_trouble(struct botpoll *bp, const struct botapi_res *res)
{
	long	 ms;

	switch (res->br_kind) {
	case BOTAPI_ABORTED:
		return (0);
	case BOTAPI_UNAUTHORIZED:
		log_warnx("the Bot API rejected the token (%s): check "
		    "TELEGRAM_BOT_TOKEN", res->br_desc);
		return (-1);
	case BOTAPI_RETRY:
		ms = (res->br_retry_after > BOTPOLL_RETRY_MAX ?
		    BOTPOLL_RETRY_MAX : res->br_retry_after) * 1000;
		log_warnx("getUpdates: flood control: %s; waiting %ld s as "
		    "asked", res->br_desc, ms / 1000);
		break;
	case BOTAPI_CONFLICT:
		ms = botbackoff_next(&bp->bp_backoff, (uint32_t)random());
		log_warnx("getUpdates: another instance is polling with this "
		    "token (%s); backing off %.1f s", res->br_desc, ms / 1000.0);
		break;
	case BOTAPI_NETWORK:
		ms = botbackoff_next(&bp->bp_backoff, (uint32_t)random());
		log_warnx("getUpdates: cannot reach tgsidecar at %s: %s; "
		    "retrying in %.1f s", bp->bp_cfg->bc_url, res->br_desc,
		    ms / 1000.0);
		break;
	default:
		ms = botbackoff_next(&bp->bp_backoff, (uint32_t)random());
		log_warnx("getUpdates: HTTP %ld, %s: %s; retrying in %.1f s",
		    res->br_status, botapi_kindname(res->br_kind),
		    res->br_desc, ms / 1000.0);
		break;
	}
	botsig_sleep(ms);
	return (0);
}

/* Confirm the updates handled since the last poll, quickly. */
static void
botpoll_ack(struct botpoll *bp)
{
	struct botapi_res	 res;
	json_t			*params;

	if (bp->bp_offset <= bp->bp_acked)
		return;
	if ((params = json_pack("{sIsisi}", "offset", bp->bp_offset,
	    "timeout", 0, "limit", 1)) == NULL)
		return;
	if (botapi_call(bp->bp_api, "getUpdates", params, BOTPOLL_ACK_MS, 0,
	    &res) == -1)
		log_warnx("could not confirm updates before %lld: %s",
		    (long long)bp->bp_offset, res.br_desc);
	else
		log_debug("confirmed updates before %lld",
		    (long long)bp->bp_offset);
	botapi_res_clear(&res);
	json_decref(params);
}

static int
botpoll_once(struct botpoll *bp)
{
	struct botapi_res	 res;
	json_t			*params;
	json_int_t		 offset = bp->bp_offset;
	int			 rv = 0;

	params = json_pack("{sIsI}", "offset", offset, "timeout",
	    (json_int_t)bp->bp_cfg->bc_poll_timeout);
	if (params == NULL) {
		log_warnx("out of memory");
		return (-1);
	}
	if (botapi_call(bp->bp_api, "getUpdates", params,
	    bp->bp_cfg->bc_poll_timeout * 1000 + BOTPOLL_GRACE_MS,
	    BOTAPI_ABORTABLE, &res) == 0) {
		bp->bp_acked = offset;
		if (bp->bp_backoff.bb_cur_ms != 0)
			log_info("getUpdates works again");
		botbackoff_reset(&bp->bp_backoff);
		if (bp->bp_username == NULL && botpoll_getme(bp) == -1)
			rv = -1;
		else
			botpoll_updates(bp, res.br_result);
	} else
		rv = botpoll_trouble(bp, &res);
	botapi_res_clear(&res);
	json_decref(params);
	return (rv);
}

int
botpoll_run(const struct botcfg *cfg, struct botapi *api)
{
	struct botpoll	 bp;
	int		 rv = 0;

	memset(&bp, 0, sizeof(bp));
	bp.bp_cfg = cfg;
	bp.bp_api = api;
	botbackoff_init(&bp.bp_backoff, BOTBACKOFF_BASE_MS, BOTBACKOFF_CAP_MS);
	srandom((unsigned int)(time(NULL) ^ getpid()));

	if (botpoll_getme(&bp) == -1)
		rv = -1;
	while (rv == 0 && !botsig_stopping())
		rv = botpoll_once(&bp);
	if (rv == 0)
		botpoll_ack(&bp);
	free(bp.bp_username);
	return (rv);
}
