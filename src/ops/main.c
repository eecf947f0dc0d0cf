/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Command line: meshdns [-t] -c FILE [-l LEVEL] | --config-keys | -V | -h.
 * The only place that calls exit().
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/config.h"
#include "meshdns/config_schema.h"
#include "meshdns/daemon.h"
#include "meshdns/log.h"

#define DEFAULT_CONFIG SYSCONFDIR "/meshdns/meshdns.conf"
#define OPT_CONFIG_KEYS	256	/* long options without a letter */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: meshdns [-t] [-c FILE] [-l LEVEL]\n"
		"       meshdns --config-keys | -V | -h\n"
		"\n"
		"Per-node DNS discovery and health agent for service meshes.\n"
		"\n"
		"  -c FILE   config file (default %s)\n"
		"  -t        check the config file and exit: 0 if valid, 1 with\n"
		"            one FILE:LINE: KEY: message line per error\n"
		"  -l LEVEL  log level: debug, info, warn or error (default info,\n"
		"            or the config's log_level)\n"
		"  -T N, --threads N\n"
		"            answer UDP with N worker threads (default 1, or the\n"
		"            config's threads)\n"
		"  --config-keys\n"
		"            print every config key with its type, default, whether\n"
		"            a reload applies it and what it is for, and exit\n"
		"  -V        print the version and exit\n"
		"  -h        print this help and exit\n"
		"\n"
		"meshdns runs in the foreground and logs to stderr. SIGHUP reloads\n"
		"the config; SIGTERM and SIGINT stop it. See meshdns(8).\n",
		DEFAULT_CONFIG);
}

/* What the command line asks for. */
struct cli {
	const char *path;
	bool check_only;
	bool level_set;
	enum log_level level;
	unsigned long threads;		/* 0: the config's */
};

/* @return -1 to go on, else the exit status (an option that answers
 * itself, or a bad command line) */
static int parse_cli(int argc, char **argv, struct cli *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 'T' },
		{ "config-keys", no_argument, NULL, OPT_CONFIG_KEYS },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tl:T:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'T':
			errno = 0;
			o->threads = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || o->threads < 1 ||
			    o->threads > CONFIG_MAX_THREADS) {
				fprintf(stderr, "meshdns: --threads %s: not a number from 1 to %d\n",
					optarg, CONFIG_MAX_THREADS);
				return 2;
			}
			break;
		case 'c':
			o->path = optarg;
			break;
		case 't':
			o->check_only = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &o->level) < 0) {
				fprintf(stderr, "meshdns: -l %s: not debug, info, warn or error\n",
					optarg);
				return 2;
			}
			o->level_set = true;
			break;
		case OPT_CONFIG_KEYS:
			config_schema_print(stdout);
			return 0;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "meshdns: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/* Load the config; with -t say whether it is valid. @return -1 to run
 * *cfg, else the exit status */
static int load(const struct cli *o, struct config **cfg)
{
	struct config_errors errs = { 0 };
	int r = config_load(o->path, cfg, &errs);

	if (r < 0) {
		if (errs.text)
			fputs(errs.text, stderr);
		else
			fprintf(stderr, "meshdns: %s: %s\n", o->path, meshdns_strerror(r));
		if (o->check_only)
			fprintf(stderr, "%s: %u error%s\n", o->path, errs.count,
				errs.count == 1 ? "" : "s");
		free(errs.text);
		return 1;
	}
	free(errs.text);
	if (o->check_only) {
		printf("%s: ok (%zu services)\n", o->path, (*cfg)->n_services);
		config_delete(*cfg);
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct cli o = { .path = DEFAULT_CONFIG, .level = LOG_LEVEL_INFO };
	struct config *cfg = NULL;
	struct daemon *d;
	int r;

	if ((r = parse_cli(argc, argv, &o)) >= 0 || (r = load(&o, &cfg)) >= 0)
		return r;
	if (o.threads) {
		cfg->threads = (uint32_t)o.threads;
		cfg->threads_cli = true;
	}
	log_set_level(o.level_set ? o.level : cfg->log_level_set ? cfg->log_level : o.level);
	log_set_json(cfg->log_json);
	signal(SIGPIPE, SIG_IGN);
	/* probes and TCP clients need descriptors: take what we may */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "meshdns: libcurl initialisation failed\n");
		return 1;
	}
	d = daemon_create(cfg);
	if (!d) {
		curl_global_cleanup();
		return 1;
	}
	r = daemon_run(d);
	daemon_delete(d);
	curl_global_cleanup();
	log_info("stopped");
	return r < 0 ? 1 : 0;
}
