/* SPDX-License-Identifier: ISC */
/*
 * header.c: tables of names and values, what the sidecar makes of them,
 * and the header list that goes upstream.
 */
#include <stdlib.h>
#include <string.h>

#include "header.h"
#include "req.h"
#include "upstream.h"
#include "tap.h"

struct token_case {
	const char	*tc_s;
	size_t		 tc_len;	/* 0: strlen */
	int		 tc_token;
};

static const struct token_case tokens[] = {
	{ "Host", 0, 1 },
	{ "Content-Type", 0, 1 },
	{ "X-Trace", 0, 1 },
	{ "x", 0, 1 },
	{ "0", 0, 1 },
	{ "!#$%&'*+-.^_`|~", 0, 1 },
	{ "a1-B2_c3", 0, 1 },
	{ "", 0, 0 },
	{ "Host ", 0, 0 },
	{ " Host", 0, 0 },
	{ "Transfer-Encoding ", 0, 0 },
	{ "Transfer-Encoding\t", 0, 0 },
	{ "X y", 0, 0 },
	{ "X(y)", 0, 0 },
	{ "X)", 0, 0 },
	{ "X<", 0, 0 },
	{ "X>", 0, 0 },
	{ "X@", 0, 0 },
	{ "X,", 0, 0 },
	{ "X;", 0, 0 },
	{ "X:", 0, 0 },
	{ "X\\", 0, 0 },
	{ "X\"", 0, 0 },
	{ "X/", 0, 0 },
	{ "X[", 0, 0 },
	{ "X]", 0, 0 },
	{ "X?", 0, 0 },
	{ "X=", 0, 0 },
	{ "X{", 0, 0 },
	{ "X}", 0, 0 },
	{ "X\x7f", 0, 0 },
	{ "X\x01", 0, 0 },
	{ "X\r", 0, 0 },
	{ "X\n", 0, 0 },
	{ "X\x80", 0, 0 },
	{ "X\xff", 0, 0 },
	{ "X\0Y", 3, 0 },
};

struct value_case {
	const char	*vc_s;
	size_t		 vc_len;	/* 0: strlen */
	int		 vc_ok;
};

static const struct value_case values[] = {
	{ "", 0, 1 },
	{ "application/json", 0, 1 },
	{ "a b\tc", 0, 1 },
	{ "  padded  ", 0, 1 },
	{ "\x80\xff obs-text", 0, 1 },
	{ "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", 0, 1 },
	{ "a\rb", 0, 0 },
	{ "a\nb", 0, 0 },
	{ "a\r\nb", 0, 0 },
	{ "a\0b", 3, 0 },
	{ "\x01", 0, 0 },
	{ "\x1f", 0, 0 },
	{ "a\x7f", 0, 0 },
	{ "\x0b", 0, 0 },
};

struct kind_case {
	const char	*kc_name;
	int		 kc_kind;
	int		 kc_hop;
};

static const struct kind_case kinds[] = {
	{ "Host", HEADER_HOST, 0 },
	{ "HOST", HEADER_HOST, 0 },
	{ "host", HEADER_HOST, 0 },
	{ "Content-Length", HEADER_CONTENT_LENGTH, 0 },
	{ "content-length", HEADER_CONTENT_LENGTH, 0 },
	{ "Content-Type", HEADER_CONTENT_TYPE, 0 },
	{ "Expect", HEADER_EXPECT, 0 },
	{ "Connection", HEADER_CONNECTION, 1 },
	{ "Transfer-Encoding", HEADER_TRANSFER_ENCODING, 1 },
	{ "TRANSFER-ENCODING", HEADER_TRANSFER_ENCODING, 1 },
	{ "Keep-Alive", HEADER_HOP, 1 },
	{ "Proxy-Authorization", HEADER_HOP, 1 },
	{ "Proxy-Authenticate", HEADER_HOP, 1 },
	{ "Proxy-Connection", HEADER_HOP, 1 },
	{ "te", HEADER_HOP, 1 },
	{ "Trailer", HEADER_HOP, 1 },
	{ "Upgrade", HEADER_HOP, 1 },
	{ "HTTP2-Settings", HEADER_HOP, 1 },
	{ "http2-settings", HEADER_HOP, 1 },
	{ "X-Trace", HEADER_OTHER, 0 },
	{ "Hosts", HEADER_OTHER, 0 },
	{ "Content-Length2", HEADER_OTHER, 0 },
	{ "Authorization", HEADER_OTHER, 0 },
};

struct split_case {
	const char	*sc_line;
	int		 sc_rv;
	const char	*sc_name;
	const char	*sc_value;
};

static const struct split_case splits[] = {
	{ "Content-Type: application/json", 0, "Content-Type",
	    "application/json" },
	{ "X-A:1", 0, "X-A", "1" },
	{ "X-A:", 0, "X-A", "" },
	{ "X-A: \t ", 0, "X-A", "" },
	{ "X-A: \tv a l\t ", 0, "X-A", "v a l" },
	{ "X-A: a:b", 0, "X-A", "a:b" },
	{ "X-A : 1", -1, NULL, NULL },
	{ " X-A: 1", -1, NULL, NULL },
	{ ": 1", -1, NULL, NULL },
	{ "X-A 1", -1, NULL, NULL },
	{ "  folded", -1, NULL, NULL },
	{ "X-A: 1\rX-B: 2", -1, NULL, NULL },
	{ "X(y): 1", -1, NULL, NULL },
	{ "X-A: \x01", -1, NULL, NULL },
};

/* What goes upstream for a set of the bot's headers. */
struct upstream_case {
	const char	*uc_desc;
	const char	*uc_in[6];
	const char	*uc_connection;
	const char	*uc_out[8];
};

static const struct upstream_case upstreams[] = {
	{ "end-to-end headers pass, framing ones do not",
	    { "Host: x", "Content-Type: application/json", "X-A: 1",
	    "Content-Length: 3", "Expect: 100-continue", NULL }, NULL,
	    { "Content-Type: application/json", "X-A: 1", "Expect:", NULL } },
	{ "an empty value is sent as an empty header, never joined",
	    { "X-Trace: ", "Content-Type: application/json", NULL }, NULL,
	    { "X-Trace;", "Content-Type: application/json", "Expect:",
	    NULL } },
	{ "hop-by-hop headers, in any case, stay here",
	    { "connection: close", "KEEP-ALIVE: 5", "proxy-authorization: x",
	    "Te: trailers", "upgrade: h2c", "transfer-encoding: chunked" },
	    NULL, { "Expect:", "Content-Type:", NULL } },
	{ "names that Connection lists stay here",
	    { "X-Secret: 1", "X-Other: 2", "Connection: x-secret", NULL },
	    "close, X-Secret", { "X-Other: 2", "Expect:", "Content-Type:",
	    NULL } },
	{ "an h2c offer (the JDK's HttpClient) stays here, listed or not",
	    { "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
	    "HTTP2-Settings: AAEAAEAAAAIAAAABAAMAAABkAAQBAAAAAAUAAEAA",
	    "Content-Type: application/json", NULL }, "Upgrade, HTTP2-Settings",
	    { "Content-Type: application/json", "Expect:", NULL } },
	{ "HTTP2-Settings that Connection does not list stays here too",
	    { "HTTP2-SETTINGS: AAMAAABkAARAAAAAAAIAAAAA", "X-A: 1", NULL },
	    NULL, { "X-A: 1", "Expect:", "Content-Type:", NULL } },
	{ "Content-Type listed in Connection: none invented either",
	    { "Content-Type: text/plain", NULL }, "Content-Type",
	    { "Expect:", "Content-Type:", NULL } },
};

/* header_upgrade_h2c(): an Upgrade the sidecar may ignore (issue 19). */
struct h2c_case {
	const char	*hc_in[4];
	int		 hc_h2c;
};

static const struct h2c_case h2cs[] = {
	{ { "Upgrade: h2c", NULL }, 1 },
	{ { "upgrade: H2C", NULL }, 1 },
	{ { "UPGRADE:h2c ", NULL }, 1 },
	{ { "Upgrade: h2c, h2c", NULL }, 1 },
	{ { "Upgrade: ,h2c,", NULL }, 1 },
	{ { "Upgrade: h2c", "X-A: websocket", NULL }, 1 },
	{ { "Upgrade: h2c", "Upgrade: h2c", NULL }, 1 },
	{ { "Upgrade: websocket", NULL }, 0 },
	{ { "Upgrade: WebSocket", NULL }, 0 },
	{ { "Upgrade: h2c, websocket", NULL }, 0 },
	{ { "Upgrade: websocket, h2c", NULL }, 0 },
	{ { "Upgrade: h2c", "Upgrade: websocket", NULL }, 0 },
	{ { "Upgrade: h2", NULL }, 0 },
	{ { "Upgrade: h2c/1", NULL }, 0 },
	{ { "Upgrade: h2cx", NULL }, 0 },
	{ { "Upgrade: TLS/1.2, h2c", NULL }, 0 },
	{ { "Upgrade: HTTP/2.0", NULL }, 0 },
	{ { "Upgrade: ", NULL }, 0 },
	{ { "Upgrade: ,", NULL }, 0 },
	{ { "X-Upgrade: h2c", NULL }, 0 },
	{ { NULL }, 0 },
};

static void
test_h2c(size_t i, const struct h2c_case *hc)
{
	struct curl_slist	*l = NULL;
	int			 j;

	for (j = 0; j < 4 && hc->hc_in[j] != NULL; j++)
		l = curl_slist_append(l, hc->hc_in[j]);
	is_int(header_upgrade_h2c(l), hc->hc_h2c, "h2c #%zu (%s): %s", i,
	    hc->hc_in[0] ? hc->hc_in[0] : "none",
	    hc->hc_h2c ? "an h2c offer only" : "not one to ignore");
	curl_slist_free_all(l);
}

struct clen_case {
	const char	*cl_s;
	int64_t		 cl_n;	/* -1: refused */
};

static const struct clen_case clens[] = {
	{ "0", 0 },
	{ "5", 5 },
	{ "0012", 12 },
	{ "999999999999999999", 999999999999999999LL },
	{ "1000000000000000000", -1 },	/* 19 digits */
	{ "", -1 },
	{ "-1", -1 },
	{ "+1", -1 },
	{ "1 2", -1 },
	{ "1,1", -1 },
	{ "0x10", -1 },
	{ "12a", -1 },
};

static void
test_upstream(const struct upstream_case *uc)
{
	struct req		 req;
	struct curl_slist	*h;
	int			 i, good = 1;

	memset(&req, 0, sizeof(req));
	for (i = 0; i < 6 && uc->uc_in[i] != NULL; i++)
		req.req_hdrs = curl_slist_append(req.req_hdrs, uc->uc_in[i]);
	req.req_connection = (char *)uc->uc_connection;
	if (header_upstream(&req) == -1) {
		ok(0, "%s: header_upstream() succeeds", uc->uc_desc);
		goto done;
	}
	for (h = req.req_uphdrs, i = 0; h != NULL && uc->uc_out[i] != NULL;
	    h = h->next, i++)
		if (strcmp(h->data, uc->uc_out[i]) != 0) {
			diag("got %s, expected %s", h->data, uc->uc_out[i]);
			good = 0;
		}
	ok(good && h == NULL && uc->uc_out[i] == NULL, "%s", uc->uc_desc);
 done:
	curl_slist_free_all(req.req_hdrs);
	curl_slist_free_all(req.req_uphdrs);
}

int
main(void)
{
	const char	*value;
	char		*list;
	size_t		 i, len, nlen, vlen;
	int		 rv;

	for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		len = tokens[i].tc_len ? tokens[i].tc_len :
		    strlen(tokens[i].tc_s);
		is_int(header_token(tokens[i].tc_s, len), tokens[i].tc_token,
		    "token #%zu (%zu bytes) is%s a token", i, len,
		    tokens[i].tc_token ? "" : " not");
	}
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		len = values[i].vc_len ? values[i].vc_len :
		    strlen(values[i].vc_s);
		is_int(header_value_ok(values[i].vc_s, len), values[i].vc_ok,
		    "value #%zu is%s a clean field-value", i,
		    values[i].vc_ok ? "" : " not");
	}
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		len = strlen(kinds[i].kc_name);
		is_int(header_kind(kinds[i].kc_name, len), kinds[i].kc_kind,
		    "%s: its kind", kinds[i].kc_name);
		is_int(header_hop(kinds[i].kc_name, len), kinds[i].kc_hop,
		    "%s: hop-by-hop or not", kinds[i].kc_name);
	}
	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		const struct split_case *sc = &splits[i];

		rv = header_split(sc->sc_line, strlen(sc->sc_line), &nlen,
		    &value, &vlen);
		is_int(rv, sc->sc_rv, "split #%zu: %s", i,
		    sc->sc_rv == 0 ? "taken" : "refused");
		if (rv == 0 && sc->sc_rv == 0) {
			ok(nlen == strlen(sc->sc_name) &&
			    memcmp(sc->sc_line, sc->sc_name, nlen) == 0,
			    "split #%zu: the name is %s", i, sc->sc_name);
			ok(vlen == strlen(sc->sc_value) &&
			    memcmp(value, sc->sc_value, vlen) == 0,
			    "split #%zu: the value is \"%s\"", i, sc->sc_value);
		}
	}
	for (i = 0; i < sizeof(clens) / sizeof(clens[0]); i++)
		ok(header_clen(clens[i].cl_s, strlen(clens[i].cl_s)) ==
		    clens[i].cl_n, "Content-Length \"%s\" is %lld", clens[i].cl_s,
		    (long long)clens[i].cl_n);
	list = NULL;
	ok(header_list_add(&list, "close", 5) == 0 &&
	    header_list_add(&list, "X-A, X-B", 8) == 0 && list != NULL &&
	    strcmp(list, "close, X-A, X-B") == 0,
	    "two Connection fields make one list (%s)",
	    list != NULL ? list : "none");
	free(list);
	ok(header_listed("close, X-A", "x-a", 3), "Connection lists x-a");
	ok(!header_listed("close, X-AB", "x-a", 3), "but not as a prefix");
	ok(!header_listed(NULL, "x-a", 3), "no Connection lists nothing");
	for (i = 0; i < sizeof(upstreams) / sizeof(upstreams[0]); i++)
		test_upstream(&upstreams[i]);
	for (i = 0; i < sizeof(h2cs) / sizeof(h2cs[0]); i++)
		test_h2c(i, &h2cs[i]);
	return done_testing();
}
