/* SPDX-License-Identifier: ISC */
/*
 * The flood guard's parts without I/O: the chat a call names (query,
 * JSON, urlencoded, multipart; absent, malformed, huge, cut short), the
 * Bot API 429 we make, and the table (per bot and chat, expiry, bound,
 * oldest evicted).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apierror.h"
#include "flood.h"
#include "floodchat.h"
#include "floodpace.h"
#include "tap.h"

#define F	FLOODCHAT_FOUND
#define N	FLOODCHAT_NONE
#define M	FLOODCHAT_MORE
#define U	FLOODCHAT_UNKNOWN

static const char *names[] = { "FOUND", "NONE", "MORE", "UNKNOWN" };

struct query_case {
	const char	*qc_target;
	int		 qc_want;
	const char	*qc_key;
};

static const struct query_case query_cases[] = {
	{ "/botT/sendMessage?chat_id=42&text=hi", F, "42" },
	{ "/botT/sendMessage?text=hi&chat_id=-1001234567890", F,
	    "-1001234567890" },
	{ "/botT/sendMessage?chat_id=%40MyChannel", F, "@mychannel" },
	{ "/botT/sendMessage?chat_id=@Chan#frag", F, "@chan" },
	{ "/botT/sendMessage?text=chat_id%3D5", N, NULL },
	{ "/botT/sendMessage?xchat_id=5", N, NULL },
	{ "/botT/sendMessage", N, NULL },
	{ "/botT/sendMessage?", N, NULL },
	{ "/botT/sendMessage?chat_id", U, NULL },
	{ "/botT/sendMessage?chat_id=", U, NULL },
	{ "/botT/sendMessage?chat_id=%zz", U, NULL },
	{ "/botT/sendMessage?chat_id=a%00b", U, NULL },
	{ "/botT/sendMessage?chat_id=" "0123456789012345678901234567890123456789"
	    "012345678901234567890123", U, NULL },
};

struct body_case {
	const char	*bc_name;
	const char	*bc_ctype;
	const char	*bc_body;
	int		 bc_complete;
	int		 bc_want;
	const char	*bc_key;
};

#define MP	"multipart/form-data; boundary=XyZ"
#define MPQ	"multipart/form-data; boundary=\"a b\""
#define PART(n, v) "--XyZ\r\nContent-Disposition: form-data; name=\"" n \
	"\"\r\n\r\n" v "\r\n"

static const struct body_case body_cases[] = {
	{ "json int", "application/json", "{\"chat_id\":42,\"text\":\"x\"}", 1,
	    F, "42" },
	{ "json negative, charset", "application/json; charset=utf-8",
	    "{\"text\":\"x\",\"chat_id\":-100777}", 1, F, "-100777" },
	{ "json string", "Application/JSON", "{\"chat_id\":\"@Foo\"}", 1, F,
	    "@foo" },
	{ "json nested only", "application/json",
	    "{\"reply_parameters\":{\"chat_id\":5},\"text\":\"x\"}", 1, N, NULL },
	{ "json absent", "application/json", "{\"text\":\"x\"}", 1, N, NULL },
	{ "json null body", "application/json", "null", 1, N, NULL },
	{ "json array", "application/json", "[1,2]", 1, U, NULL },
	{ "json bool chat", "application/json", "{\"chat_id\":true}", 1, U,
	    NULL },
	{ "json malformed", "application/json", "{\"chat_id\":4", 1, U, NULL },
	{ "json cut short", "application/json", "{\"chat_id\":42,\"te", 0, M,
	    NULL },
	{ "form", "application/x-www-form-urlencoded", "text=a+b&chat_id=7", 1,
	    F, "7" },
	{ "form early", "application/x-www-form-urlencoded",
	    "chat_id=%2D9&text=", 0, F, "-9" },
	{ "form value not ended", "application/x-www-form-urlencoded",
	    "text=x&chat_id=12", 0, M, NULL },
	{ "form absent", "application/x-www-form-urlencoded", "text=x", 1, N,
	    NULL },
	{ "form bad escape", "application/x-www-form-urlencoded",
	    "chat_id=%4", 1, U, NULL },
	{ "multipart", MP, PART("text", "hi") PART("chat_id", "314")
	    "--XyZ--\r\n", 1, F, "314" },
	{ "multipart, file still coming", MP, PART("chat_id", "@Big")
	    "--XyZ\r\nContent-Disposition: form-data; name=\"document\"; "
	    "filename=\"a.bin\"\r\n\r\n\x01\x02", 0, F, "@big" },
	{ "multipart filename=chat_id is not the field", MP,
	    "--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; "
	    "filename=\"chat_id\"\r\n\r\nzz\r\n--XyZ--\r\n", 1, N, NULL },
	{ "multipart unquoted, quoted boundary", MPQ,
	    "--a b\r\nContent-Disposition: form-data; name=chat_id\r\n\r\n5\r\n"
	    "--a b--", 1, F, "5" },
	{ "multipart absent", MP, PART("text", "hi") "--XyZ--\r\n", 1, N,
	    NULL },
	{ "multipart value cut", MP, "--XyZ\r\nContent-Disposition: "
	    "form-data; name=\"chat_id\"\r\n\r\n31", 0, M, NULL },
	{ "multipart head cut", MP, "--XyZ\r\nContent-Disp", 0, M, NULL },
	{ "multipart truncated", MP, "--XyZ\r\nContent-Disp", 1, U, NULL },
	{ "multipart no boundary", "multipart/form-data", PART("chat_id", "1"),
	    1, U, NULL },
	{ "multipart wrong boundary", MP, "--Other\r\n\r\n", 1, U, NULL },
	{ "no content type", NULL, "chat_id=1", 1, U, NULL },
	{ "other type", "text/plain", "chat_id=1", 1, U, NULL },
	{ "empty body", "application/json", "", 1, N, NULL },
};

static void
test_query(void)
{
	char	 key[FLOODCHAT_MAX];
	size_t	 i;
	int	 rv;

	for (i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]); i++) {
		const struct query_case	*qc = &query_cases[i];

		key[0] = '\0';
		rv = floodchat_query(qc->qc_target, strlen(qc->qc_target), key,
		    sizeof(key));
		ok(rv == qc->qc_want && (qc->qc_key == NULL ||
		    strcmp(key, qc->qc_key) == 0), "query %s: %s %s (got %s %s)",
		    qc->qc_target, names[qc->qc_want],
		    qc->qc_key ? qc->qc_key : "", names[rv], key);
	}
}

static void
test_body(void)
{
	char	 key[FLOODCHAT_MAX];
	size_t	 i;
	int	 rv;

	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		const struct body_case	*bc = &body_cases[i];

		key[0] = '\0';
		rv = floodchat_body(bc->bc_ctype, bc->bc_body,
		    strlen(bc->bc_body), bc->bc_complete, key, sizeof(key));
		ok(rv == bc->bc_want && (bc->bc_key == NULL ||
		    strcmp(key, bc->bc_key) == 0), "body %s: %s %s (got %s %s)",
		    bc->bc_name, names[bc->bc_want],
		    bc->bc_key ? bc->bc_key : "", names[rv], key);
	}
}

/* Huge bodies: the chat after 1 MiB of text is found, in time linear. */
static void
test_huge(void)
{
	size_t	 n = 1024 * 1024, len;
	char	*b = malloc(n + 256), key[FLOODCHAT_MAX];
	int	 rv;

	if (b == NULL)
		return;
	len = (size_t)snprintf(b, 32, "{\"text\":\"");
	memset(b + len, 'a', n);
	len += n;
	len += (size_t)snprintf(b + len, 64, "\",\"chat_id\":99}");
	rv = floodchat_body("application/json", b, len, 1, key, sizeof(key));
	ok(rv == F && strcmp(key, "99") == 0, "huge JSON: chat after 1 MiB");
	memset(b, 'a', n);
	memcpy(b, "text=", 5);
	rv = floodchat_body("application/x-www-form-urlencoded", b, n, 0, key,
	    sizeof(key));
	is_int(rv, M, "huge form value not ended: more needed");
	rv = floodchat_body(MP, b, n, 0, key, sizeof(key));
	is_int(rv, M, "1 MiB with no boundary yet: more needed");
	free(b);
}

static void
test_apierror(void)
{
	char	 buf[256];
	int	 len;

	len = apierror_429(buf, sizeof(buf), 7);
	is_str(buf, "{\"ok\":false,\"error_code\":429,\"description\":"
	    "\"Too Many Requests: retry after 7\",\"parameters\":"
	    "{\"retry_after\":7}}", "the local 429 is the Bot API's, word for word");
	is_int(len, (int)strlen(buf), "its length");
	is_int(apierror_429(buf, 20, 7), -1, "too small a buffer: -1");
	is_str(buf, "", "... and nothing half written");
}

static void
test_table(void)
{
	char		 chat[32];
	uint64_t	 t0 = 1000000;
	int		 i;

	flood_table_clear();
	is_int((int)flood_table_left(1, "5", t0), 0, "empty table: not held");
	flood_table_hold(1, "5", t0, t0 + 7000);
	is_int((int)flood_table_left(1, "5", t0 + 1), 6999,
	    "held: ms left");
	is_int((int)flood_table_left(2, "5", t0 + 1), 0,
	    "another bot, same chat: not held");
	is_int((int)flood_table_left(1, "6", t0 + 1), 0,
	    "same bot, another chat: not held");
	is_int((int)flood_table_left(1, "", t0 + 1), 0,
	    "same bot, calls with no chat: not held");
	is_int((int)flood_table_left(1, "5", t0 + 7000), 0,
	    "retry_after over: not held");
	flood_table_hold(1, "5", t0, t0 + 3000);
	is_int((int)flood_table_left(1, "5", t0), 7000,
	    "a shorter wait does not cut a longer one");
	flood_table_hold(1, "", t0, t0 + 2000);
	is_int((int)flood_table_left(1, "", t0), 2000,
	    "calls with no chat: their own entry");
	is_int(flood_table_count(t0), 2, "two entries");

	/* Full: the oldest made goes, never a newer one. */
	flood_table_clear();
	for (i = 0; i < FLOOD_TABLE_MAX; i++) {
		snprintf(chat, sizeof(chat), "%d", i);
		flood_table_hold(9, chat, t0 + (uint64_t)i, t0 + 100000);
	}
	is_int(flood_table_count(t0 + 5000), FLOOD_TABLE_MAX, "table full");
	flood_table_hold(9, "new", t0 + 5000, t0 + 100000);
	is_int(flood_table_count(t0 + 5000), FLOOD_TABLE_MAX,
	    "one more: still bounded");
	ok(flood_table_left(9, "0", t0 + 5000) == 0 &&
	    flood_table_left(9, "1", t0 + 5000) > 0 &&
	    flood_table_left(9, "new", t0 + 5000) > 0,
	    "the oldest entry was evicted, the newest kept");
	/* Expired slots are reused before anything live is evicted. */
	flood_table_hold(9, "short", t0 + 5000, t0 + 6000);
	flood_table_hold(9, "after", t0 + 7000, t0 + 100000);
	ok(flood_table_left(9, "2", t0 + 7000) > 0 &&
	    flood_table_left(9, "after", t0 + 7000) > 0,
	    "an expired entry's slot is taken first");
	flood_table_clear();
}

/* flood_pace's schedule: Telegram's figures, burst 3, at most 4 s. */
static void
test_pace(void)
{
	const struct floodpace_rates	 r = { 1000000, 3000000, 33334, 3 };
	const uint64_t			 t0 = 5000000, max = 4000000;
	uint64_t			 w, ws[8];
	char				 chat[16];
	int				 i, rv, ok_all;

	floodpace_clear();
	for (i = 0; i < 8; i++)
		rv = floodpace_reserve(&r, 1, "5", t0, max, &ws[i]);
	ok(ws[0] == 0 && ws[1] == 0 && ws[2] == 0,
	    "a chat: a burst of 3 goes at once");
	ok(ws[3] == 1000000 && ws[4] == 2000000 && ws[5] == 3000000,
	    "then 1 a second (%llu, %llu, %llu us)", (unsigned long long)ws[3],
	    (unsigned long long)ws[4], (unsigned long long)ws[5]);
	ok(rv == -1 && ws[7] > max, "a call that would wait over "
	    "flood_max_wait is refused (%llu us)", (unsigned long long)ws[7]);
	rv = floodpace_reserve(&r, 1, "5", t0, max, &w);
	ok(rv == -1 && w == ws[7], "... and books nothing: the next is told "
	    "the same wait");
	rv = floodpace_reserve(&r, 2, "5", t0, max, &w);
	ok(rv == 0 && w == 0, "another bot, same chat: its own schedule");

	floodpace_clear();
	for (i = 0; i < 5; i++)
		rv = floodpace_reserve(&r, 1, "-100123", t0, max, &ws[i]);
	ok(ws[2] == 0 && ws[3] == 3000000 && rv == -1,
	    "a group: 3 at once, then 20 a minute (%llu us), the next over "
	    "4 s refused", (unsigned long long)ws[3]);
	ok(floodpace_group("@chan") && floodpace_group("-1") &&
	    !floodpace_group("42"), "groups: negative ids and @usernames");

	floodpace_clear();
	for (i = 0, ok_all = 1; i < 40; i++) {
		snprintf(chat, sizeof(chat), "%d", 100 + i);
		if (floodpace_reserve(&r, 1, chat, t0, max, &w) == -1)
			ok_all = 0;
		if (i < 3 && w != 0)
			ok_all = 0;
		if (i >= 3 && (w < (uint64_t)(i - 2) * 33334 - 1 ||
		    w > (uint64_t)(i - 2) * 33334))
			ok_all = 0;
	}
	ok(ok_all, "a bot to 40 chats: 3 at once, then 30 a second (the last "
	    "waits %llu us)", (unsigned long long)w);
	/* Order per chat: the bot's rate delays a chat's first call; its
	 * second, which the chat's burst would let go, still comes after. */
	rv = floodpace_reserve(&r, 1, "777", t0, max, &ws[0]);
	rv |= floodpace_reserve(&r, 1, "777", t0, max, &ws[1]);
	ok(rv == 0 && ws[0] > 0 && ws[1] > ws[0],
	    "calls to one chat keep their order (%llu < %llu us)",
	    (unsigned long long)ws[0], (unsigned long long)ws[1]);
	floodpace_reserve(&r, 1, "42", t0 + 10000000, max, &w);
	ok(w == 0, "10 s later the bot is free again");
	floodpace_clear();
}

int
main(void)
{
	test_query();
	test_body();
	test_huge();
	test_apierror();
	test_table();
	test_pace();
	return (done_testing());
}
