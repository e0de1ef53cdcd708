/* SPDX-License-Identifier: ISC */
/*
 * Configuration from four sources, strongest first: command-line flags,
 * TGSIDECAR_* environment variables, the config file, built-in defaults.
 * One table of keys (config_keys.c) drives all three parsers; each
 * source is applied in turn (file, env, flags) so the last writer wins.
 * Here: the sources, the rules across keys, and the config's lifetime.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "configkeys.h"
#include "envopt.h"
#include "log.h"
#include "pac.h"

/* The defaults, from the key table. */
void
config_init(struct config *cfg)
{
	struct config_load	 cl;
	char			 err[TGS_ERRLEN];
	int			 refs = cfg->cfg_refs;
	size_t			 i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->cfg_refs = refs;	/* a config_new() one keeps its owner */
	memset(&cl, 0, sizeof(cl));
	cl.cl_cfg = cfg;
	/* Only allocation can fail here; config_load() checks for it. */
	for (i = 0; i < config_nkeys; i++)
		if (config_keys[i].ck_def != NULL)
			(void)config_keys[i].ck_set(&cl, &config_keys[i],
			    config_keys[i].ck_def, err, sizeof(err));
}

/* A heap config with one reference, for the server and reloads. */
struct config *
config_new(void)
{
	struct config	*cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return (NULL);
	cfg->cfg_refs = 1;
	return (cfg);
}

struct config *
config_ref(struct config *cfg)
{
	cfg->cfg_refs++;
	return (cfg);
}

/* The last user of a replaced config frees it. */
void
config_unref(struct config *cfg)
{
	if (cfg == NULL || --cfg->cfg_refs > 0)
		return;
	config_free(cfg);
	free(cfg);
}

void
config_free(struct config *cfg)
{
	int	 i;

	free(cfg->cfg_listen);
	free(cfg->cfg_admin_listen);
	free(cfg->cfg_upstream);
	free(cfg->cfg_upstream_host);
	free(cfg->cfg_upstream_path);
	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		proxy_clear(&cfg->cfg_proxy[i]);
	proxy_clear(&cfg->cfg_pre_proxy);
	free(cfg->cfg_user);
	free(cfg->cfg_noproxy);
	free(cfg->cfg_ca_file);
	free(cfg->cfg_pac);
	memset(cfg, 0, sizeof(*cfg));
}

/* Is the rest of a line blank or a comment? */
static int
config_line_end(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return (*p == '\0' || *p == '#');
}

/*
 * Split "key = value" in place. A quoted value ends at the first quote
 * followed only by blanks or a comment, so it may hold '"' and '#'; an
 * unquoted one ends at a '#' after a blank. Return NULL or a message.
 */
static const char *
config_line(char *line, char **key, char **val)
{
	char	*p, *e, *q;

	for (p = line; isspace((unsigned char)*p); p++)
		;
	if (*p == '\0' || *p == '#') {
		*key = NULL;
		return (NULL);
	}
	if ((e = strchr(p, '=')) == NULL)
		return ("expected \"key = value\"");
	*key = p;
	for (q = e; q > p && isspace((unsigned char)q[-1]); q--)
		;
	*q = '\0';
	if (**key == '\0')
		return ("expected \"key = value\"");
	for (p = e + 1; isspace((unsigned char)*p); p++)
		;
	if (*p == '"') {
		for (q = p + 1; (q = strchr(q, '"')) != NULL; q++)
			if (config_line_end(q + 1))
				break;
		if (q == NULL)
			return ("unterminated quoted value");
		*q = '\0';
		*val = p + 1;
		return (NULL);
	}
	for (q = p; *q != '\0'; q++)
		if (*q == '#' && q > p && isspace((unsigned char)q[-1]))
			break;
	while (q > p && isspace((unsigned char)q[-1]))
		q--;
	*q = '\0';
	*val = p;
	return (NULL);
}

/* A password in a file others can read is worth a warning, not a stop. */
static void
config_file_mode(struct config_load *cl, FILE *fp, const char *path)
{
	struct stat	 st;
	int		 i, secret = cl->cl_pass != NULL ||
			    cl->cl_cfg->cfg_pre_proxy.px_pass != NULL;

	for (i = 0; i < CONFIG_PROXY_MAX; i++)
		if (cl->cl_cfg->cfg_proxy[i].px_pass != NULL)
			secret = 1;
	if (secret && fstat(fileno(fp), &st) == 0 && (st.st_mode & 077))
		log_warnx("%s holds a proxy password but is readable by "
		    "group or others (mode %03o): chmod 600 it", path,
		    (unsigned)(st.st_mode & 0777));
}

static int
config_file(struct config_load *cl, const char *path, char *err,
    size_t errlen)
{
	const struct config_key	*ck;
	FILE			*fp;
	char			*line = NULL, *key, *val, where[TGS_ERRLEN];
	const char		*msg;
	size_t			 sz = 0;
	ssize_t			 n;
	int			 lineno = 0, ret = -1;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return (-1);
	}
	while ((n = getline(&line, &sz, fp)) != -1) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if ((msg = config_line(line, &key, &val)) != NULL) {
			snprintf(err, errlen, "%s: %s", where, msg);
			goto done;
		}
		if (key == NULL)
			continue;
		if ((ck = config_keys_find(key)) == NULL) {
			char	 q[80];

			snprintf(err, errlen, "%s: unknown key \"%s\"", where,
			    config_set_quote(key, q, sizeof(q)));
			goto done;
		}
		if (config_set_apply(cl, ck, val, where, err, errlen) == -1)
			goto done;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error: %s", path,
		    strerror(errno));
		goto done;
	}
	config_file_mode(cl, fp, path);
	ret = 0;
 done:
	if (line != NULL) {
		/* It may have held a password. */
		explicit_bzero(line, sz);
		free(line);
	}
	fclose(fp);
	return (ret);
}

/* An empty variable counts as unset, as with HTTPS_PROXY. */
static int
config_env(struct config_load *cl, char **envp, char *err, size_t errlen)
{
	char		 name[CONFIG_NAMELEN];
	const char	*val;
	size_t		 i;

	for (i = 0; i < config_nkeys; i++) {
		config_keys_name(&config_keys[i], 1, name, sizeof(name));
		if ((val = envopt_get(envp, name)) == NULL)
			continue;
		if (config_set_apply(cl, &config_keys[i], val, name, err,
		    errlen) == -1)
			return (-1);
	}
	return (0);
}

static int
config_secret(const char *pass, char *err, size_t errlen)
{
	char	*esc;

	if (pass == NULL)
		return (0);
	log_secret(pass);
	/* The URL form too, should a proxy URL ever get logged whole. */
	if ((esc = curl_easy_escape(NULL, pass, 0)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	log_secret(esc);
	curl_free(esc);
	return (0);
}

/* Credentials apply to every proxy of the list; "direct" has none. */
static int
config_creds(struct config_load *cl, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	struct proxy	*px;
	int		 i;

	for (i = 0; i < cfg->cfg_nproxy; i++) {
		px = &cfg->cfg_proxy[i];
		if (px->px_scheme == PROXY_NONE)
			continue;
		if (cl->cl_user != NULL) {
			free(px->px_user);
			if ((px->px_user = strdup(cl->cl_user)) == NULL)
				goto nomem;
		}
		if (cl->cl_pass != NULL) {
			config_set_secret_free(&px->px_pass);
			if ((px->px_pass = strdup(cl->cl_pass)) == NULL)
				goto nomem;
		}
		if (config_secret(px->px_pass, err, errlen) == -1)
			return (-1);
	}
	return (0);
 nomem:
	snprintf(err, errlen, "out of memory");
	return (-1);
}

/* Cross-key rules and fallbacks, once every source has been applied. */
static int
config_finish(struct config_load *cl, char **envp, char *err, size_t errlen)
{
	struct config	*cfg = cl->cl_cfg;
	const char	*np;

	if (!cl->cl_proxy_set &&
	    proxy_from_env(&cfg->cfg_proxy[0], envp, err, errlen) == -1)
		return (-1);
	/* NO_PROXY belongs with the proxy variables; a configured proxy wins. */
	if (!cl->cl_proxy_set &&
	    ((np = envopt_get(envp, "no_proxy")) != NULL ||
	    (np = envopt_get(envp, "NO_PROXY")) != NULL))
		if (config_set_str(&cfg->cfg_noproxy, np, err, errlen) == -1)
			return (-1);
	if (pac_config(cfg, err, errlen) == -1)
		return (-1);
	if (cl->cl_pwfile != NULL &&
	    config_set_pwfile_read(cl, err, errlen) == -1)
		return (-1);
	if (config_creds(cl, err, errlen) == -1)
		return (-1);
	if (cfg->cfg_pre_proxy.px_scheme != PROXY_NONE &&
	    cfg->cfg_proxy[0].px_scheme == PROXY_NONE) {
		snprintf(err, errlen, "pre_proxy is set but there is no proxy "
		    "to chain it with");
		return (-1);
	}
	if (config_secret(cfg->cfg_pre_proxy.px_pass, err, errlen) == -1)
		return (-1);
	if (cfg->cfg_prewarm_max > CONFIG_PREWARM_MAX ||
	    cfg->cfg_prewarm > cfg->cfg_prewarm_max) {
		snprintf(err, errlen, "prewarm must not exceed prewarm_max, "
		    "nor prewarm_max %d", CONFIG_PREWARM_MAX);
		return (-1);
	}
	if (cfg->cfg_prewarm_max_idle_ms < 100) {
		snprintf(err, errlen, "prewarm_max_idle must be at least 100ms");
		return (-1);
	}
	if (cfg->cfg_max_inflight < 1) {
		snprintf(err, errlen, "max_inflight must be at least 1");
		return (-1);
	}
	/* No authentication of its own: strangers must be named, not guessed. */
	if (cfg->cfg_nallow == 0 && cfg->cfg_admin_listen != NULL &&
	    !acl_loopback((struct sockaddr *)&cfg->cfg_admin_ss)) {
		snprintf(err, errlen, "admin_listen %s is not a loopback "
		    "address: set allow to the addresses or CIDRs that may use "
		    "it (e.g. allow = 10.0.0.0/8)", cfg->cfg_admin_listen);
		return (-1);
	}
	if (cfg->cfg_nallow == 0 &&
	    !acl_loopback((struct sockaddr *)&cfg->cfg_listen_ss)) {
		snprintf(err, errlen, "listen %s is not a loopback address: "
		    "set allow to the addresses or CIDRs that may use the "
		    "sidecar (e.g. allow = 10.0.0.0/8)", cfg->cfg_listen);
		return (-1);
	}
	return (0);
}

/*
 * Load cfg from flags, environment, file and defaults. -h and -V return
 * early with the defaults, so they work even with a broken config. On
 * failure cfg is freed already (config_free() on it again is harmless).
 */
int
config_load(struct config *cfg, struct config_cli *cli, int argc,
    char **argv, char **envp, char *err, size_t errlen)
{
	struct config_load	 cl;
	struct config_flag	*flags = NULL;
	const char		*path;
	size_t			 nflags = 0;
	int			 ret = -1;

	memset(&cl, 0, sizeof(cl));
	memset(cli, 0, sizeof(*cli));
	config_init(cfg);
	cl.cl_cfg = cfg;
	if (cfg->cfg_listen == NULL || cfg->cfg_upstream == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if ((flags = calloc(argc > 0 ? argc : 1, sizeof(*flags))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	path = envopt_get(envp, CONFIG_ENV_PREFIX "CONFIG");
	if (config_cli_getopt(cli, argc, argv, &path, flags, &nflags, err,
	    errlen) == -1)
		goto done;
	if (cli->cli_help || cli->cli_version) {
		ret = 0;
		goto done;
	}
	if (path != NULL && *path != '\0' &&
	    config_file(&cl, path, err, errlen) == -1)
		goto done;
	if (config_env(&cl, envp, err, errlen) == -1 ||
	    config_cli_apply(&cl, flags, nflags, err, errlen) == -1 ||
	    config_finish(&cl, envp, err, errlen) == -1)
		goto done;
	ret = 0;
 done:
	free(flags);
	free(cl.cl_user);
	config_set_secret_free(&cl.cl_pass);
	free(cl.cl_pwfile);
	if (ret == -1)
		config_free(cfg);
	return (ret);
}
