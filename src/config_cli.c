/* SPDX-License-Identifier: ISC */
/*
 * The command line: getopt_long options made from the key table, the
 * flags that are not keys (-c, -t, -V, -h), and the -h text.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "configkeys.h"
#include "envopt.h"

#define CONFIG_OPT_KEY		1000	/* getopt val for table keys */

/* Flags that are not config keys, and the terminator. */
static const struct option config_cli_opts[] = {
	{ "config",		required_argument,	NULL,	'c' },
	{ "check-config",	no_argument,		NULL,	't' },
	{ "version",		no_argument,		NULL,	'V' },
	{ "help",		no_argument,		NULL,	'h' },
	{ NULL,			0,			NULL,	0 },
};
#define CONFIG_NCLI	(sizeof(config_cli_opts) / sizeof(config_cli_opts[0]))

/* Name the bad option; of "--opt=value" only the "--opt" part. */
static void
config_cli_getopt_err(int c, int argc, char **argv, const struct option *lo,
    char *err, size_t errlen)
{
	const char	*opt, *eq, *what;
	size_t		 n;

	what = c == ':' ? "missing argument for option" : "unknown option";
	opt = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
	if (strncmp(opt, "--", 2) != 0 && optopt > 0 && optopt < 256 &&
	    isprint(optopt)) {
		snprintf(err, errlen, "%s -%c", what, optopt);
		return;
	}
	n = (eq = strchr(opt, '=')) != NULL ? (size_t)(eq - opt) : strlen(opt);
	for (; eq != NULL && lo->name != NULL; lo++)
		if (lo->has_arg == no_argument && n > 2 &&
		    strncmp(lo->name, opt + 2, n - 2) == 0 &&
		    lo->name[n - 2] == '\0')
			what = "no argument allowed for option";
	snprintf(err, errlen, "%s %.*s", what, (int)(n > 64 ? 64 : n), opt);
}

/* Long options and the short option string, from the key table. */
static void
config_cli_options(struct option *longopts, char names[][CONFIG_NAMELEN],
    char *optstr, size_t optlen)
{
	size_t	 i, n = strlen(optstr);

	for (i = 0; i < config_nkeys; i++) {
		config_keys_name(&config_keys[i], 0, names[i], CONFIG_NAMELEN);
		longopts[i].name = names[i];
		longopts[i].has_arg = required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = CONFIG_OPT_KEY + (int)i;
		if (config_keys[i].ck_short != 0 && n + 3 < optlen) {
			optstr[n++] = (char)config_keys[i].ck_short;
			optstr[n++] = ':';
			optstr[n] = '\0';
		}
	}
	memcpy(&longopts[i], config_cli_opts, sizeof(config_cli_opts));
}

/*
 * Parse argv into cli, the config file path and the key flags, which are
 * applied later, after the file and the environment.
 */
int
config_cli_getopt(struct config_cli *cli, int argc, char **argv,
    const char **path, struct config_flag *flags, size_t *nflags,
    char *err, size_t errlen)
{
	char		 names[CONFIG_KEYS_MAX][CONFIG_NAMELEN];
	struct option	 longopts[CONFIG_KEYS_MAX + CONFIG_NCLI];
	char		 optstr[64] = "+:c:tVh";
	size_t		 i;
	int		 c;

	config_cli_options(longopts, names, optstr, sizeof(optstr));
	envopt_restart();
	*nflags = 0;
	while ((c = getopt_long(argc, argv, optstr, longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			continue;
		case 't':
			cli->cli_check = 1;
			continue;
		case 'V':
			cli->cli_version = 1;
			continue;
		case 'h':
			cli->cli_help = 1;
			continue;
		case '?':
		case ':':
			break;
		default:
			if (c >= CONFIG_OPT_KEY)
				flags[*nflags].cf_key =
				    &config_keys[c - CONFIG_OPT_KEY];
			else
				for (i = 0; i < config_nkeys; i++)
					if (config_keys[i].ck_short == c)
						flags[*nflags].cf_key =
						    &config_keys[i];
			flags[(*nflags)++].cf_val = optarg;
			continue;
		}
		config_cli_getopt_err(c, argc, argv, longopts, err, errlen);
		return (-1);
	}
	return (envopt_operands(argc, err, errlen));
}

int
config_cli_apply(struct config_load *cl, struct config_flag *flags,
    size_t nflags, char *err, size_t errlen)
{
	const struct config_key	*ck;
	char			 where[CONFIG_NAMELEN + 2];
	size_t			 i;

	for (i = 0; i < nflags; i++) {
		ck = flags[i].cf_key;
		where[0] = where[1] = '-';
		config_keys_name(ck, 0, where + 2, sizeof(where) - 2);
		if (config_set_apply(cl, ck, flags[i].cf_val, where, err,
		    errlen) == -1)
			return (-1);
	}
	return (0);
}

/* "--some-key ARG" for the usage; returns its length. */
static int
config_cli_flag(const struct config_key *ck, char *flag, size_t len)
{
	size_t	 n;

	n = (size_t)snprintf(flag, len, "--");
	config_keys_name(ck, 0, flag + n, len - n);
	n = strlen(flag);
	snprintf(flag + n, len - n, " %s", ck->ck_arg);
	return ((int)strlen(flag));
}

static void
config_cli_row(FILE *fp, int sc, const char *flag, int width,
    const char *help, const char *def)
{
	if (sc != 0)
		fprintf(fp, "  -%c, %-*s  %s", sc, width, flag, help);
	else
		fprintf(fp, "      %-*s  %s", width, flag, help);
	if (def != NULL)
		fprintf(fp, " (%s)", def);
	fputc('\n', fp);
}

void
config_usage(FILE *fp)
{
	const struct config_key	*ck;
	char			 flag[CONFIG_NAMELEN + 24];
	size_t			 i;
	int			 n, width;

	/* One column for every description, however long a new key is. */
	width = (int)strlen("--check-config");
	for (i = 0; i < config_nkeys; i++) {
		n = config_cli_flag(&config_keys[i], flag, sizeof(flag));
		if (n > width)
			width = n;
	}
	fprintf(fp, "usage: tgsidecar [-htV] [-c FILE] [--KEY VALUE ...]\n\n");
	config_cli_row(fp, 'c', "--config FILE", width,
	    "config file (or TGSIDECAR_CONFIG)", NULL);
	config_cli_row(fp, 't', "--check-config", width,
	    "check the configuration and exit", NULL);
	config_cli_row(fp, 'V', "--version", width,
	    "print the version and exit", NULL);
	config_cli_row(fp, 'h', "--help", width, "print this help and exit",
	    NULL);
	fprintf(fp, "\n"
	    "Settings (defaults in parentheses). Each --some-key is also\n"
	    "TGSIDECAR_SOME_KEY in the environment and some_key in the file;\n"
	    "flags beat the environment, which beats the file.\n\n");
	for (i = 0; i < config_nkeys; i++) {
		ck = &config_keys[i];
		config_cli_flag(ck, flag, sizeof(flag));
		config_cli_row(fp, ck->ck_short, flag, width, ck->ck_help,
		    ck->ck_def);
	}
	fprintf(fp, "\n"
	    "Proxy URL: {http|https|socks5|socks5h|socks4a}://[user:pass@]"
	    "host[:port]\n"
	    "Sizes: 512K, 50M; durations: 500ms, 30s, 2m.\n"
	    "Without a proxy setting, https_proxy, HTTPS_PROXY, all_proxy or "
	    "ALL_PROXY\nis used; \"direct\" ignores them.\n");
}
