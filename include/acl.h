/* SPDX-License-Identifier: ISC */
/*
 * acl.c: who may use the sidecar ("allow" networks, "bots" ids).
 */
#ifndef ACL_H
#define ACL_H

#include <stddef.h>

struct acl_net {
	int		 an_family;
	int		 an_bits;
	unsigned char	 an_addr[16];
};

struct config;
struct sockaddr;

int	 acl_parse(struct acl_net *, int, int *, const char *);
int	 acl_match(const struct acl_net *, int, const struct sockaddr *);
int	 acl_loopback(const struct sockaddr *);
int	 acl_bots_parse(char [][24], int, int *, const char *);
int	 acl_peer_allowed(const struct config *, const struct sockaddr *);
int	 acl_bot_allowed(const struct config *, const char *);

#endif /* ACL_H */
