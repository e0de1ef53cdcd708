/* SPDX-License-Identifier: ISC */
/*
 * replyrun.c: one request through the framer (upstream_h1.c) on a fake
 * connection (fakeconn.c), the reply written by a scripted far side on a
 * socketpair; what the framer decided and what the bot was handed.  For
 * the unit table and the reply fuzzer.
 */
#ifndef REPLYRUN_H
#define REPLYRUN_H

#include <stddef.h>

struct config;
struct event_base;

#define REPLYRUN_PIECES	8

struct replyrun {
	/* What the far side does, once the request is in. */
	const char	*rr_piece[REPLYRUN_PIECES];	/* written in turn */
	size_t		 rr_len[REPLYRUN_PIECES];
	int		 rr_npieces;
	long		 rr_gap_ms;	/* between pieces, each read first */
	int		 rr_close;	/* then shut its side */
	size_t		 rr_rmax;	/* bytes per conn_read, 0: any */
	int		 rr_method;	/* enum http_method */
	long		 rr_wait_ms;	/* for the answer to begin */
	/* The outcome. */
	int		 rr_ends;	/* times the done hook ran: 1 */
	int		 rr_stage;	/* enum upstream_stage, 0: answered */
	char		 rr_why[256];
	int		 rr_head_sent;	/* a head went to the bot */
	char		*rr_out;	/* what the bot was handed */
	size_t		 rr_outlen;
	char		 rr_request[2048];	/* what the framer wrote */
};

/* What the bot was handed, read back as a bot reads it. */
struct replyrun_bot {
	int		 rb_parsed;	/* 1: one whole message, nothing after */
					/* 0: cut short; -1: not HTTP/1.1 */
	int		 rb_status;
	char		*rb_text;	/* "Name: value\n" each, "\n", body */
	size_t		 rb_len;
};

/* Run it (stall_timeout from cfg): 0, or -1 if it never ended. */
int	 replyrun(struct event_base *, struct config *, struct replyrun *);
void	 replyrun_clear(struct replyrun *);
int	 replyrun_bot(const struct replyrun *, struct replyrun_bot *);
void	 replyrun_bot_clear(struct replyrun_bot *);

#endif /* REPLYRUN_H */
