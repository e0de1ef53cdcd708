/* SPDX-License-Identifier: ISC */
/*
 * coredump.c: whether the process may leave a core (secrets live in it).
 */
#ifndef COREDUMP_H
#define COREDUMP_H

int	 coredump_set(int);

#endif /* COREDUMP_H */
