/* SPDX-License-Identifier: ISC */
/*
 * bothandle_update(): a table of updates (as JSON) and what the bot must
 * do about each. Users 42 and 43 are allowed; /ping gets an injected rtt.
 */
#include <stdlib.h>
#include <string.h>

#include "bot/bot.h"
#include "tap.h"

#define MSG(from, chat, text) \
	"{\"update_id\": 7, \"message\": {\"message_id\": 1, " \
	"\"from\": {\"id\": " #from ", \"is_bot\": false, " \
	"\"first_name\": \"T\"}, \"chat\": {\"id\": " #chat ", " \
	"\"type\": \"private\"}, \"date\": 1, \"text\": \"" text "\"}}"

#define RTT_OK		1
#define RTT_FAIL	2

struct hcase {
	const char	*hc_name;
	const char	*hc_update;
	int		 hc_rtt;	/* RTT_*, or 0: must not be called */
	int		 hc_action;
	long long	 hc_chat;
	long long	 hc_from;
	const char	*hc_text;	/* exact; "~x": contains x; or NULL */
};

static const struct hcase cases[] = {
	{ "echo", MSG(42, 42, "hello"), 0, BOTHANDLE_REPLY, 42, 42, "hello" },
	{ "echo non-ASCII", MSG(42, 42, "Привет, мир ✓ 🎄"), 0,
	    BOTHANDLE_REPLY, 42, 42, "Привет, мир ✓ 🎄" },
	{ "echo escaped JSON", MSG(42, 42, "a\\\"b\\\\c\\n\\u00e9"), 0,
	    BOTHANDLE_REPLY, 42, 42, "a\"b\\c\n\xc3\xa9" },
	{ "echo in a group goes to the group", MSG(43, -1001234567890, "hi"),
	    0, BOTHANDLE_REPLY, -1001234567890LL, 43, "hi" },
	{ "/start", MSG(42, 42, "/start"), 0, BOTHANDLE_REPLY, 42, 42, "~/ping" },
	{ "/start with a payload", MSG(42, 42, "/start abc"), 0,
	    BOTHANDLE_REPLY, 42, 42, "~/help" },
	{ "/help", MSG(42, 42, "/help"), 0, BOTHANDLE_REPLY, 42, 42, "~echoed" },
	{ "/id", MSG(42, 42, "/id"), 0, BOTHANDLE_REPLY, 42, 42,
	    "Your user id: 42" },
	{ "/id in a group", MSG(43, -100777, "/id"), 0, BOTHANDLE_REPLY,
	    -100777, 43, "Your user id: 43\nThis chat's id: -100777" },
	{ "/id@standin_bot", MSG(42, 42, "/id@standin_bot"), 0,
	    BOTHANDLE_REPLY, 42, 42, "Your user id: 42" },
	{ "/id@Standin_Bot (case)", MSG(42, 42, "/id@Standin_Bot"), 0,
	    BOTHANDLE_REPLY, 42, 42, "Your user id: 42" },
	{ "/id@other_bot is not ours", MSG(42, 42, "/id@other_bot"), 0,
	    BOTHANDLE_NONE, 42, 42, NULL },
	{ "/ping", MSG(42, 42, "/ping"), RTT_OK, BOTHANDLE_REPLY, 42, 42,
	    "pong: 12.3 ms via tgsidecar" },
	{ "/ping@standin_bot", MSG(42, 42, "/ping@standin_bot now"), RTT_OK,
	    BOTHANDLE_REPLY, 42, 42, "pong: 12.3 ms via tgsidecar" },
	{ "/ping without an answer", MSG(42, 42, "/ping"), RTT_FAIL,
	    BOTHANDLE_REPLY, 42, 42, "~ping failed" },
	{ "unknown command", MSG(42, 42, "/frobnicate x"), 0,
	    BOTHANDLE_REPLY, 42, 42, "Unknown command /frobnicate. Try /help." },
	{ "unauthorized user", MSG(666, 666, "hello"), 0, BOTHANDLE_DENIED,
	    666, 666, NULL },
	{ "unauthorized /id", MSG(666, 42, "/id"), 0, BOTHANDLE_DENIED,
	    42, 666, NULL },
	{ "unauthorized /ping: no getMe", MSG(666, 666, "/ping"), 0,
	    BOTHANDLE_DENIED, 666, 666, NULL },
	{ "edited message", "{\"update_id\": 8, \"edited_message\": "
	    "{\"message_id\": 1, \"from\": {\"id\": 42}, \"chat\": "
	    "{\"id\": 42}, \"text\": \"x\"}}", 0, BOTHANDLE_NONE, 0, 0, NULL },
	{ "callback query", "{\"update_id\": 9, \"callback_query\": "
	    "{\"id\": \"1\", \"from\": {\"id\": 42}}}", 0, BOTHANDLE_NONE,
	    0, 0, NULL },
	{ "message without text", "{\"update_id\": 10, \"message\": "
	    "{\"message_id\": 1, \"from\": {\"id\": 42}, \"chat\": "
	    "{\"id\": 42}, \"sticker\": {}}}", 0, BOTHANDLE_NONE, 42, 42,
	    NULL },
	{ "empty text", MSG(42, 42, ""), 0, BOTHANDLE_NONE, 42, 42, NULL },
	{ "message without from", "{\"update_id\": 11, \"message\": "
	    "{\"message_id\": 1, \"chat\": {\"id\": 42}, \"text\": \"x\"}}",
	    0, BOTHANDLE_NONE, 0, 0, NULL },
	{ "string ids", "{\"update_id\": 12, \"message\": {\"from\": "
	    "{\"id\": \"42\"}, \"chat\": {\"id\": 42}, \"text\": \"x\"}}",
	    0, BOTHANDLE_NONE, 0, 0, NULL },
	{ "not an object", "[1, 2]", 0, BOTHANDLE_NONE, 0, 0, NULL },
};

static int	rtt_mode;
static int	rtt_calls;

static int
fake_rtt(void *arg, double *ms)
{
	(void)arg;
	rtt_calls++;
	*ms = 12.3;
	return (rtt_mode == RTT_OK ? 0 : -1);
}

int
main(void)
{
	struct botcfg		 cfg;
	struct bothandle_ctx	 ctx;
	struct bothandle_reply	 hr;
	json_error_t		 jerr;
	json_t			*u;
	char			 err[BOT_ERRLEN];
	const struct hcase	*c;
	size_t			 i;

	botcfg_init(&cfg);
	if (botcfg_parse_allowed(&cfg, "42,43", err, sizeof(err)) == -1) {
		diag("%s", err);
		return (1);
	}
	ctx.bh_cfg = &cfg;
	ctx.bh_username = "standin_bot";
	ctx.bh_rtt = fake_rtt;
	ctx.bh_arg = NULL;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = &cases[i];
		if ((u = json_loads(c->hc_update, 0, &jerr)) == NULL) {
			ok(0, "%s: test JSON parses: %s", c->hc_name, jerr.text);
			continue;
		}
		rtt_mode = c->hc_rtt;
		rtt_calls = 0;
		ok(bothandle_update(&ctx, u, &hr) == 0, "%s: handled",
		    c->hc_name);
		is_int(hr.hr_action, c->hc_action, "%s: action", c->hc_name);
		if (c->hc_action != BOTHANDLE_NONE) {
			is_int(hr.hr_chat, c->hc_chat, "%s: chat", c->hc_name);
			is_int(hr.hr_from, c->hc_from, "%s: from", c->hc_name);
		}
		if (c->hc_text != NULL && c->hc_text[0] == '~')
			like(hr.hr_text, c->hc_text + 1, "%s: text",
			    c->hc_name);
		else
			is_str(hr.hr_text, c->hc_text, "%s: text", c->hc_name);
		ok(hr.hr_what != NULL, "%s: says what for the log",
		    c->hc_name);
		is_int(rtt_calls, c->hc_rtt != 0, "%s: getMe %s", c->hc_name,
		    c->hc_rtt != 0 ? "timed once" : "not called");
		bothandle_reply_clear(&hr);
		json_decref(u);
	}

	/* Without our username (getMe failed), /cmd@anything is taken. */
	ctx.bh_username = NULL;
	u = json_loads(MSG(42, 42, "/id@other_bot"), 0, &jerr);
	bothandle_update(&ctx, u, &hr);
	is_str(hr.hr_text, "Your user id: 42",
	    "no username known: /id@other_bot answered");
	bothandle_reply_clear(&hr);
	json_decref(u);

	/* Nobody allowed: everyone is denied. */
	botcfg_parse_allowed(&cfg, "", err, sizeof(err));
	u = json_loads(MSG(42, 42, "hello"), 0, &jerr);
	bothandle_update(&ctx, u, &hr);
	is_int(hr.hr_action, BOTHANDLE_DENIED, "empty list: 42 is denied");
	bothandle_reply_clear(&hr);
	json_decref(u);

	botcfg_free(&cfg);
	return (done_testing());
}
