/* SPDX-License-Identifier: ISC */
/*
 * SIGINT and SIGTERM only set a counter and write a byte to a pipe.
 * Waits poll() that pipe, so a signal ends them at once with no race
 * between checking the flag and going to sleep; libcurl transfers check
 * the counter from their progress callback.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bot.h"

static volatile sig_atomic_t	 botsig_count;
static int			 botsig_pipe[2] = { -1, -1 };

static void
botsig_handler(int sig)
{
	int	 saved = errno;
	ssize_t	 n;

	(void)sig;
	if (botsig_count < 2)
		botsig_count++;
	n = write(botsig_pipe[1], "x", 1);	/* full pipe: already awake */
	(void)n;
	errno = saved;
}

int
botsig_init(void)
{
	struct sigaction	 sa;

	if (pipe2(botsig_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe2");
		return (-1);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = botsig_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocked poll() should see EINTR too. */
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1) {
		log_warn("sigaction");
		goto fail;
	}
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1) {
		log_warn("sigaction");
		goto fail;
	}
	return (0);
 fail:
	botsig_free();
	return (-1);
}

void
botsig_free(void)
{
	int	 i;

	for (i = 0; i < 2; i++) {
		if (botsig_pipe[i] != -1)
			close(botsig_pipe[i]);
		botsig_pipe[i] = -1;
	}
}

int
botsig_stopping(void)
{
	return (botsig_count > 0);
}

int
botsig_forced(void)
{
	return (botsig_count > 1);
}

static long
botsig_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Sleep ms milliseconds; -1 if a stop signal came first (or had come). */
int
botsig_sleep(long ms)
{
	struct pollfd	 pfd;
	long		 deadline, left;

	deadline = botsig_now_ms() + ms;
	pfd.fd = botsig_pipe[0];
	pfd.events = POLLIN;
	while (!botsig_stopping()) {
		if ((left = deadline - botsig_now_ms()) <= 0)
			return (0);
		if (poll(&pfd, 1, left > 60000 ? 60000 : (int)left) == -1 &&
		    errno != EINTR) {
			log_warn("poll");
			return (-1);
		}
	}
	return (-1);
}
