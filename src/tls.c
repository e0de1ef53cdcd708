/* SPDX-License-Identifier: ISC */
/*
 * One trust store shared by every upstream TLS connection.  libcurl
 * would otherwise parse the whole system CA bundle again for each fresh
 * connection (about 40 ms of CPU each with Debian's libcurl 7.88, whose
 * CA cache is bypassed while a CA path is set).
 */
#include "config.h"

#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "log.h"
#include "tls.h"

static X509_STORE	*tls_store;
static CURLSH		*tls_share;

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

int
tls_init(const struct config *cfg)
{
	X509_STORE	*store = NULL;

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
	ERR_clear_error();
	/* Handshakes in flight hold their own reference to the old store. */
	X509_STORE_free(tls_store);
	tls_store = store;
	/*
	 * Each request is still a new TCP connection and a new tunnel; only
	 * the TLS session is resumed, which saves the full handshake.  The
	 * cache outlives reloads: transfers in flight may be using it.
	 */
	if (tls_share == NULL &&
	    ((tls_share = curl_share_init()) == NULL ||
	    curl_share_setopt(tls_share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)) {
		log_warnx("tls: cannot set up the session cache");
		return (-1);
	}
	return (0);
 fail:
	ERR_clear_error();
	X509_STORE_free(store);
	return (-1);
}

void
tls_free(void)
{
	X509_STORE_free(tls_store);
	tls_store = NULL;
	if (tls_share != NULL)
		curl_share_cleanup(tls_share);
	tls_share = NULL;
}

/* The TLS session cache shared by all transfers, or NULL. */
CURLSH *
tls_sessions(void)
{
	return (tls_share);
}

/* CURLOPT_SSL_CTX_FUNCTION: runs after libcurl set up its own (empty) trust. */
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
 * After libcurl has handled a socket event: give back the TLS record
 * buffers (about 17 KiB) of a connection with nothing buffered, such as a
 * held long poll between the handshake and its answer.  OpenSSL allocates
 * them again for the next record.  libcurl already sets
 * SSL_MODE_RELEASE_BUFFERS, but with it the read buffer of an idle
 * connection stayed allocated (measured: bench/run's held polls).
 * 1 if buffers were freed.
 */
int
tls_release(CURL *easy)
{
	struct curl_tlssessioninfo	*ti = NULL;

	if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &ti) != CURLE_OK ||
	    ti == NULL || ti->backend != CURLSSLBACKEND_OPENSSL ||
	    ti->internals == NULL)
		return (0);
	return (tls_release_ssl(ti->internals));
}

/* The same for one SSL; 1 if its buffers are free now. */
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

/*
 * Verify the peer and its name, always, against the one shared store
 * rather than a CA file read for every connection.
 */
void
tls_setopts(CURL *e)
{
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, tls_ctx_cb);
}
