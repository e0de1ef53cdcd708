/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for pollarg.c: a getUpdates timeout read as the Bot
 * API reads it.  The input is "Content-Type\nquery\nbody", each in a
 * buffer of its own length (no NUL), so an over-read is an ASan report.
 * A reading is within 0..POLLARG_MAX, and one read without doubt can be
 * rewritten where it was read, and reads back as the value written.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pollarg.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *
fz_copy(const uint8_t *p, size_t n)
{
	char	*s;

	if ((s = malloc(n ? n : 1)) != NULL)
		memcpy(s, p, n);
	return (s);
}

static void
fz_roundtrip(const struct pollarg *pa, const char *ct, const char *q,
    size_t qlen, const char *b, size_t blen)
{
	struct pollarg	 again;
	char		*out = NULL;
	size_t		 n;
	int		 inq = pa->pa_src == POLLARG_QUERY;

	if (pollarg_rewrite(pa->pa_src, ct, inq ? q : b, inq ? qlen : blen,
	    7, NULL, NULL) == -1 ||
	    pollarg_rewrite(pa->pa_src, ct, inq ? q : b, inq ? qlen : blen,
	    7, &out, &n) == -1)
		abort();
	if (inq)
		pollarg_read(&again, out, n, ct, b, blen);
	else
		pollarg_read(&again, q, qlen, ct, out, n);
	if (again.pa_state != POLLARG_SURE || again.pa_secs != 7 ||
	    again.pa_src != pa->pa_src)
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pollarg	 pa;
	const uint8_t	*nl1, *nl2;
	char		*ct = NULL, *q = NULL, *b = NULL;
	size_t		 clen, qlen, blen;

	if ((nl1 = memchr(data, '\n', size)) == NULL ||
	    (nl2 = memchr(nl1 + 1, '\n', size - (nl1 + 1 - data))) == NULL)
		return 0;
	clen = nl1 - data;
	qlen = nl2 - (nl1 + 1);
	blen = size - (nl2 + 1 - data);
	if (memchr(data, '\0', clen) != NULL || (ct = malloc(clen + 1)) == NULL)
		return 0;
	memcpy(ct, data, clen);
	ct[clen] = '\0';
	if ((q = fz_copy(nl1 + 1, qlen)) == NULL ||
	    (b = fz_copy(nl2 + 1, blen)) == NULL)
		goto out;
	pollarg_read(&pa, q, qlen, clen ? ct : NULL, b, (ssize_t)blen);
	if (pa.pa_secs < 0 || pa.pa_secs > POLLARG_MAX ||
	    (pa.pa_state == POLLARG_DOUBT && pa.pa_secs != POLLARG_MAX) ||
	    (pa.pa_state == POLLARG_ABSENT && pa.pa_src != POLLARG_NONE))
		abort();
	if (pa.pa_state == POLLARG_SURE)
		fz_roundtrip(&pa, clen ? ct : NULL, q, qlen, b, blen);
 out:
	free(ct);
	free(q);
	free(b);
	return 0;
}
