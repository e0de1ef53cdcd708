/* SPDX-License-Identifier: ISC */
/*
 * acl.c: who may use the sidecar.  Tables of lists, addresses and the
 * answer a user expects.
 */
#include "config.h"

#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "acl.h"
#include "conf.h"
#include "tap.h"

static const struct {
	const char	*ac_list;
	const char	*ac_peer;
	int		 ac_rc;		/* acl_parse() */
	int		 ac_match;
} acl_cases[] = {
	{ "10.0.0.0/8", "10.1.2.3", 0, 1 },
	{ "10.0.0.0/8", "11.1.2.3", 0, 0 },
	{ "127.0.0.2/32", "127.0.0.1", 0, 0 },
	{ "127.0.0.2/32", "127.0.0.2", 0, 1 },
	{ "192.168.1.128/25", "192.168.1.200", 0, 1 },
	{ "192.168.1.128/25", "192.168.1.100", 0, 0 },
	{ "0.0.0.0/0", "8.8.8.8", 0, 1 },
	{ "10.0.0.0/8, ::1", "::1", 0, 1 },
	{ "fd00::/8", "fd12::1", 0, 1 },
	{ "fd00::/8", "fe80::1", 0, 0 },
	{ "10.0.0.0/8", "::ffff:10.9.9.9", 0, 1 },	/* v4-mapped */
	{ " 10.0.0.1 ,, 10.0.0.2 ", "10.0.0.2", 0, 1 },
	{ "", NULL, -1, 0 },
	{ " , ", NULL, -1, 0 },
	{ "10.0.0.0/33", NULL, -1, 0 },
	{ "::/129", NULL, -1, 0 },
	{ "300.1.1.1", NULL, -1, 0 },
	{ "10.0.0.0/", NULL, -1, 0 },
	{ "10.0.0.0/-1", NULL, -1, 0 },
	{ "example.com", NULL, -1, 0 },
};

static const struct {
	const char	*bc_list;
	int		 bc_rc;
	int		 bc_count;
	const char	*bc_first;
} bot_cases[] = {
	{ "123456", 0, 1, "123456" },
	{ "1, 22,333", 0, 3, "1" },
	{ " 42 ", 0, 1, "42" },
	{ "", -1, 0, NULL },
	{ "12a", -1, 0, NULL },
	{ "bot123", -1, 0, NULL },
	{ "123456789012345678901234567890", -1, 0, NULL },
};

static void
peer(struct sockaddr_storage *ss, const char *addr)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &sin->sin_addr);
	}
}

int
main(void)
{
	struct acl_net		 nets[CONFIG_ALLOW_MAX];
	struct sockaddr_storage	 ss;
	struct config		 cfg;
	char			 bots[CONFIG_BOTS_MAX][24];
	size_t			 i;
	int			 n, rc;

	for (i = 0; i < sizeof(acl_cases) / sizeof(acl_cases[0]); i++) {
		n = 0;
		rc = acl_parse(nets, CONFIG_ALLOW_MAX, &n, acl_cases[i].ac_list);
		is_int(rc, acl_cases[i].ac_rc, "allow \"%s\" parses as %d",
		    acl_cases[i].ac_list, acl_cases[i].ac_rc);
		if (rc == -1 || acl_cases[i].ac_peer == NULL)
			continue;
		peer(&ss, acl_cases[i].ac_peer);
		is_int(acl_match(nets, n, (struct sockaddr *)&ss),
		    acl_cases[i].ac_match, "allow \"%s\": %s %s",
		    acl_cases[i].ac_list, acl_cases[i].ac_peer,
		    acl_cases[i].ac_match ? "allowed" : "refused");
	}
	is_int(acl_parse(nets, 2, &n, "1.1.1.1, 2.2.2.2, 3.3.3.3"), -1,
	    "more entries than room is an error");

	peer(&ss, "127.0.0.5");
	ok(acl_loopback((struct sockaddr *)&ss), "127.0.0.5 is loopback");
	peer(&ss, "::1");
	ok(acl_loopback((struct sockaddr *)&ss), "::1 is loopback");
	peer(&ss, "10.0.0.1");
	ok(!acl_loopback((struct sockaddr *)&ss), "10.0.0.1 is not loopback");

	for (i = 0; i < sizeof(bot_cases) / sizeof(bot_cases[0]); i++) {
		n = 0;
		rc = acl_bots_parse(bots, CONFIG_BOTS_MAX, &n,
		    bot_cases[i].bc_list);
		is_int(rc, bot_cases[i].bc_rc, "allow_bots \"%s\" parses as %d",
		    bot_cases[i].bc_list, bot_cases[i].bc_rc);
		if (rc == 0) {
			is_int(n, bot_cases[i].bc_count, "  %d bot(s)",
			    bot_cases[i].bc_count);
			is_str(bots[0], bot_cases[i].bc_first, "  first is %s",
			    bot_cases[i].bc_first);
		}
	}

	memset(&cfg, 0, sizeof(cfg));
	ok(acl_bot_allowed(&cfg, "999"), "no allow_bots: any bot");
	acl_bots_parse(cfg.cfg_bots, CONFIG_BOTS_MAX, &cfg.cfg_nbots, "1, 22");
	ok(acl_bot_allowed(&cfg, "22"), "allow_bots 1, 22: bot 22 allowed");
	ok(!acl_bot_allowed(&cfg, "2"), "allow_bots 1, 22: bot 2 refused");
	ok(!acl_bot_allowed(&cfg, "221"), "allow_bots 1, 22: bot 221 refused");

	peer(&ss, "10.0.0.7");
	ok(acl_peer_allowed(&cfg, (struct sockaddr *)&ss),
	    "no allow: any peer (the listeners stay on loopback)");
	acl_parse(cfg.cfg_allow, CONFIG_ALLOW_MAX, &cfg.cfg_nallow,
	    "10.0.0.0/24");
	ok(acl_peer_allowed(&cfg, (struct sockaddr *)&ss),
	    "allow 10.0.0.0/24: 10.0.0.7 allowed");
	peer(&ss, "10.0.1.7");
	ok(!acl_peer_allowed(&cfg, (struct sockaddr *)&ss),
	    "allow 10.0.0.0/24: 10.0.1.7 refused");
	return done_testing();
}
