/* SPDX-License-Identifier: ISC */
/*
 * headsize.c: max_header_size, for the head a bot connection sends.
 */
#ifndef HEADSIZE_H
#define HEADSIZE_H

#include <stddef.h>

struct client;

size_t	 headsize_max(const struct client *);
size_t	 headsize_room(const struct client *, size_t);
void	 headsize_count(struct client *, int, int, size_t);
int	 headsize_field(struct client *, size_t, int);
int	 headsize_over(const struct client *, char *, size_t);

#endif /* HEADSIZE_H */
