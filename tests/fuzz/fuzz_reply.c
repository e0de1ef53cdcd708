/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the reply side of the framer (upstream_h1.c and
 * upstream_head.c): the input is what the upstream answers a GET (or a
 * HEAD), then it closes, on the fake connection of tests/unit/fakeconn.c
 * read a few bytes at a time or all at once.  Besides the sanitizers, it
 * checks what a bot may rely on:
 *
 *   - the attempt ends exactly once, as answered, refused (with words)
 *     or broken: never a timeout, since the far side closes;
 *   - answered: the bot is handed exactly one whole, well-formed HTTP/1.1
 *     reply with a final status (200 to 599), nothing after it;
 *   - failed before the head went out: nothing was handed to the bot
 *     (its error is the owner's to write); after: what it has is a cut
 *     but well-formed start of one reply, never a second message.
 *
 * Input: byte 0 picks the read size (its low 3 bits: 0 any, else 1 to
 * 7 bytes a read) and HEAD (bit 3); the rest is the reply.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <http_parser.h>

#include "conf.h"
#include "log.h"
#include "replyrun.h"
#include "upstream_fail.h"

#define FUZZ_REPLY_MAX	(128 * 1024)	/* below the bot-side pause */

static struct event_base	*fz_base;
static struct config		 fz_cfg;

static void
fuzz_reply_fail(const char *what, const struct replyrun *rr)
{
	fprintf(stderr, "fuzz_reply: %s (stage %d, why \"%s\", %zu bytes "
	    "out, head sent %d)\n", what, rr->rr_stage, rr->rr_why,
	    rr->rr_outlen, rr->rr_head_sent);
	if (rr->rr_out != NULL)
		fprintf(stderr, "out: %.*s\n", (int)(rr->rr_outlen > 2000 ?
		    2000 : rr->rr_outlen), rr->rr_out);
	abort();
}

static void
fuzz_reply_check(const struct replyrun *rr)
{
	struct replyrun_bot	 rb;

	if (rr->rr_ends != 1)
		fuzz_reply_fail("the attempt did not end exactly once", rr);
	if (rr->rr_stage != UST_NONE && rr->rr_stage != UST_REPLY &&
	    rr->rr_stage != UST_BROKEN)
		fuzz_reply_fail("an unexpected stage", rr);
	if (rr->rr_stage != UST_NONE && rr->rr_why[0] == '\0')
		fuzz_reply_fail("a failure without words", rr);
	if (replyrun_bot(rr, &rb) == -1)
		abort();
	if (rr->rr_stage == UST_NONE) {
		if (rb.rb_parsed != 1)
			fuzz_reply_fail("answered, but not one whole reply", rr);
		if (rb.rb_status < 200 || rb.rb_status > 599)
			fuzz_reply_fail("answered with a status that is not "
			    "final", rr);
	} else if (!rr->rr_head_sent) {
		if (rr->rr_outlen != 0)
			fuzz_reply_fail("failed before the head, but bytes went "
			    "to the bot", rr);
	} else if (rb.rb_parsed == -1)
		fuzz_reply_fail("failed after the head, and the bot's bytes "
		    "are not one reply's start", rr);
	replyrun_bot_clear(&rb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replyrun	 rr;

	if (size < 1 || size > FUZZ_REPLY_MAX)
		return (0);
	if (fz_base == NULL) {
		log_init(LOG_LEVEL_WARN);
		config_init(&fz_cfg);
		fz_cfg.cfg_stall_timeout_ms = 5000;
		if ((fz_base = event_base_new()) == NULL)
			abort();
	}
	memset(&rr, 0, sizeof(rr));
	rr.rr_rmax = data[0] & 7;
	rr.rr_method = data[0] & 8 ? HTTP_HEAD : HTTP_GET;
	rr.rr_piece[0] = (const char *)data + 1;
	rr.rr_len[0] = size - 1;
	rr.rr_npieces = size > 1;
	rr.rr_close = 1;
	rr.rr_wait_ms = 5000;
	if (replyrun(fz_base, &fz_cfg, &rr) == -1)
		fuzz_reply_fail("the run did not end", &rr);
	fuzz_reply_check(&rr);
	replyrun_clear(&rr);
	return (0);
}
