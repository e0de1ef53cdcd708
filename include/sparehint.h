/* SPDX-License-Identifier: ISC */
/*
 * sparehint.c: how much a getUpdates answer's "n updates, so n calls
 * follow" is worth, learned per bot from what followed its last one.
 */
#ifndef SPAREHINT_H
#define SPAREHINT_H

#define SPAREHINT_FULL		8	/* trust: a hint counts whole */
#define SPAREHINT_SOURCES	8	/* bots remembered, least recent out */

int	 sparehint_note(const char *, int);
void	 sparehint_call(const char *);
int	 sparehint_trust(int, int, int);
int	 sparehint_scale(int, int);

#endif /* SPAREHINT_H */
