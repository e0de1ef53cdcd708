/* SPDX-License-Identifier: ISC */
/*
 * trustmark.c: a reload reads the trust store again only when one of its
 * files changed.  Each change a deployment makes to ca_file is one.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "tap.h"
#include "trustmark.h"

static void
put(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) == EOF)
		abort();
}

int
main(void)
{
	struct config		 cfg;
	struct trustmark	 a, b;
	struct timespec		 ts[2];
	char			 dir[] = "/tmp/trustmarkXXXXXX", ca[256], ca2[256];
	char			 tmp[256];

	log_init(LOG_LEVEL_WARN);
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(ca2, sizeof(ca2), "%s/other.pem", dir);
	snprintf(tmp, sizeof(tmp), "%s/ca.pem.new", dir);
	put(ca, "one\n");
	put(ca2, "one\n");
	memset(&cfg, 0, sizeof(cfg));
	cfg.cfg_ca_file = ca;

	memset(&b, 0, sizeof(b));
	trustmark_take(&a, &cfg);
	ok(!trustmark_same(&a, &b), "never read: not the same");
	trustmark_take(&b, &cfg);
	ok(trustmark_same(&a, &b), "nothing changed: the same (no re-read)");

	put(ca, "two\n");
	trustmark_take(&b, &cfg);
	ok(!trustmark_same(&a, &b), "ca_file rewritten in place: changed");

	trustmark_take(&a, &cfg);
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = 1000000000;
	ts[1].tv_nsec = 0;
	if (utimensat(AT_FDCWD, ca, ts, 0) == -1)
		abort();
	trustmark_take(&b, &cfg);
	ok(!trustmark_same(&a, &b), "the same size, another mtime: changed");

	trustmark_take(&a, &cfg);
	put(tmp, "two\n");
	if (utimensat(AT_FDCWD, tmp, ts, 0) == -1 || rename(tmp, ca) == -1)
		abort();
	trustmark_take(&b, &cfg);
	ok(!trustmark_same(&a, &b),
	    "a new file renamed over it, same size and mtime: changed (inode)");

	trustmark_take(&a, &cfg);
	cfg.cfg_ca_file = ca2;
	trustmark_take(&b, &cfg);
	ok(!trustmark_same(&a, &b), "ca_file names another file: changed");

	trustmark_take(&a, &cfg);
	unlink(ca2);
	trustmark_take(&b, &cfg);
	ok(!trustmark_same(&a, &b), "ca_file gone: changed");
	trustmark_take(&a, &cfg);
	ok(trustmark_same(&a, &b), "still gone: the same");

	cfg.cfg_ca_file = NULL;
	trustmark_take(&a, &cfg);
	trustmark_take(&b, &cfg);
	ok(trustmark_same(&a, &b), "no ca_file: the system store's files");

	unlink(ca);
	rmdir(dir);
	return (done_testing());
}
