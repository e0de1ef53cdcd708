/* SPDX-License-Identifier: ISC */
/*
 * floodchat.c: the chat a Bot API call names (its chat_id), read from
 * the query, or from a JSON, urlencoded or multipart body, for the
 * flood guard (flood.c).  No I/O, no state: a body is looked at as it
 * has come so far.
 */
#ifndef FLOODCHAT_H
#define FLOODCHAT_H

#include <stddef.h>

#define FLOODCHAT_MAX	64	/* a chat key with its NUL: "@name", "-100..." */

enum floodchat_result {
	FLOODCHAT_FOUND,	/* chat_id read: the key is set */
	FLOODCHAT_NONE,		/* the call names no chat */
	FLOODCHAT_MORE,		/* not yet: more of the body is needed */
	FLOODCHAT_UNKNOWN	/* cannot tell (malformed, unknown type) */
};

int	 floodchat_query(const char *, size_t, char *, size_t);
int	 floodchat_body(const char *, const char *, size_t, int, char *,
	    size_t);
int	 floodchat_key(const char *, size_t, char *, size_t);

#endif /* FLOODCHAT_H */
