/* SPDX-License-Identifier: ISC */
/*
 * log.c: OpenBSD-style logging with secrets redacted, for the daemon and
 * the bot alike.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };
void	 log_init(int level);
int	 log_getlevel(void);
void	 log_secret(const char *secret);
void	 log_secrets_clear(void);
size_t	 log_redact(char *buf, size_t len);
int	 log_wants(int);
int	 log_is_json(void);
void	 log_access(int, const char *);
void	 log_format(int, int);
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* LOG_H */
