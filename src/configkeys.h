/* SPDX-License-Identifier: ISC */
/*
 * Private to the config files: the key table (config_keys.c), the value
 * setters (config_set.c), the command line (config_cli.c) and the
 * sources and load rules (config.c). Others use include/conf.h.
 */
#ifndef TGS_CONFIGKEYS_H
#define TGS_CONFIGKEYS_H

#include <stddef.h>
#include <stdio.h>

#include "conf.h"

#define CONFIG_ENV_PREFIX	"TGSIDECAR_"
#define CONFIG_NAMELEN		64
#define CONFIG_KEYS_MAX		64	/* bounds the getopt tables */

/* State of one config_load() beyond what struct config holds. */
struct config_load {
	struct config	*cl_cfg;
	int		 cl_proxy_set;	/* by any source, "direct" too */
	char		*cl_user;
	char		*cl_pass;
	char		*cl_pwfile;
	char		 cl_pwfile_where[TGS_ERRLEN];
};

struct config_key;
typedef int (*config_setter)(struct config_load *, const struct config_key *,
    const char *, char *, size_t);

struct config_key {
	const char	*ck_name;	/* file key; env and flag derive */
	int		 ck_short;	/* short flag, or 0 */
	config_setter	 ck_set;
	size_t		 ck_off;	/* field of struct config, if any */
	const char	*ck_def;	/* default value, or NULL for none */
	const char	*ck_arg;	/* for config_usage() */
	const char	*ck_help;	/* the default is added to it */
};

#define CFG(f)	offsetof(struct config, f)

/* config_keys.c */
extern const struct config_key	 config_keys[];
extern const size_t		 config_nkeys;
const struct config_key	*config_keys_find(const char *);
void	 config_keys_name(const struct config_key *, int, char *, size_t);

/* config_set.c */
int	 config_set_listen(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_upstream(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_proxy(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_user(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_password(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_pwfile(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_auth(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_cafile(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_size(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_headsize(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_duration(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_loglevel(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_logfmt(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_bool(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_rate(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_count(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_acl(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_runuser(struct config_load *, const struct config_key *,
	    const char *, char *, size_t);
int	 config_set_apply(struct config_load *, const struct config_key *,
	    const char *, const char *, char *, size_t);
int	 config_set_pwfile_read(struct config_load *, char *, size_t);
const char	*config_set_quote(const char *, char *, size_t);
int	 config_set_str(char **, const char *, char *, size_t);
void	 config_set_secret_free(char **);

/* config_cli.c */
struct config_flag {
	const struct config_key	*cf_key;
	const char		*cf_val;
};
int	 config_cli_getopt(struct config_cli *, int, char **, const char **,
	    struct config_flag *, size_t *, char *, size_t);
int	 config_cli_apply(struct config_load *, struct config_flag *, size_t,
	    char *, size_t);

#endif
