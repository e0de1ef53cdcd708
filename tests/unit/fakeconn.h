/* SPDX-License-Identifier: ISC */
/*
 * fakeconn.c: conn.h's functions over a plain socket (one end of a
 * socketpair), for tests that drive the framer with no TLS and no
 * libcurl.  Link it before libtgsidecar.a, so conn.o is never pulled in.
 */
#ifndef FAKECONN_H
#define FAKECONN_H

#include <stddef.h>

struct conn;

/* fd: nonblocking, owned; rmax: most bytes a read returns, 0: any. */
struct conn	*fakeconn_new(int, size_t);

#endif /* FAKECONN_H */
