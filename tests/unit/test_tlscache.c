/* SPDX-License-Identifier: ISC */
/*
 * tls.c's client session cache, with a TLS 1.3 server in memory (BIO
 * pairs) and a self-signed certificate given as ca_file: a session is
 * offered under its own "host:port" key only, and a ticket shared by two
 * connections is not offered again once OpenSSL has marked it spent
 * (once a handshake has resumed it, OpenSSL 3.0 takes it as used).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "tls.h"
#include "tap.h"

#define HOST	"cache.test"
#define KEY	"cache.test:443"

static SSL_CTX	*sctx;

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

/* Self-signed, CN=HOST (no SAN: the name is checked on the CN). */
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
	    X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 3600) == NULL ||
	    X509_set_pubkey(x, pk) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)HOST, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 ||
	    X509_sign(x, pk, EVP_sha256()) == 0) {
		X509_free(x);
		return (NULL);
	}
	return (x);
}

/*
 * One connection of the sidecar's to the server in memory, to the
 * end of the handshake and one byte of data (which has the client read
 * the server's tickets). Returns the client SSL or NULL; *reused says
 * whether it resumed.
 */
static SSL *
test_connect(const char *host, const char *key, int *reused)
{
	SSL	*c, *s;
	BIO	*cb, *sb;
	char	 buf[1];
	int	 i, cr = 0, sr = 0, got = 0;

	if ((c = tls_client(host, key, 1)) == NULL)
		return (NULL);
	if ((s = SSL_new(sctx)) == NULL ||
	    BIO_new_bio_pair(&cb, 0, &sb, 0) != 1) {
		SSL_free(s);
		SSL_free(c);
		return (NULL);
	}
	SSL_set_bio(c, cb, cb);
	SSL_set_bio(s, sb, sb);
	SSL_set_accept_state(s);
	for (i = 0; i < 100 && (cr != 1 || sr != 1); i++) {
		if (cr != 1)
			cr = SSL_do_handshake(c);
		if (sr != 1)
			sr = SSL_do_handshake(s);
	}
	if (cr == 1 && sr == 1 && SSL_write(s, "x", 1) == 1)
		for (i = 0; i < 100 && got == 0; i++)
			got = SSL_read(c, buf, 1) == 1;
	*reused = SSL_session_reused(c);
	SSL_free(s);
	if (!got) {
		SSL_free(c);
		return (NULL);
	}
	return (c);
}

/* The session tls_client() offers for key, without a handshake. */
static int
test_offers(const char *host, const char *key)
{
	SSL	*c;
	int	 has;

	if ((c = tls_client(host, key, 1)) == NULL)
		return (-1);
	has = SSL_get0_session(c) != NULL;
	SSL_free(c);
	return (has);
}

int
main(void)
{
	char		 ca[] = "/tmp/test_tlscache.XXXXXX";
	struct config	*cfg = NULL;
	EVP_PKEY	*pk = NULL;
	X509		*x = NULL;
	SSL		*c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
	FILE		*f;
	int		 fd, r1 = -1, r2 = -1, r3 = -1, r4 = -1;

	plan(7);
	if ((pk = test_key()) == NULL || (x = test_cert(pk)) == NULL ||
	    (fd = mkstemp(ca)) == -1 || (f = fdopen(fd, "w")) == NULL ||
	    PEM_write_X509(f, x) != 1 || fclose(f) != 0 ||
	    (cfg = config_new()) == NULL ||
	    (cfg->cfg_ca_file = strdup(ca)) == NULL || tls_init(cfg) == -1 ||
	    (sctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_num_tickets(sctx, 2) != 1 ||
	    SSL_CTX_use_certificate(sctx, x) != 1 ||
	    SSL_CTX_use_PrivateKey(sctx, pk) != 1) {
		ok(0, "set up the cache and a TLS 1.3 server in memory");
		goto done;
	}

	c1 = test_connect(HOST, KEY, &r1);
	ok(c1 != NULL && r1 == 0, "the first connection: a full handshake, "
	    "verified against ca_file");
	is_int(test_offers("other.test", "other.test:443"), 0,
	    "another host: no session offered (the trap)");
	is_int(test_offers(HOST, "cache.test:8443"), 0,
	    "the same host on another port: no session offered");

	/* Two tickets: c2 takes the first out, c3 shares the last. */
	c2 = tls_client(HOST, KEY, 1);
	c3 = test_connect(HOST, KEY, &r3);
	ok(c3 != NULL && r3 == 1, "a connection resumes the last ticket, "
	    "shared");
	/* c3 resumed with it: OpenSSL marked the shared one spent. */
	c4 = test_connect(HOST, KEY, &r4);
	ok(c4 != NULL && r4 == 1, "the next one resumes too: the spent "
	    "ticket is not offered");
	SSL_free(c2);
	c2 = test_connect(HOST, KEY, &r2);
	ok(c2 != NULL && r2 == 1, "and the one after it");

	tls_flush();
	is_int(test_offers(HOST, KEY), 0, "tls_flush(): nothing offered");
 done:
	SSL_free(c1);
	SSL_free(c2);
	SSL_free(c3);
	SSL_free(c4);
	SSL_CTX_free(sctx);
	tls_free();
	if (cfg != NULL)
		config_unref(cfg);
	unlink(ca);
	X509_free(x);
	EVP_PKEY_free(pk);
	return (done_testing());
}
