/* SPDX-License-Identifier: ISC */
/*
 * tls_release_ssl(): an idle connection gives its record buffers back,
 * a connection with data read but not yet handed out keeps them, and
 * both go on reading and writing intact.  A TLS client and server in
 * memory (a BIO pair), with a throwaway self-signed EC certificate.
 */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls.h"
#include "tap.h"

/* Bytes OpenSSL holds right now, counted through its allocator hooks. */
static size_t	 live;

static void *
count_malloc(size_t n, const char *file, int line)
{
	void	*p = malloc(n);

	(void)file;
	(void)line;
	if (p != NULL)
		live += malloc_usable_size(p);
	return (p);
}

static void *
count_realloc(void *old, size_t n, const char *file, int line)
{
	size_t	 was = old != NULL ? malloc_usable_size(old) : 0;
	void	*p = realloc(old, n);

	(void)file;
	(void)line;
	if (p != NULL)
		live += malloc_usable_size(p) - was;
	else if (n == 0)
		live -= was;
	return (p);
}

static void
count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p != NULL)
		live -= malloc_usable_size(p);
	free(p);
}

static EVP_PKEY *
test_key(void)
{
	EVP_PKEY_CTX	*kc;
	EVP_PKEY	*pk = NULL;

	if ((kc = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL)) == NULL)
		return (NULL);
	if (EVP_PKEY_keygen_init(kc) != 1 ||
	    EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kc,
	    NID_X9_62_prime256v1) != 1 || EVP_PKEY_keygen(kc, &pk) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(kc);
	return (pk);
}

static X509 *
test_cert(EVP_PKEY *pk)
{
	X509		*x;
	X509_NAME	*name;

	if ((x = X509_new()) == NULL)
		return (NULL);
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
	    X509_set_pubkey(x, pk) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_sign(x, pk, EVP_sha256()) == 0) {
		X509_free(x);
		return (NULL);
	}
	return (x);
}

/* Both ends step until both are done; a bounded number of rounds. */
static int
test_handshake(SSL *c, SSL *s)
{
	int	 i, cr = 0, sr = 0;

	for (i = 0; i < 100 && (cr != 1 || sr != 1); i++) {
		if (cr != 1)
			cr = SSL_do_handshake(c);
		if (sr != 1)
			sr = SSL_do_handshake(s);
	}
	return (cr == 1 && sr == 1 ? 0 : -1);
}

/* Read exactly n bytes on c; the writer has written them all already. */
static int
test_read(SSL *c, char *buf, int n)
{
	int	 got = 0, r, i;

	for (i = 0; i < 100 && got < n; i++)
		if ((r = SSL_read(c, buf + got, n - got)) > 0)
			got += r;
	return (got);
}

int
main(void)
{
	SSL_CTX		*cctx = NULL, *sctx = NULL;
	SSL		*c = NULL, *s = NULL;
	BIO		*cb = NULL, *sb = NULL;
	EVP_PKEY	*pk = NULL;
	X509		*x = NULL;
	char		 msg[100], buf[sizeof(msg)];
	size_t		 before;
	int		 freed;

	if (CRYPTO_set_mem_functions(count_malloc, count_realloc,
	    count_free) != 1)
		diag("cannot count OpenSSL's allocations");
	plan(8);
	memset(msg, 'x', sizeof(msg));
	if ((pk = test_key()) == NULL || (x = test_cert(pk)) == NULL ||
	    (cctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (sctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate(sctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(sctx, pk) != 1 ||
	    (c = SSL_new(cctx)) == NULL || (s = SSL_new(sctx)) == NULL ||
	    BIO_new_bio_pair(&cb, 0, &sb, 0) != 1) {
		ok(0, "set up a TLS client and server in memory");
		goto done;
	}
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	ok(test_handshake(c, s) == 0, "handshake in memory");

	/* Part of a record handed out: the rest is in the buffers. */
	memcpy(msg, "first", 5);
	SSL_write(s, msg, sizeof(msg));
	ok(test_read(c, buf, 10) == 10, "10 bytes of a 100-byte record read");
	is_int(tls_release_ssl(c), 0,
	    "data read but not handed out: the buffers stay");
	ok(test_read(c, buf + 10, sizeof(buf) - 10) == sizeof(buf) - 10 &&
	    memcmp(buf, msg, sizeof(msg)) == 0,
	    "the rest of the record is intact");

	/* Idle: everything handed out, the next read would block. */
	SSL_read(c, buf, sizeof(buf));
	before = live;
	freed = tls_release_ssl(c);
	is_int(freed, 1, "an idle connection gives its buffers back");
	ok(before - live >= 16 * 1024,
	    "at least the 16 KiB read buffer is freed (%zu bytes)",
	    before - live);

	/* And goes on both ways. */
	memcpy(msg, "second", 6);
	SSL_write(s, msg, sizeof(msg));
	ok(test_read(c, buf, sizeof(buf)) == sizeof(buf) &&
	    memcmp(buf, msg, sizeof(msg)) == 0,
	    "after the release, the next record is read intact");
	memcpy(msg, "third", 5);
	SSL_write(c, msg, sizeof(msg));
	ok(test_read(s, buf, sizeof(buf)) == sizeof(buf) &&
	    memcmp(buf, msg, sizeof(msg)) == 0,
	    "and a record written after it arrives intact");
 done:
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	X509_free(x);
	EVP_PKEY_free(pk);
	return (done_testing());
}
