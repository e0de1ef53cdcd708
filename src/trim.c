/* SPDX-License-Identifier: ISC */
/*
 * Thousands of connections opened at once leave the heap full of holes:
 * what their handshakes needed for a moment, and the TLS record buffers
 * an idle connection gave back.  glibc keeps those pages until asked, so
 * held long polls would be charged for them as long as they wait.  Ask
 * once the burst is over: TRIM_QUIET_MS after the last buffers were given
 * back, and at least every TRIM_MAX_WAIT_MS while they keep coming.  A
 * trim walks the whole heap (about 25 ms with 10,000 polls held), so it
 * does not run for every release; under steady traffic the holes are
 * reused anyway.
 */
#include "config.h"

#include <malloc.h>
#include <stddef.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "trim.h"
#include "util.h"

#define TRIM_QUIET_MS		500
#define TRIM_MAX_WAIT_MS	30000

static struct event	*trim_ev;
static struct timespec	 trim_first;	/* first release since the last trim */

static void
trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

/* Memory was given back: trim once things are quiet. */
void
trim_soon(struct event_base *base)
{
	struct timespec	 now;
	struct timeval	 tv;

	if (trim_ev == NULL &&
	    (trim_ev = evtimer_new(base, trim_cb, NULL)) == NULL) {
		log_warnx("%s: evtimer_new failed", __func__);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (evtimer_pending(trim_ev, NULL)) {
		if (util_ms_between(&trim_first, &now) >= TRIM_MAX_WAIT_MS)
			return;
	} else
		trim_first = now;
	util_ms_timeval(TRIM_QUIET_MS, &tv);
	evtimer_add(trim_ev, &tv);
}

void
trim_free(void)
{
	if (trim_ev != NULL)
		event_free(trim_ev);
	trim_ev = NULL;
}
