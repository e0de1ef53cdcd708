/* SPDX-License-Identifier: ISC */
/*
 * A tiny header-only TAP producer for the unit tests:
 *
 *	plan(3);			or nothing, then done_testing()
 *	ok(x == 1, "x is %d", 1);
 *	is_int(got, 42, "answer");
 *	is_str(got, "abc", "name");	NULL-safe
 *	like(err, "unknown key", "error names the problem");
 *	unlike(err, "s3cret", "error hides the password");
 *	return done_testing();		exit status: 0 only if all passed
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TAP_UNUSED	__attribute__((unused))
#define TAP_FMT(a, b)	__attribute__((format(printf, a, b)))

static int	tap_planned;
static int	tap_run;
static int	tap_failed;

static TAP_UNUSED void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

static TAP_UNUSED TAP_FMT(1, 2) void
diag(const char *fmt, ...)
{
	va_list	 ap;

	fflush(stdout);
	fputs("# ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
tap_vok(int cond, const char *fmt, va_list ap)
{
	tap_run++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	vprintf(fmt, ap);
	putchar('\n');
	if (!cond)
		tap_failed++;
	return (cond);
}

static TAP_UNUSED TAP_FMT(2, 3) int
ok(int cond, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	tap_vok(cond, fmt, ap);
	va_end(ap);
	return (cond);
}

static TAP_UNUSED TAP_FMT(3, 4) int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list	 ap;
	int	 cond = got == want;

	va_start(ap, fmt);
	tap_vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("  got: %lld\n#   expected: %lld", got, want);
	return (cond);
}

static TAP_UNUSED TAP_FMT(3, 4) int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list	 ap;
	int	 cond;

	cond = (got == NULL || want == NULL) ? got == want :
	    strcmp(got, want) == 0;
	va_start(ap, fmt);
	tap_vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("  got: %s%s%s\n#   expected: %s%s%s",
		    got ? "\"" : "", got ? got : "NULL", got ? "\"" : "",
		    want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
	return (cond);
}

static TAP_UNUSED TAP_FMT(3, 4) int
like(const char *got, const char *sub, const char *fmt, ...)
{
	va_list	 ap;
	int	 cond = got != NULL && strstr(got, sub) != NULL;

	va_start(ap, fmt);
	tap_vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("  \"%s\"\n#   does not contain \"%s\"",
		    got ? got : "NULL", sub);
	return (cond);
}

static TAP_UNUSED TAP_FMT(3, 4) int
unlike(const char *got, const char *sub, const char *fmt, ...)
{
	va_list	 ap;
	int	 cond = got == NULL || strstr(got, sub) == NULL;

	va_start(ap, fmt);
	tap_vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("  \"%s\"\n#   contains \"%s\"", got, sub);
	return (cond);
}

/* Print the plan if there was none; return the exit status. */
static TAP_UNUSED int
done_testing(void)
{
	if (tap_planned == 0)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run)
		diag("planned %d tests but ran %d", tap_planned, tap_run);
	if (tap_failed > 0)
		diag("failed %d of %d tests", tap_failed, tap_run);
	fflush(stdout);
	return (tap_failed > 0 ||
	    (tap_planned != 0 && tap_planned != tap_run));
}

#endif /* TAP_H */
