/* SPDX-License-Identifier: ISC */
/*
 * Proxy authentication that needs more than a user and a password.
 *
 * libcurl's GSS-API (Negotiate) proxy auth is only tried when a user is
 * set; the ticket cache (KRB5CCNAME, or a client keytab through
 * KRB5_CLIENT_KTNAME) provides the identity, so the user is empty: ":",
 * as curl's "-U :".  The environment is left as it came: GSS-API reads
 * it in the transfer.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <curl/curl.h>

#include "conf.h"
#include "proxy.h"
#include "proxyauth.h"

/* CURLOPT_PROXYUSERPWD for a proxy with no user, or NULL: none. */
const char *
proxyauth_userpwd(const struct config *cfg, const struct proxy *px)
{
	if (px->px_scheme == PROXY_NONE || proxy_is_socks(px) ||
	    px->px_user != NULL)
		return (NULL);
	if ((cfg->cfg_proxy_auth & CURLAUTH_NEGOTIATE) == 0)
		return (NULL);
	return (":");
}

/*
 * After "proxy X answered 407 to CONNECT for upstream Y" in desc: under
 * Negotiate, what the cure is, unless the proxy offered no Negotiate
 * (avail: CURLINFO_PROXYAUTH_AVAIL, 0 if not known).
 */
void
proxyauth_hint(const struct config *cfg, long avail, long code, char *desc,
    size_t len)
{
	size_t	 n = strlen(desc);

	if (code != 407 || (cfg->cfg_proxy_auth & CURLAUTH_NEGOTIATE) == 0 ||
	    (avail != 0 && (avail & CURLAUTH_NEGOTIATE) == 0) || n >= len)
		return;
	snprintf(desc + n, len - n, ": the proxy asked for Kerberos "
	    "(Negotiate) and no valid ticket was found: run kinit as the "
	    "user the sidecar runs as, or set KRB5CCNAME to its ticket cache "
	    "(or KRB5_CLIENT_KTNAME to a keytab)");
}
