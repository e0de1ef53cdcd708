/* SPDX-License-Identifier: ISC */
/*
 * Environment and getopt helpers shared by tgsidecar and tgsidecar-bot.
 */
#ifndef TGS_ENVOPT_H
#define TGS_ENVOPT_H

#include <stddef.h>

const char	*envopt_get(char **, const char *);
void		 envopt_restart(void);
int		 envopt_operands(int, char *, size_t);

#endif
