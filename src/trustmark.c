/* SPDX-License-Identifier: ISC */
/*
 * Whether the trust store's files changed since it was read.  Parsing a
 * CA bundle costs about 25 ms of the loop; a burst of SIGHUPs must not
 * pay it for files that stayed the same.  A file is the same when its
 * device, inode, size and mtime (ns) are: an edit in place, a new file
 * renamed over it (update-ca-certificates, a config manager), one that
 * appeared or went all differ.  The paths are those tls_init() reads.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "conf.h"
#include "trustmark.h"

static void
trustmark_file(struct trustmark_file *tf, const char *path)
{
	struct stat	 st;

	memset(tf, 0, sizeof(*tf));
	if (path == NULL)
		return;
	snprintf(tf->tf_path, sizeof(tf->tf_path), "%s", path);
	if (stat(path, &st) == -1) {
		tf->tf_errno = errno != 0 ? errno : EIO;
		return;
	}
	tf->tf_dev = st.st_dev;
	tf->tf_ino = st.st_ino;
	tf->tf_size = st.st_size;
	tf->tf_mtime = st.st_mtim;
}

/* Take it before the store is read: a change while it is read shows next time. */
void
trustmark_take(struct trustmark *tm, const struct config *cfg)
{
	const char	*dir;

	if ((dir = getenv(X509_get_default_cert_dir_env())) == NULL)
		dir = X509_get_default_cert_dir();
	trustmark_file(&tm->tm_file[0], dir);
	trustmark_file(&tm->tm_file[1],
	    getenv(X509_get_default_cert_file_env()));
	trustmark_file(&tm->tm_file[2], cfg->cfg_ca_file);
	tm->tm_valid = 1;
}

int
trustmark_same(const struct trustmark *a, const struct trustmark *b)
{
	const struct trustmark_file	*x, *y;
	int				 i;

	if (!a->tm_valid || !b->tm_valid)
		return (0);
	for (i = 0; i < TRUSTMARK_FILES; i++) {
		x = &a->tm_file[i];
		y = &b->tm_file[i];
		if (strcmp(x->tf_path, y->tf_path) != 0 ||
		    x->tf_errno != y->tf_errno || x->tf_dev != y->tf_dev ||
		    x->tf_ino != y->tf_ino || x->tf_size != y->tf_size ||
		    x->tf_mtime.tv_sec != y->tf_mtime.tv_sec ||
		    x->tf_mtime.tv_nsec != y->tf_mtime.tv_nsec)
			return (0);
	}
	return (1);
}
