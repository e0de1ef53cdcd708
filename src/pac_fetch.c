/* SPDX-License-Identifier: ISC */
/*
 * A PAC script's text, from a file:// or http(s):// URL, at most
 * PAC_SCRIPT_MAX bytes.  Runs in pac_run.c's child, off the event loop:
 * a plain blocking read or libcurl easy transfer, bounded in time.  A PAC
 * server is reached directly (no proxy), as browsers do.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <curl/curl.h>

#include "pac.h"

struct pac_buf {
	char	*pb_data;
	size_t	 pb_len;
	int	 pb_toobig;
};

static int
pac_fetch_file(const char *path, struct pac_buf *pb, char *err, size_t errlen)
{
	struct stat	 st;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot read %.200s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > PAC_SCRIPT_MAX) {
		snprintf(err, errlen, "cannot read %.200s: %s", path,
		    S_ISREG(st.st_mode) ? "larger than 1 MiB" :
		    "not a regular file");
		close(fd);
		return (-1);
	}
	if ((pb->pb_data = malloc(st.st_size + 1)) == NULL) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	while (pb->pb_len < (size_t)st.st_size) {
		n = read(fd, pb->pb_data + pb->pb_len, st.st_size - pb->pb_len);
		if (n <= 0)
			break;
		pb->pb_len += n;
	}
	close(fd);
	pb->pb_data[pb->pb_len] = '\0';
	return (0);
}

static size_t
pac_fetch_write(char *p, size_t sz, size_t nm, void *arg)
{
	struct pac_buf	*pb = arg;
	size_t		 n = sz * nm;
	char		*d;

	if (n > PAC_SCRIPT_MAX - pb->pb_len) {
		pb->pb_toobig = 1;
		return (0);
	}
	if ((d = realloc(pb->pb_data, pb->pb_len + n + 1)) == NULL)
		return (0);
	memcpy(d + pb->pb_len, p, n);
	pb->pb_data = d;
	pb->pb_len += n;
	d[pb->pb_len] = '\0';
	return (n);
}

static int
pac_fetch_http(const struct pac_job *pj, struct pac_buf *pb, char *err,
    size_t errlen)
{
	CURL		*e;
	CURLcode	 rc;
	long		 code = 0;

	if ((e = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	curl_easy_setopt(e, CURLOPT_URL, pj->pj_url);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)PAC_FETCH_MS);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, pac_fetch_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, pb);
	if (pj->pj_ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, pj->pj_ca_file);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	if (pb->pb_toobig) {
		snprintf(err, errlen, "larger than 1 MiB");
		return (-1);
	}
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
		return (-1);
	}
	if (code != 200) {
		snprintf(err, errlen, "answered HTTP %ld", code);
		return (-1);
	}
	if (pb->pb_data == NULL && (pb->pb_data = strdup("")) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	return (0);
}

/* The script into *data (NUL-terminated, free() it), or -1 with err. */
int
pac_fetch(const struct pac_job *pj, char **data, size_t *len, char *err,
    size_t errlen)
{
	struct pac_buf	 pb;
	int		 rc;

	memset(&pb, 0, sizeof(pb));
	*data = NULL;
	if (strncasecmp(pj->pj_url, "file://", 7) == 0)
		rc = pac_fetch_file(pj->pj_url + 7, &pb, err, errlen);
	else
		rc = pac_fetch_http(pj, &pb, err, errlen);
	if (rc == -1) {
		free(pb.pb_data);
		return (-1);
	}
	*data = pb.pb_data;
	*len = pb.pb_len;
	return (0);
}
