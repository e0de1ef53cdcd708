/* SPDX-License-Identifier: ISC */
/*
 * header.c: header names are checked as tokens before they mean anything;
 * framing and hop-by-hop headers are the sidecar's own to write.
 */
#ifndef HEADER_H
#define HEADER_H

#include <stddef.h>
#include <stdint.h>

struct curl_slist;
struct evbuffer;
struct req;

enum header_kind {
	HEADER_OTHER,		/* end-to-end: forwarded */
	HEADER_HOST,
	HEADER_CONTENT_LENGTH,
	HEADER_CONTENT_TYPE,
	HEADER_EXPECT,
	HEADER_CONNECTION,
	HEADER_TRANSFER_ENCODING,
	HEADER_HOP		/* any other hop-by-hop header */
};

int	 header_token(const char *, size_t);
int	 header_value_ok(const char *, size_t);
int	 header_is(const char *, size_t, const char *);
int	 header_kind(const char *, size_t);
int	 header_hop(const char *, size_t);
int	 header_listed(const char *, const char *, size_t);
int	 header_upgrade_h2c(const struct curl_slist *);
void	 header_trim(const char **, size_t *);
int64_t	 header_clen(const char *, size_t);
int	 header_list_add(char **, const char *, size_t);
int	 header_split(const char *, size_t, size_t *, const char **,
	    size_t *);
int	 header_upstream(struct req *);
int	 header_commit(struct req *, const char **);
size_t	 header_piece(struct evbuffer *, const char *, size_t, size_t, int *);

#endif /* HEADER_H */
