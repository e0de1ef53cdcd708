/* SPDX-License-Identifier: ISC */
/*
 * procstat.c: the process's own memory, descriptors and CPU time, in the
 * standard process_* names of Prometheus, read at each scrape.
 */
#ifndef PROCSTAT_H
#define PROCSTAT_H

struct evbuffer;

void	 procstat_render(struct evbuffer *);

#endif /* PROCSTAT_H */
