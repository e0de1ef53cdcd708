/* SPDX-License-Identifier: ISC */
/*
 * The process_* families every Prometheus client library exports, so a
 * dashboard's memory panel works as it does for any other service.  Read
 * from /proc at each scrape; a figure that cannot be read is left out
 * rather than shown as 0.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/time.h>

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "procstat.h"

/* Pages of address space and resident, from /proc/self/statm. */
static int
procstat_statm(unsigned long *vsize, unsigned long *rss)
{
	FILE	*f;
	int	 n;

	if ((f = fopen("/proc/self/statm", "r")) == NULL)
		return (-1);
	n = fscanf(f, "%lu %lu", vsize, rss);
	fclose(f);
	return (n == 2 ? 0 : -1);
}

/* Open descriptors: the entries of /proc/self/fd, less the one reading. */
static long
procstat_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	long		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return (n - 1);
}

void
procstat_render(struct evbuffer *out)
{
	unsigned long	 vsize, rss;
	long		 page = sysconf(_SC_PAGESIZE), fds;
	struct rusage	 ru;
	struct rlimit	 rl;

	if (page > 0 && procstat_statm(&vsize, &rss) == 0)
		evbuffer_add_printf(out, "# HELP process_resident_memory_bytes "
		    "Resident memory size in bytes.\n"
		    "# TYPE process_resident_memory_bytes gauge\n"
		    "process_resident_memory_bytes %llu\n"
		    "# HELP process_virtual_memory_bytes Virtual memory size "
		    "in bytes.\n# TYPE process_virtual_memory_bytes gauge\n"
		    "process_virtual_memory_bytes %llu\n",
		    (unsigned long long)rss * page,
		    (unsigned long long)vsize * page);
	if ((fds = procstat_fds()) >= 0)
		evbuffer_add_printf(out, "# HELP process_open_fds Open file "
		    "descriptors.\n# TYPE process_open_fds gauge\n"
		    "process_open_fds %ld\n", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		evbuffer_add_printf(out, "# HELP process_max_fds Maximum number "
		    "of open file descriptors.\n# TYPE process_max_fds gauge\n"
		    "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		evbuffer_add_printf(out, "# HELP process_cpu_seconds_total Total "
		    "user and system CPU time spent in seconds.\n"
		    "# TYPE process_cpu_seconds_total counter\n"
		    "process_cpu_seconds_total %.6f\n",
		    ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
		    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}
