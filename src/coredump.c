/* SPDX-License-Identifier: ISC */
/*
 * Whether the process may leave a core file or be read by ptrace.  Its
 * memory holds bot tokens and proxy passwords, so by default it may not:
 * a non-dumpable process writes no core, cannot be attached to by another
 * process of the same user, and its /proc/<pid> files belong to root.
 */
#include "config.h"

#include <sys/prctl.h>

#include "coredump.h"
#include "log.h"

/*
 * Call it before any secret is read, and again after a change of uid:
 * setuid() resets the flag to the sysctl fs.suid_dumpable.
 */
int
coredump_set(int allow)
{
	if (prctl(PR_SET_DUMPABLE, allow ? 1 : 0, 0, 0, 0) == -1) {
		log_warn("prctl PR_SET_DUMPABLE %d", allow ? 1 : 0);
		return (-1);
	}
	return (0);
}
