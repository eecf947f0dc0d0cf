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
};

struct svc_spec {
	char *name;
	char *namespace;
	struct svc_port *ports;
	size_t n_ports;
	struct svc_endpoint *endpoints;
	size_t n_endpoints;
};

/** "tcp", "udp" or "sctp". */
const char *svc_proto_name(enum svc_proto p);

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
