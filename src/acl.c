/* SPDX-License-Identifier: ISC */
/*
 * Who may use the sidecar: peers by CIDR (needed before it listens
 * anywhere but loopback, since it has no authentication of its own) and
 * bots by id.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include "acl.h"
#include "conf.h"

static int
acl_parse_one(struct acl_net *n, const char *s, size_t len)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long		 bits;
	int		 max;

	if (len == 0 || len >= sizeof(buf))
		return (-1);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->an_addr) == 1) {
		n->an_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, n->an_addr) == 1) {
		n->an_family = AF_INET6;
		max = 128;
	} else
		return (-1);
	bits = max;
	if (slash != NULL) {
		if (!isdigit((unsigned char)*slash))
			return (-1);
		bits = strtol(slash, &end, 10);
		if (*end != '\0' || bits < 0 || bits > max)
			return (-1);
	}
	n->an_bits = (int)bits;
	return (0);
}

/* Call fn on each entry of a comma- or space-separated list; -1 on none. */
static int
acl_split(const char *list, int (*fn)(const char *, size_t, void *),
    void *arg)
{
	const char	*p = list, *e;
	int		 n = 0;

	for (;;) {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ',' &&
		    !isspace((unsigned char)*e); e++)
			;
		if (fn(p, e - p, arg) == -1)
			return (-1);
		n++;
		p = e;
	}
	return (n > 0 ? 0 : -1);
}

struct acl_nets {
	struct acl_net	*an_nets;
	int		 an_max;
	int		 an_count;
};

static int
acl_add_net(const char *s, size_t len, void *arg)
{
	struct acl_nets	*l = arg;

	if (l->an_count == l->an_max ||
	    acl_parse_one(&l->an_nets[l->an_count], s, len) == -1)
		return (-1);
	l->an_count++;
	return (0);
}

/* "10.0.0.0/8, ::1" into nets; -1 on a bad entry or too many. */
int
acl_parse(struct acl_net *nets, int max, int *count, const char *list)
{
	struct acl_nets	 l = { nets, max, 0 };

	if (acl_split(list, acl_add_net, &l) == -1)
		return (-1);
	*count = l.an_count;
	return (0);
}

static int
acl_match_net(const struct acl_net *n, const unsigned char *addr)
{
	int	 full = n->an_bits / 8, rest = n->an_bits % 8;

	if (memcmp(n->an_addr, addr, full) != 0)
		return (0);
	if (rest == 0)
		return (1);
	return (((n->an_addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0);
}

int
acl_match(const struct acl_net *nets, int count, const struct sockaddr *sa)
{
	const unsigned char	*addr;
	unsigned char		 v4[4];
	int			 family = sa->sa_family, i;

	if (family == AF_INET)
		addr = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	else if (family == AF_INET6) {
		addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		/* A v4 peer on a dual-stack socket matches v4 entries. */
		if (IN6_IS_ADDR_V4MAPPED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
			memcpy(v4, addr + 12, 4);
			addr = v4;
			family = AF_INET;
		}
	} else
		return (0);
	for (i = 0; i < count; i++)
		if (nets[i].an_family == family &&
		    acl_match_net(&nets[i], addr))
			return (1);
	return (0);
}

int
acl_loopback(const struct sockaddr *sa)
{
	static struct acl_net	 lo[2];
	static int		 nlo;

	if (nlo == 0 && acl_parse(lo, 2, &nlo, "127.0.0.0/8, ::1") == -1)
		return (0);
	return (acl_match(lo, nlo, sa));
}

struct acl_bots {
	char	(*ab_bots)[24];
	int	  ab_max;
	int	  ab_count;
};

static int
acl_add_bot(const char *s, size_t len, void *arg)
{
	struct acl_bots	*l = arg;
	size_t		 i;

	if (len >= 24 || l->ab_count == l->ab_max)
		return (-1);
	for (i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]))
			return (-1);
	memcpy(l->ab_bots[l->ab_count], s, len);
	l->ab_bots[l->ab_count][len] = '\0';
	l->ab_count++;
	return (0);
}

/* Bot ids: "123, 456"; -1 on anything but digits. */
int
acl_bots_parse(char bots[][24], int max, int *count, const char *list)
{
	struct acl_bots	 l = { bots, max, 0 };

	if (acl_split(list, acl_add_bot, &l) == -1)
		return (-1);
	*count = l.ab_count;
	return (0);
}

/*
 * The peer may use the sidecar under cfg's allow; an empty allow lets
 * every peer in, as config_load() then keeps the listeners on loopback.
 */
int
acl_peer_allowed(const struct config *cfg, const struct sockaddr *sa)
{
	return (cfg->cfg_nallow == 0 || acl_match(cfg->cfg_allow,
	    cfg->cfg_nallow, sa));
}

int
acl_bot_allowed(const struct config *cfg, const char *bot)
{
	int	 i;

	if (cfg->cfg_nbots == 0)
		return (1);
	for (i = 0; i < cfg->cfg_nbots; i++)
		if (strcmp(cfg->cfg_bots[i], bot) == 0)
			return (1);
	return (0);
}
