/* SPDX-License-Identifier: ISC */
/*
 * The connection functions the framer (upstream_h1.c) uses, over a plain
 * nonblocking socket: reads and writes as conn.c's TLS does them (-2 and
 * conn_wants() to wait), nothing queued unsent, nothing to release.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "fakeconn.h"

struct conn {
	int	 fc_fd;
	size_t	 fc_rmax;
	short	 fc_wants;
	char	 fc_err[128];
};

struct conn *
fakeconn_new(int fd, size_t rmax)
{
	struct conn	*cn;

	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return (NULL);
	cn->fc_fd = fd;
	cn->fc_rmax = rmax;
	return (cn);
}

int
conn_fd(const struct conn *cn)
{
	return (cn->fc_fd);
}

static ssize_t
fakeconn_fail(struct conn *cn, const char *what)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return (CONN_AGAIN);
	snprintf(cn->fc_err, sizeof(cn->fc_err), "%s: %s", what,
	    strerror(errno));
	return (-1);
}

ssize_t
conn_read(struct conn *cn, void *buf, size_t len)
{
	ssize_t	 n;

	if (cn->fc_rmax > 0 && len > cn->fc_rmax)
		len = cn->fc_rmax;
	cn->fc_wants = EV_READ;
	if ((n = recv(cn->fc_fd, buf, len, 0)) < 0)
		return (fakeconn_fail(cn, "recv"));
	return (n);
}

ssize_t
conn_write(struct conn *cn, const void *buf, size_t len)
{
	ssize_t	 n;

	cn->fc_wants = EV_WRITE;
	if ((n = send(cn->fc_fd, buf, len, MSG_NOSIGNAL)) < 0)
		return (fakeconn_fail(cn, "send"));
	return (n);
}

short
conn_wants(const struct conn *cn)
{
	return (cn->fc_wants);
}

int
conn_unsent(const struct conn *cn)
{
	(void)cn;
	return (0);
}

int
conn_release(struct conn *cn)
{
	(void)cn;
	return (0);
}

const char *
conn_error(const struct conn *cn)
{
	return (cn->fc_err[0] != '\0' ? cn->fc_err : "closed");
}

void
conn_close(struct conn *cn)
{
	if (cn == NULL)
		return;
	close(cn->fc_fd);
	free(cn);
}
