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

#include "tgsidecar.h"

static int
acl_parse_one(struct acl_net *n, const char *s, size_t len)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long		 bits;
	int		 max;

	if (len == 0 || len >= sizeof(buf))
		return -1;
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
		return -1;
	bits = max;
	if (slash != NULL) {
		if (!isdigit((unsigned char)*slash))
			return -1;
		bits = strtol(slash, &end, 10);
		if (*end != '\0' || bits < 0 || bits > max)
			return -1;
	}
	n->an_bits = (int)bits;
	return 0;
}

/* "10.0.0.0/8, ::1" into nets; -1 on a bad entry or too many. */
int
acl_parse(struct acl_net *nets, int max, int *count, const char *list)
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
		if (n == max || acl_parse_one(&nets[n], p, e - p) == -1)
			return -1;
		n++;
		p = e;
	}
	if (n == 0)
		return -1;
	*count = n;
	return 0;
}

static int
acl_match_net(const struct acl_net *n, const unsigned char *addr)
{
	int	 full = n->an_bits / 8, rest = n->an_bits % 8;

	if (memcmp(n->an_addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((n->an_addr[full] ^ addr[full]) & (0xff << (8 - rest))) == 0;
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
		return 0;
	for (i = 0; i < count; i++)
		if (nets[i].an_family == family &&
		    acl_match_net(&nets[i], addr))
			return 1;
	return 0;
}

int
acl_loopback(const struct sockaddr *sa)
{
	static struct acl_net	 lo[2];
	static int		 nlo;

	if (nlo == 0 && acl_parse(lo, 2, &nlo, "127.0.0.0/8, ::1") == -1)
		return 0;
	return acl_match(lo, nlo, sa);
}

/* Bot ids: "123, 456"; -1 on anything but digits. */
int
acl_bots_parse(char bots[][24], int max, int *count, const char *list)
{
	const char	*p = list, *e;
	int		 n = 0;

	for (;;) {
		while (isspace((unsigned char)*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		for (e = p; isdigit((unsigned char)*e); e++)
			;
		if (e == p || e - p >= 24 || n == max ||
		    (*e != '\0' && *e != ',' && !isspace((unsigned char)*e)))
			return -1;
		memcpy(bots[n], p, e - p);
		bots[n][e - p] = '\0';
		n++;
		p = e;
	}
	if (n == 0)
		return -1;
	*count = n;
	return 0;
}

int
acl_bot_allowed(const struct config *cfg, const char *bot)
{
	int	 i;

	if (cfg->cfg_nbots == 0)
		return 1;
	for (i = 0; i < cfg->cfg_nbots; i++)
		if (strcmp(cfg->cfg_bots[i], bot) == 0)
			return 1;
	return 0;
}
