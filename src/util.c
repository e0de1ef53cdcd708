/* SPDX-License-Identifier: ISC */
/*
 * Small pure helpers more than one file needs.
 */
#include "config.h"

#include <sys/time.h>

#include "tgsidecar.h"

void
util_ms_timeval(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}
