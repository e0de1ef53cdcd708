/* SPDX-License-Identifier: ISC */
/*
 * Thousands of connections opened at once leave the heap full of holes:
 * what their handshakes needed for a moment, and the TLS record buffers
 * an idle connection gave back.  glibc keeps those pages until asked, so
 * held long polls would be charged for them as long as they wait.  Ask
 * once, a little after the burst: at most once per TRIM_DELAY_MS, and
 * only when something was given back.
 */
#include "config.h"

#include <malloc.h>
#include <stddef.h>

#include <event2/event.h>

#include "log.h"
#include "trim.h"
#include "util.h"

#define TRIM_DELAY_MS	1000

static struct event	*trim_ev;

static void
trim_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

/* Memory was freed: trim a while later, unless a trim is already due. */
void
trim_soon(struct event_base *base)
{
	struct timeval	 tv;

	if (trim_ev == NULL &&
	    (trim_ev = evtimer_new(base, trim_cb, NULL)) == NULL) {
		log_warnx("%s: evtimer_new failed", __func__);
		return;
	}
	if (evtimer_pending(trim_ev, NULL))
		return;
	util_ms_timeval(TRIM_DELAY_MS, &tv);
	evtimer_add(trim_ev, &tv);
}

void
trim_free(void)
{
	if (trim_ev != NULL)
		event_free(trim_ev);
	trim_ev = NULL;
}
