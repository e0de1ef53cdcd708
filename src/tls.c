/* SPDX-License-Identifier: ISC */
/*
 * The sidecar's TLS with the upstream: one SSL_CTX for every connection,
 * on one trust store (the system CAs and ca_file), and a client session
 * cache keyed by host and port.  libcurl only makes the tunnel (conn.c);
 * it builds an SSL_CTX of its own for every connection, about a third of
 * the instructions a fresh connection costs, which one shared context
 * does not pay.
 *
 * A resumed TLS 1.3 handshake carries no certificate, so OpenSSL checks
 * no name on it: a session made for one host must never be offered to
 * another, hence the key.  A TLS 1.3 server may take a ticket once, so a
 * key keeps several, and a connection takes one for itself.
 */
#include "config.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "log.h"
#include "tls.h"

#define TLS_KEYS	8	/* hosts with sessions kept */
#define TLS_SESSIONS	8	/* tickets kept per host */

struct tls_slot {
	char		*ts_key;	/* "host:port", or NULL: free */
	SSL_SESSION	*ts_sess[TLS_SESSIONS];	/* oldest first */
	int		 ts_n;
	unsigned long	 ts_used;	/* for eviction */
};

static X509_STORE	*tls_store;
static SSL_CTX		*tls_ctx;
static int		 tls_idx = -1;	/* SSL ex_data: the session key */
static struct tls_slot	 tls_slots[TLS_KEYS];
static unsigned long	 tls_clock;

/*
 * The system CAs are looked up by hash in the CA directory, lazily and
 * cached in the store, so start-up does not pay for the whole bundle.
 */
static int
tls_load_system(X509_STORE *store)
{
	const char	*dir, *file;

	if ((dir = getenv(X509_get_default_cert_dir_env())) == NULL)
		dir = X509_get_default_cert_dir();
	if (X509_STORE_load_path(store, dir) != 1)
		log_debug("tls: no CA directory %s", dir);
	file = getenv(X509_get_default_cert_file_env());
	if (file != NULL && X509_STORE_load_file(store, file) != 1) {
		log_warnx("tls: cannot load CA file %s from %s", file,
		    X509_get_default_cert_file_env());
		return (-1);
	}
	return (0);
}

static void
tls_slot_clear(struct tls_slot *ts)
{
	int	 i;

	for (i = 0; i < ts->ts_n; i++)
		SSL_SESSION_free(ts->ts_sess[i]);
	free(ts->ts_key);
	memset(ts, 0, sizeof(*ts));
}

/* Every session goes: the trust they were made under may have changed. */
void
tls_flush(void)
{
	int	 i;

	for (i = 0; i < TLS_KEYS; i++)
		tls_slot_clear(&tls_slots[i]);
}

/* The slot of key; with make, a new one: a free one, or the least used. */
static struct tls_slot *
tls_slot(const char *key, int make)
{
	struct tls_slot	*ts, *victim = NULL;
	int		 i;

	for (i = 0; i < TLS_KEYS; i++) {
		ts = &tls_slots[i];
		if (ts->ts_key != NULL && strcmp(ts->ts_key, key) == 0) {
			ts->ts_used = ++tls_clock;
			return (ts);
		}
		if (victim == NULL || (victim->ts_key != NULL &&
		    (ts->ts_key == NULL || ts->ts_used < victim->ts_used)))
			victim = ts;
	}
	if (!make)
		return (NULL);
	tls_slot_clear(victim);
	if ((victim->ts_key = strdup(key)) == NULL)
		return (NULL);
	victim->ts_used = ++tls_clock;
	return (victim);
}

/* A session (or TLS 1.3 ticket) came: kept under its connection's key. */
static int
tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
	const char	*key = SSL_get_ex_data(ssl, tls_idx);
	struct tls_slot	*ts;

	if (key == NULL || !SSL_SESSION_is_resumable(sess) ||
	    (ts = tls_slot(key, 1)) == NULL)
		return (0);
	if (ts->ts_n == TLS_SESSIONS) {
		SSL_SESSION_free(ts->ts_sess[0]);
		memmove(&ts->ts_sess[0], &ts->ts_sess[1],
		    (TLS_SESSIONS - 1) * sizeof(ts->ts_sess[0]));
		ts->ts_n--;
	}
	ts->ts_sess[ts->ts_n++] = sess;
	return (1);	/* the reference is ours */
}

/*
 * A session for a new connection to key, or NULL: a TLS 1.3 ticket is
 * taken out (a server may accept it once), the oldest first.  The caller
 * frees what it gets.
 */
static SSL_SESSION *
tls_session_take(const char *key)
{
	struct tls_slot	*ts;
	SSL_SESSION	*s;
	time_t		 now = time(NULL);
	int		 live;

	if ((ts = tls_slot(key, 0)) == NULL)
		return (NULL);
	while (ts->ts_n > 0) {
		s = ts->ts_sess[0];	/* the oldest: it expires first */
		/*
		 * OpenSSL marks a TLS 1.3 session not resumable once a
		 * handshake has resumed it (measured, 3.0): a shared ticket
		 * serves only the handshakes begun before its first one
		 * ended, and offered later it silently makes a full one.
		 */
		live = SSL_SESSION_is_resumable(s) &&
		    SSL_SESSION_get_time(s) + SSL_SESSION_get_timeout(s) >= now;
		/*
		 * A TLS 1.2 session is shared; so is the last ticket left, for
		 * the next connection may come before this one has read its
		 * own new tickets (one a server refuses costs a full handshake).
		 */
		if (live && (SSL_SESSION_get_protocol_version(s) <
		    TLS1_3_VERSION || ts->ts_n == 1)) {
			SSL_SESSION_up_ref(s);
			return (s);
		}
		ts->ts_n--;
		memmove(&ts->ts_sess[0], &ts->ts_sess[1],
		    ts->ts_n * sizeof(ts->ts_sess[0]));
		if (live)
			return (s);
		SSL_SESSION_free(s);
	}
	return (NULL);
}

static SSL_CTX *
tls_ctx_new(X509_STORE *store)
{
	static const unsigned char	 alpn[] = "\x08http/1.1";
	SSL_CTX				*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return (NULL);
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* A close without close_notify ends a reply as libcurl took it. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set1_cert_store(ctx, store);
	/* A held long poll keeps no record buffers (see tls_release()). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, tls_new_session);
	return (ctx);
}

/*
 * The trust store and the context, made anew (start, reload): the
 * sessions made under the old trust go.  Connections in flight keep
 * their own references to the old ones.
 */
int
tls_init(const struct config *cfg)
{
	X509_STORE	*store = NULL;
	SSL_CTX		*ctx = NULL;

	if (tls_idx == -1 &&
	    (tls_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL)) == -1)
		goto fail;
	if ((store = X509_STORE_new()) == NULL) {
		log_warnx("tls: X509_STORE_new failed");
		goto fail;
	}
	if (tls_load_system(store) == -1)
		goto fail;
	if (cfg->cfg_ca_file != NULL &&
	    X509_STORE_load_file(store, cfg->cfg_ca_file) != 1) {
		log_warnx("tls: cannot load ca_file %s: %s", cfg->cfg_ca_file,
		    ERR_reason_error_string(ERR_peek_last_error()));
		goto fail;
	}
	if ((ctx = tls_ctx_new(store)) == NULL) {
		log_warnx("tls: cannot make the TLS context");
		goto fail;
	}
	ERR_clear_error();
	X509_STORE_free(tls_store);
	SSL_CTX_free(tls_ctx);
	tls_store = store;
	tls_ctx = ctx;
	tls_flush();
	return (0);
 fail:
	ERR_clear_error();
	X509_STORE_free(store);
	return (-1);
}

void
tls_free(void)
{
	tls_flush();
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
	X509_STORE_free(tls_store);
	tls_store = NULL;
}

/*
 * A client SSL for host (bare, no brackets) under key ("host:port"),
 * which must outlive it: the name checked as RFC 6125 says (no partial
 * wildcards), an IP address against the certificate's IP SANs and with
 * no SNI (RFC 6066 allows names only), a kept session offered if resume.
 */
SSL *
tls_client(const char *host, const char *key, int resume)
{
	unsigned char	 ip[16];
	SSL		*ssl;
	SSL_SESSION	*sess;
	int		 isip;

	if (tls_ctx == NULL || (ssl = SSL_new(tls_ctx)) == NULL)
		return (NULL);
	isip = inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1;
	if (isip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    host) != 1)
			goto fail;
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
		    SSL_set1_host(ssl, host) != 1)
			goto fail;
	}
	if (SSL_set_ex_data(ssl, tls_idx, (void *)key) != 1)
		goto fail;
	if (resume && (sess = tls_session_take(key)) != NULL) {
		SSL_set_session(ssl, sess);
		SSL_SESSION_free(sess);
	}
	SSL_set_connect_state(ssl);
	return (ssl);
 fail:
	ERR_clear_error();
	SSL_free(ssl);
	return (NULL);
}

/*
 * Why a handshake failed, in the words libcurl used: 1 if it was the
 * certificate (or its name), 0 for anything else.
 */
int
tls_why(SSL *ssl, int err, char *buf, size_t len)
{
	long		 vr = SSL_get_verify_result(ssl);
	unsigned long	 e = ERR_peek_last_error();

	if (vr != X509_V_OK) {
		snprintf(buf, len, "SSL certificate problem: %s",
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
		return (1);
	}
	if (e != 0)
		snprintf(buf, len, "TLS handshake failed: %s",
		    ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "unknown error");
	else if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL)
		snprintf(buf, len, "the connection closed during the TLS "
		    "handshake");
	else
		snprintf(buf, len, "TLS handshake failed (SSL error %d)", err);
	ERR_clear_error();
	return (0);
}

/*
 * Give back the TLS record buffers (about 17 KiB) of a connection with
 * nothing buffered, such as a held long poll between its request and
 * its answer; OpenSSL allocates them again for the next record.  With
 * SSL_MODE_RELEASE_BUFFERS alone the read buffer of an idle connection
 * stayed allocated (measured: bench/run's held polls).  1 if freed.
 */
int
tls_release_ssl(SSL *ssl)
{
	/*
	 * Nothing read and not yet handed out, nothing left to write: also
	 * what OpenSSL before 3.0.14 failed to check (CVE-2024-4741).
	 */
	if (SSL_has_pending(ssl) || SSL_want_write(ssl))
		return (0);
	return (SSL_free_buffers(ssl) == 1);
}

/* CURLOPT_SSL_CTX_FUNCTION: an https:// proxy's TLS, on our trust. */
static CURLcode
tls_ctx_cb(CURL *easy, void *sslctx, void *arg)
{
	(void)easy;
	(void)arg;
	if (tls_store == NULL)
		return (CURLE_SSL_CACERT_BADFILE);
	SSL_CTX_set1_cert_store(sslctx, tls_store);
	return (CURLE_OK);
}

/*
 * The only TLS libcurl still does is an https:// proxy's own: verified,
 * against the one shared store rather than a CA file read for every
 * connection.
 */
void
tls_setopts(CURL *e)
{
	curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_PROXY_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_PROXY_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, tls_ctx_cb);
}
