/* SPDX-License-Identifier: ISC */
/*
 * One Bot API call: POST a JSON body to <url>/bot<token>/<method> on one
 * reused libcurl handle, so the connection to the sidecar stays alive,
 * and sort the reply into what the poll loop must do about it.
 * URLs hold the token, so none is ever logged.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bot.h"

#define BOTAPI_REPLY_MAX	(8 * 1024 * 1024)	/* sanity bound */
#define BOTAPI_CONNECT_MS	10000L
#define BOTAPI_RETRY_DEFAULT	5	/* 429 without retry_after */

struct botapi_body {
	char	*bd_data;
	size_t	 bd_len;
	size_t	 bd_cap;
};

static size_t
botapi_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct botapi_body	*bd = arg;
	size_t			 n = size * nmemb, cap;
	char			*p;

	if (n > BOTAPI_REPLY_MAX - bd->bd_len)
		return (0);	/* curl fails with CURLE_WRITE_ERROR */
	if (bd->bd_len + n > bd->bd_cap) {
		cap = bd->bd_cap == 0 ? 4096 : bd->bd_cap;
		while (cap < bd->bd_len + n)
			cap *= 2;
		if ((p = realloc(bd->bd_data, cap)) == NULL)
			return (0);
		bd->bd_data = p;
		bd->bd_cap = cap;
	}
	memcpy(bd->bd_data + bd->bd_len, ptr, n);
	bd->bd_len += n;
	return (n);
}

/* Called by libcurl at least once a second, and on every socket event. */
static int
botapi_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct botapi	*api = arg;

	(void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
	if (botsig_forced() || (api->ba_abortable && botsig_stopping()))
		return (1);
	return (0);
}

int
botapi_init(struct botapi *api, const char *url, const char *token)
{
	struct curl_slist	*h;
	size_t			 n;

	memset(api, 0, sizeof(*api));
	n = strlen(url) + strlen("/bot") + strlen(token) + 1;
	if ((api->ba_base = malloc(n)) == NULL) {
		log_warn("malloc");
		goto fail;
	}
	snprintf(api->ba_base, n, "%s/bot%s", url, token);
	if ((api->ba_curl = curl_easy_init()) == NULL) {
		log_warnx("curl_easy_init failed");
		goto fail;
	}
	if ((h = curl_slist_append(NULL,
	    "Content-Type: application/json")) == NULL)
		goto nomem;
	api->ba_hdrs = h;
	/* An empty Expect: saves a round trip on larger bodies. */
	if ((h = curl_slist_append(h, "Expect:")) == NULL)
		goto nomem;
	curl_easy_setopt(api->ba_curl, CURLOPT_NOSIGNAL, 1L);
	/* The sidecar is the way out; a proxy from the environment is not. */
	curl_easy_setopt(api->ba_curl, CURLOPT_PROXY, "");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(api->ba_curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(api->ba_curl, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(api->ba_curl, CURLOPT_HTTPHEADER, api->ba_hdrs);
	curl_easy_setopt(api->ba_curl, CURLOPT_USERAGENT,
	    "tgsidecar-bot/" PACKAGE_VERSION);
	curl_easy_setopt(api->ba_curl, CURLOPT_ERRORBUFFER, api->ba_errbuf);
	curl_easy_setopt(api->ba_curl, CURLOPT_CONNECTTIMEOUT_MS,
	    BOTAPI_CONNECT_MS);
	curl_easy_setopt(api->ba_curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(api->ba_curl, CURLOPT_WRITEFUNCTION, botapi_write);
	curl_easy_setopt(api->ba_curl, CURLOPT_XFERINFOFUNCTION,
	    botapi_progress);
	curl_easy_setopt(api->ba_curl, CURLOPT_XFERINFODATA, api);
	curl_easy_setopt(api->ba_curl, CURLOPT_NOPROGRESS, 0L);
	return (0);
 nomem:
	log_warnx("curl_slist_append failed");
 fail:
	botapi_free(api);
	return (-1);
}

void
botapi_free(struct botapi *api)
{
	if (api->ba_curl != NULL)
		curl_easy_cleanup(api->ba_curl);
	curl_slist_free_all(api->ba_hdrs);
	if (api->ba_base != NULL) {
		explicit_bzero(api->ba_base, strlen(api->ba_base));
		free(api->ba_base);
	}
	memset(api, 0, sizeof(*api));
}

void
botapi_res_clear(struct botapi_res *res)
{
	json_decref(res->br_json);
	memset(res, 0, sizeof(*res));
}

const char *
botapi_kindname(int kind)
{
	switch (kind) {
	case BOTAPI_OK:			return ("ok");
	case BOTAPI_ABORTED:		return ("aborted");
	case BOTAPI_NETWORK:		return ("network error");
	case BOTAPI_CONFLICT:		return ("conflict");
	case BOTAPI_RETRY:		return ("flood control");
	case BOTAPI_SERVER:		return ("server error");
	case BOTAPI_UNAUTHORIZED:	return ("unauthorized");
	case BOTAPI_CLIENT:		return ("bad request");
	}
	return ("unknown");
}

/*
 * Sort an HTTP reply (status, parsed body or NULL) into res, which takes
 * the body. The sidecar answers its own errors in the Bot API's shape,
 * so one description field covers both.
 */
void
botapi_classify(struct botapi_res *res, long status, json_t *reply)
{
	json_t		*ok, *v;
	json_int_t	 code = status;

	memset(res, 0, sizeof(*res));
	res->br_status = status;
	res->br_json = reply;
	ok = json_object_get(reply, "ok");
	if (json_is_true(ok) && status >= 200 && status < 300) {
		res->br_kind = BOTAPI_OK;
		res->br_result = json_object_get(reply, "result");
		return;
	}
	if (!json_is_boolean(ok)) {
		/* Not the Bot API: a wrong URL, or something in between. */
		snprintf(res->br_desc, sizeof(res->br_desc),
		    "HTTP %ld without a Bot API reply", status);
		res->br_kind = BOTAPI_SERVER;
		return;
	}
	if ((v = json_object_get(reply, "description")) != NULL &&
	    json_is_string(v))
		snprintf(res->br_desc, sizeof(res->br_desc), "%s",
		    json_string_value(v));
	else
		snprintf(res->br_desc, sizeof(res->br_desc), "HTTP %ld", status);
	if (status < 400 && json_is_integer(v = json_object_get(reply,
	    "error_code")))
		code = json_integer_value(v);

	if (code == 409)
		res->br_kind = BOTAPI_CONFLICT;
	else if (code == 429) {
		res->br_kind = BOTAPI_RETRY;
		v = json_object_get(json_object_get(reply, "parameters"),
		    "retry_after");
		res->br_retry_after = json_is_integer(v) &&
		    json_integer_value(v) > 0 ? (long)json_integer_value(v) :
		    BOTAPI_RETRY_DEFAULT;
	} else if (code == 401)
		res->br_kind = BOTAPI_UNAUTHORIZED;
	else if (code >= 400 && code < 500)
		res->br_kind = BOTAPI_CLIENT;
	else
		res->br_kind = BOTAPI_SERVER;
}

/*
 * Call method with params (NULL: none) within timeout_ms. Returns 0 if
 * res->br_kind is BOTAPI_OK, -1 otherwise; res must be cleared either way.
 */
int
botapi_call(struct botapi *api, const char *method, json_t *params,
    long timeout_ms, int flags, struct botapi_res *res)
{
	struct botapi_body	 bd = { NULL, 0, 0 };
	json_error_t		 jerr;
	json_t			*reply;
	char			*url = NULL, *body = NULL;
	size_t			 n;
	long			 status = 0;
	CURLcode		 rc;

	memset(res, 0, sizeof(*res));
	res->br_kind = BOTAPI_NETWORK;
	n = strlen(api->ba_base) + 1 + strlen(method) + 1;
	if ((url = malloc(n)) == NULL) {
		snprintf(res->br_desc, sizeof(res->br_desc), "out of memory");
		goto done;
	}
	snprintf(url, n, "%s/%s", api->ba_base, method);
	body = params != NULL ? json_dumps(params, JSON_COMPACT) :
	    strdup("{}");
	if (body == NULL) {
		snprintf(res->br_desc, sizeof(res->br_desc), "out of memory");
		goto done;
	}

	api->ba_abortable = (flags & BOTAPI_ABORTABLE) != 0;
	api->ba_errbuf[0] = '\0';
	curl_easy_setopt(api->ba_curl, CURLOPT_URL, url);
	curl_easy_setopt(api->ba_curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(api->ba_curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)strlen(body));
	curl_easy_setopt(api->ba_curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(api->ba_curl, CURLOPT_WRITEDATA, &bd);
	rc = curl_easy_perform(api->ba_curl);
	curl_easy_setopt(api->ba_curl, CURLOPT_POSTFIELDS, NULL);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		res->br_kind = BOTAPI_ABORTED;
		snprintf(res->br_desc, sizeof(res->br_desc), "stopped");
		goto done;
	}
	if (rc != CURLE_OK) {
		snprintf(res->br_desc, sizeof(res->br_desc), "%s",
		    api->ba_errbuf[0] != '\0' ? api->ba_errbuf :
		    curl_easy_strerror(rc));
		goto done;
	}
	curl_easy_getinfo(api->ba_curl, CURLINFO_RESPONSE_CODE, &status);
	reply = bd.bd_len > 0 ? json_loadb(bd.bd_data, bd.bd_len, 0, &jerr) :
	    NULL;
	botapi_classify(res, status, reply);
 done:
	if (url != NULL) {
		explicit_bzero(url, strlen(url));
		free(url);
	}
	free(body);
	free(bd.bd_data);
	return (res->br_kind == BOTAPI_OK ? 0 : -1);
}
