/* SPDX-License-Identifier: ISC */
/*
 * trustmark.c: what the trust store was read from (the CA directory, the
 * CA bundle named by SSL_CERT_FILE, ca_file), as stat(2) saw each file,
 * so a reload re-reads the store only when one of them changed.
 */
#ifndef TRUSTMARK_H
#define TRUSTMARK_H

#include <sys/types.h>

#include <limits.h>
#include <time.h>

struct config;

#define TRUSTMARK_FILES	3	/* CA directory, CA bundle, ca_file */

struct trustmark_file {
	char		 tf_path[PATH_MAX];	/* "" if none */
	int		 tf_errno;	/* stat's, 0 if it worked */
	dev_t		 tf_dev;
	ino_t		 tf_ino;
	off_t		 tf_size;
	struct timespec	 tf_mtime;
};

struct trustmark {
	int			 tm_valid;	/* taken, and the store read */
	struct trustmark_file	 tm_file[TRUSTMARK_FILES];
};

void	 trustmark_take(struct trustmark *, const struct config *);
int	 trustmark_same(const struct trustmark *, const struct trustmark *);

#endif /* TRUSTMARK_H */
