/* SPDX-License-Identifier: ISC */
/*
 * Environment and getopt helpers shared by tgsidecar and tgsidecar-bot,
 * which read an explicit envp so that tests can hand them one.
 */
#include "config.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "envopt.h"

/* Value of name in envp, or NULL; an empty value counts as unset. */
const char *
envopt_get(char **envp, const char *name)
{
	size_t	 n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return ((*envp)[n + 1] != '\0' ? *envp + n + 1 : NULL);
	return (NULL);
}

/* Make the next getopt_long() start over, so a parser can run again. */
void
envopt_restart(void)
{
	/* optind = 0 makes glibc reinitialise; elsewhere 1 is the start. */
#ifdef __GLIBC__
	optind = 0;
#else
	optind = 1;
#endif
	opterr = 0;
}

/*
 * After getopt_long(): a leftover operand is an error. It is named by
 * position only, since a misplaced password or token could be it.
 */
int
envopt_operands(int argc, char *err, size_t errlen)
{
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument #%d (see --help)",
		    optind);
		return (-1);
	}
	return (0);
}
