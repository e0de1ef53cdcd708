/* SPDX-License-Identifier: ISC */
/*
 * apierror.c: the Bot API's JSON error shape, {"ok":false,...}.
 */
#ifndef APIERROR_H
#define APIERROR_H

#include <stddef.h>

int	 apierror_body(char *, size_t, int, const char *);
int	 apierror_retry(char *, size_t, int, const char *, int);
const char *apierror_reason(int);
int	 apierror_string(char *, size_t, const char *);
int	 apierror_429(char *, size_t, long);

#endif /* APIERROR_H */
