/* SPDX-License-Identifier: ISC */
/*
 * Environment and getopt helpers shared by tgsidecar and tgsidecar-bot.
 */
#ifndef TGS_ENVOPT_H
#define TGS_ENVOPT_H

const char	*envopt_get(char **, const char *);
void		 envopt_restart(void);

#endif
