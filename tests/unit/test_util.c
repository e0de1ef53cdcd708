/* SPDX-License-Identifier: ISC */
/*
 * util_ms_timeval(): a table of inputs and what they must become.
 */
#include <sys/time.h>

#include "tgsidecar.h"
#include "tap.h"

struct tv_case {
	long		 tc_ms;
	long		 tc_sec;
	long		 tc_usec;
};

static const struct tv_case tv_cases[] = {
	{ 0, 0, 0 },
	{ 1, 0, 1000 },
	{ 999, 0, 999000 },
	{ 1000, 1, 0 },
	{ 1500, 1, 500000 },
	{ 86400000, 86400, 0 },
};

int
main(void)
{
	struct timeval	 tv;
	size_t		 i;

	for (i = 0; i < sizeof(tv_cases) / sizeof(tv_cases[0]); i++) {
		util_ms_timeval(tv_cases[i].tc_ms, &tv);
		ok(tv.tv_sec == tv_cases[i].tc_sec &&
		    tv.tv_usec == tv_cases[i].tc_usec, "%ld ms is %ld s %ld us",
		    tv_cases[i].tc_ms, tv_cases[i].tc_sec,
		    tv_cases[i].tc_usec);
	}
	return (done_testing());
}
