/* SPDX-License-Identifier: ISC */
/*
 * What the bot answers to one update. No I/O here: /ping asks the caller
 * for a round-trip time through a hook, so tables can test every case.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot.h"

#define BOTHANDLE_HELP \
	"tgsidecar-bot: a minimal bot that talks to Telegram through " \
	"tgsidecar.\n" \
	"/ping - round trip to the Bot API via the sidecar\n" \
	"/id - your user id\n" \
	"/help - this text\n" \
	"Anything else is echoed back."

void
bothandle_reply_clear(struct bothandle_reply *hr)
{
	free(hr->hr_text);
	memset(hr, 0, sizeof(*hr));
}

static int
bothandle_id(json_t *obj, const char *key, json_int_t *id)
{
	json_t	*v = json_object_get(json_object_get(obj, key), "id");

	if (!json_is_integer(v))
		return (-1);
	*id = json_integer_value(v);
	return (0);
}

static int
bothandle_ping(const struct bothandle_ctx *ctx, struct bothandle_reply *hr)
{
	double	 ms;
	int	 n;

	if (ctx->bh_rtt == NULL || ctx->bh_rtt(ctx->bh_arg, &ms) == -1)
		n = asprintf(&hr->hr_text, "ping failed: getMe through "
		    "tgsidecar did not answer");
	else
		n = asprintf(&hr->hr_text, "pong: %.1f ms via tgsidecar", ms);
	return (n == -1 ? -1 : 0);
}

/*
 * "/cmd[@name] args": the command is the first word. A command addressed
 * to another bot (in a group) is not ours: NONE.
 */
static int
bothandle_command(const struct bothandle_ctx *ctx, const char *text,
    struct bothandle_reply *hr)
{
	char		 cmd[64], *at;
	size_t		 n;
	int		 rv;

	n = strcspn(text + 1, " \t\r\n");
	snprintf(cmd, sizeof(cmd), "%.*s", (int)(n > 63 ? 63 : n), text + 1);
	if ((at = strchr(cmd, '@')) != NULL) {
		*at++ = '\0';
		if (ctx->bh_username != NULL &&
		    strcasecmp(at, ctx->bh_username) != 0) {
			hr->hr_what = "command for another bot";
			return (0);
		}
	}
	hr->hr_action = BOTHANDLE_REPLY;
	if (strcmp(cmd, "start") == 0 || strcmp(cmd, "help") == 0) {
		hr->hr_what = strcmp(cmd, "start") == 0 ? "/start" : "/help";
		rv = (hr->hr_text = strdup(BOTHANDLE_HELP)) == NULL ? -1 : 0;
	} else if (strcmp(cmd, "ping") == 0) {
		hr->hr_what = "/ping";
		rv = bothandle_ping(ctx, hr);
	} else if (strcmp(cmd, "id") == 0) {
		hr->hr_what = "/id";
		if (hr->hr_chat == hr->hr_from)
			rv = asprintf(&hr->hr_text, "Your user id: %lld",
			    (long long)hr->hr_from);
		else
			rv = asprintf(&hr->hr_text, "Your user id: %lld\n"
			    "This chat's id: %lld", (long long)hr->hr_from,
			    (long long)hr->hr_chat);
	} else {
		hr->hr_what = "unknown command";
		rv = asprintf(&hr->hr_text, "Unknown command /%s. Try /help.",
		    cmd);
	}
	if (rv == -1) {
		hr->hr_text = NULL;
		return (-1);
	}
	return (0);
}

/*
 * Decide about one update. Returns -1 only if out of memory; otherwise
 * 0 with hr->hr_action saying what to do. hr must be cleared after.
 */
int
bothandle_update(const struct bothandle_ctx *ctx, json_t *update,
    struct bothandle_reply *hr)
{
	json_t		*msg, *text;

	memset(hr, 0, sizeof(*hr));
	hr->hr_action = BOTHANDLE_NONE;
	hr->hr_what = "not a message";
	if (!json_is_object(msg = json_object_get(update, "message")))
		return (0);
	hr->hr_what = "message without a sender";
	if (bothandle_id(msg, "from", &hr->hr_from) == -1 ||
	    bothandle_id(msg, "chat", &hr->hr_chat) == -1)
		return (0);
	if (!botcfg_allowed(ctx->bh_cfg, hr->hr_from)) {
		hr->hr_action = BOTHANDLE_DENIED;
		hr->hr_what = "user not allowed";
		return (0);
	}
	hr->hr_what = "message without text";
	if (!json_is_string(text = json_object_get(msg, "text")) ||
	    json_string_length(text) == 0)
		return (0);
	if (json_string_value(text)[0] == '/')
		return (bothandle_command(ctx, json_string_value(text), hr));
	hr->hr_action = BOTHANDLE_REPLY;
	hr->hr_what = "echo";
	if ((hr->hr_text = strdup(json_string_value(text))) == NULL)
		return (-1);
	return (0);
}
