/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The configuration file: JSON with comments, validated completely before
 * use. Every problem becomes one "FILE:LINE: KEY: message" line, so that
 * `meshdns -t` reports all of them at once. Loop thread only.
 */
#ifndef MESHDNS_CONFIG_H
#define MESHDNS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshdns/error.h"
#include "meshdns/log.h"
#include "meshdns/service.h"

#define CONFIG_DEFAULT_DOMAIN		"mesh.local"
#define CONFIG_DEFAULT_LISTEN		"127.0.0.1:53"
#define CONFIG_DEFAULT_TTL_S		5
#define CONFIG_DEFAULT_NEG_TTL_S	5
#define CONFIG_DEFAULT_EDNS_SIZE	1232
#define CONFIG_DEFAULT_TCP_MAX		1000
#define CONFIG_DEFAULT_TCP_IDLE_MS	10000
#define CONFIG_DEFAULT_PROBE_MAX_IN_FLIGHT 1024
#define CONFIG_DEFAULT_PROBE_IDLE_S	300
#define CONFIG_DEFAULT_ZONE_MIN_SHARE	30
#define CONFIG_DEFAULT_HTTP		"127.0.0.1:9153"
#define CONFIG_DEFAULT_GRACE_MS		1000
#define CONFIG_MAX_THREADS		64
#define CONFIG_DEFAULT_THREADS		1	/* the event loop answers UDP */
#define CONFIG_DEFAULT_COALESCE_US	400
#define CONFIG_DEFAULT_SYNC_WAIT_MS	15000
#define CONFIG_DEFAULT_MAX_ANSWERS	0	/* all that fit */
#define CONFIG_DEFAULT_K8S_WATCH_TIMEOUT_S 300
#define CONFIG_DEFAULT_K8S_PAGE_SIZE	500
#define CONFIG_DEFAULT_FWD_TIMEOUT_MS	1000
#define CONFIG_DEFAULT_FWD_MAX_IN_FLIGHT 1024
#define CONFIG_DEFAULT_CACHE_MAX_ENTRIES 10000
#define CONFIG_DEFAULT_CACHE_MIN_TTL	0
#define CONFIG_DEFAULT_CACHE_MAX_TTL	3600
#define CONFIG_DEFAULT_CACHE_NEG_MAX_TTL 1800
#define CONFIG_DEFAULT_CACHE_STALE_S	3600
#define CONFIG_DEFAULT_RRL_RATE		5000	/* responses/s per prefix */
#define CONFIG_DEFAULT_RRL_SLIP		2
#define CONFIG_DEFAULT_RRL_IPV4_PREFIX	24
#define CONFIG_DEFAULT_RRL_IPV6_PREFIX	56

struct config_listen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char text[64];			/* as written, for logs */
};

/** The "kubernetes" section; NULL strings are unset. */
struct config_k8s {
	bool enabled;			/* the section is present */
	char *server;			/* https://HOST:PORT */
	char *token_file;
	char *ca_file;
	char *client_cert;
	char *client_key;
	bool insecure_skip_tls_verify;
	char **namespaces;		/* empty: all */
	size_t n_namespaces;
	char *kubeconfig;
	uint32_t watch_timeout_s;	/* server-side watch timeout, default 300 */
	uint32_t page_size;		/* LIST limit, default 500 */
};

/** The "forward" and "cache" sections. */
struct config_forward {
	bool enabled;
	struct config_listen *upstreams;	/* "ADDR:PORT" entries */
	size_t n_upstreams;
	char *resolv_conf;			/* read at start instead */
	uint32_t timeout_ms;
	int policy;				/* enum fwd_policy */
	uint32_t max_in_flight;
	bool cache_enabled;
	uint32_t cache_max_entries;
	uint32_t cache_min_ttl;
	uint32_t cache_max_ttl;
	uint32_t cache_negative_max_ttl;
	bool serve_stale;
	uint32_t stale_s;
};

/** A client prefix of the "allow" list. */
struct config_prefix {
	int family;
	uint8_t addr[16];
	uint8_t len;			/* prefix length in bits */
};

struct config {
	char *path;
	struct config_listen *listen;
	size_t n_listen;
	char *domain;			/* lowercase, no trailing dot */
	uint32_t ttl_s;
	uint32_t negative_ttl_s;
	uint16_t edns_buffer_size;
	uint32_t tcp_max_connections;
	uint32_t tcp_idle_timeout_ms;
	bool log_level_set;
	enum log_level log_level;
	struct svc_spec *services;
	size_t n_services;
	uint32_t probe_max_in_flight;	/* probes running at once, at most */
	uint32_t probe_idle_s;		/* on_demand: stop after this unasked */
	enum svc_probe_mode probe_mode;	/* default for static services: all */
	char *node_name;		/* NULL: unknown */
	char *node_zone;		/* NULL: unknown */
	bool zone_preference;
	uint32_t zone_min_share_pct;
	uint32_t max_answers;		/* A/AAAA records at most, 0 = all */
	struct config_k8s k8s;
	bool http_enabled;
	struct config_listen http;	/* ops endpoint, default 127.0.0.1:9153 */
	char *user;			/* drop privileges to it after binding */
	bool log_json;			/* log_format "json" */
	uint32_t shutdown_grace_ms;	/* SIGTERM: keep serving this long */
	uint32_t threads;		/* UDP answering threads; 1: the loop */
	bool threads_cli;		/* set by --threads, not the file */
	uint32_t udp_coalesce_us;	/* latency budget of UDP coalescing naps */
	uint32_t handover_sync_wait_ms;	/* successor: wait for sync to bind */
	struct config_forward fwd;
	struct config_prefix *allow;	/* clients answered; others REFUSED */
	uint32_t rrl_rate;		/* responses/s per client prefix, 0 off */
	uint32_t rrl_slip;
	uint32_t rrl_ipv4_prefix, rrl_ipv6_prefix;
	bool rrl_exempt_loopback;
	size_t n_allow;
};

/**
 * Would a query sent to @p a reach us (one of our listen addresses, or a
 * wildcard listen on its port)? The forwarding loop guard.
 */
bool config_is_listen_address(const struct config *cfg, const struct sockaddr_storage *a);

/** Parse "ADDR/LEN" (or a bare address). @return 0 or MESHDNS_EINVAL */
int config_parse_prefix(const char *text, struct config_prefix *out) MESHDNS_WUR;

/** Is @p addr (of @p family) inside one of the @p n prefixes? v4-mapped
 *  IPv6 addresses count as IPv4. */
bool config_prefix_match(const struct config_prefix *p, size_t n, int family,
			 const uint8_t *addr);

/** Accumulated error lines ("FILE:LINE: KEY: message\n"). */
struct config_errors {
	char *text;			/* NUL-terminated; caller frees */
	size_t len;
	size_t cap;
	unsigned count;
};

/**
 * Read and validate a config file.
 * @param path  file to read
 * @param out   on success a new config, caller frees with config_delete()
 * @param errs  zero-initialised; receives every error; caller frees
 *              errs->text
 * @return 0, MESHDNS_ECONFIG (see errs) or MESHDNS_ENOMEM
 */
int config_load(const char *path, struct config **out, struct config_errors *errs)
	MESHDNS_WUR;

/** Same as config_load() on a string already in memory; @p path names it. */
int config_parse(const char *path, const char *text, size_t len,
		 struct config **out, struct config_errors *errs) MESHDNS_WUR;

/** Free a config. NULL is fine. */
void config_delete(struct config *cfg);

/**
 * Parse "ADDR:PORT" or "[V6ADDR]:PORT" into @p out.
 * @return 0 or MESHDNS_EINVAL
 */
int config_parse_listen(const char *text, struct config_listen *out) MESHDNS_WUR;


#endif
