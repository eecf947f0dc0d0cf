/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * A service as a source describes it: name, namespace, ports and
 * endpoints. The static config and the Kubernetes decoder both produce
 * these; the registry takes them. Plain data, any thread.
 */
#ifndef MESHDNS_SERVICE_H
#define MESHDNS_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SVC_DEFAULT_WEIGHT	100
#define SVC_MAX_WEIGHT		10000
#define SVC_DEFAULT_PANIC_PCT	0	/* off */
#define SVC_DEFAULT_SLOW_START_S 0	/* off */

enum svc_proto {
	SVC_PROTO_TCP = 0,
	SVC_PROTO_UDP,
	SVC_PROTO_SCTP,
};

struct svc_port {
	char *name;			/* "" for an unnamed port (no SRV name) */
	uint16_t port;
	enum svc_proto proto;
};

struct svc_endpoint {
	int family;			/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	char *hostname;			/* NULL: derived from the address */
	char *zone;			/* NULL: unknown */
	uint32_t weight;		/* base weight, 0..SVC_MAX_WEIGHT */
	bool ready;			/* the source's readiness */
	char **for_zones;		/* topology hints: zones it serves */
	size_t n_for_zones;
};

enum svc_probe_type {
	SVC_PROBE_NONE = 0,		/* trust the source's readiness only */
	SVC_PROBE_HTTP,
	SVC_PROBE_HTTPS,
	SVC_PROBE_TCP,
};

enum svc_probe_mode {
	SVC_PROBE_MODE_DEFAULT = 0,	/* the source's default */
	SVC_PROBE_MODE_ALL,		/* probe every endpoint all the time */
	SVC_PROBE_MODE_ON_DEMAND,	/* only while the service is asked for */
};

#define SVC_PROBE_DEFAULT_INTERVAL_MS	2000
#define SVC_PROBE_DEFAULT_TIMEOUT_MS	1000
#define SVC_PROBE_DEFAULT_RISE		2
#define SVC_PROBE_DEFAULT_FALL		3
#define SVC_PROBE_DEFAULT_JITTER_PCT	10

/*
 * The probe interval and timeout a source may set: the config file's
 * ranges, and the minimums of the meshdns.io/probe-* annotations (whose
 * timeout is then cut to the interval). Probing an endpoint more often
 * than ten times a second is load, not health checking.
 */
#define SVC_PROBE_MIN_INTERVAL_MS	100
#define SVC_PROBE_MAX_INTERVAL_MS	3600000
#define SVC_PROBE_MIN_TIMEOUT_MS	10
#define SVC_PROBE_MAX_TIMEOUT_MS	600000

/** How to check a service's endpoints. */
struct svc_probe {
	enum svc_probe_type type;
	uint16_t port;			/* 0: the service's first port */
	char *path;			/* HTTP: request path, NULL = "/" */
	char *host;			/* HTTP: Host header, NULL = address */
	bool tls_verify;		/* HTTPS: check the certificate */
	uint16_t status_min;		/* HTTP: passing status range */
	uint16_t status_max;
	uint32_t interval_ms;
	uint32_t timeout_ms;
	uint16_t rise;			/* passes to become healthy */
	uint16_t fall;			/* failures to become unhealthy */
	uint8_t jitter_pct;		/* intervals shortened by up to this */
};

struct svc_spec {
	char *name;
	char *namespace;
	struct svc_port *ports;
	size_t n_ports;
	struct svc_endpoint *endpoints;
	size_t n_endpoints;
	struct svc_probe probe;
	enum svc_probe_mode probe_mode;
	uint8_t panic_threshold_pct;	/* 0: off */
	bool has_max_answers;		/* false: the global setting */
	uint32_t max_answers;		/* 0: all */
	uint32_t slow_start_s;		/* 0: off */
};

/** Fill @p p with the defaults (type none). */
void svc_probe_init(struct svc_probe *p);

/** Are two probe settings the same? */
bool svc_probe_equal(const struct svc_probe *a, const struct svc_probe *b);

/** The probe's port: its own, else the service's first, else 0. */
uint16_t svc_probe_port(const struct svc_spec *s);

/** "none", "http", "https" or "tcp". */
const char *svc_probe_type_name(enum svc_probe_type t);

/** "tcp", "udp" or "sctp". */
const char *svc_proto_name(enum svc_proto p);

/** Is @p s a lowercase RFC 1123 label (a-z, 0-9, '-', 1..63 chars)? */
bool svc_is_dns1123_label(const char *s);

/** Is @p s a port name (IANA_SVC_NAME: 1..15 chars of a-z0-9-, a letter, no "--")? */
bool svc_is_port_name(const char *s);

/** Free what @p s owns (not @p s itself). */
void svc_spec_deinit(struct svc_spec *s);

/**
 * Deep copy @p src into @p dst.
 * @return 0 or MESHDNS_ENOMEM (dst is then empty)
 */
int svc_spec_copy(struct svc_spec *dst, const struct svc_spec *src);

/**
 * The endpoint's host label: its hostname, or its address with '.' and ':'
 * turned into '-' ("10-0-0-1", "fd00--1").
 * @param out  at least 64 bytes
 */
void svc_endpoint_host(const struct svc_endpoint *ep, char out[64]);

#endif
