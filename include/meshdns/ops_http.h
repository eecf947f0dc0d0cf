/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The operations endpoint (libevent evhttp, loop thread): /metrics in the
 * Prometheus text format, /healthz, /readyz, /debug/services and
 * /debug/services/NS/NAME. It reads the same snapshots and counters the
 * DNS path uses; it never blocks the loop for longer than one response.
 */
#ifndef MESHDNS_OPS_HTTP_H
#define MESHDNS_OPS_HTTP_H

#include <stdbool.h>

#include "meshdns/config.h"

struct event_base;
struct registry;
struct dns_server;
struct prober;
struct k8s_source;
struct ops_http;

/** What the endpoint reports on; pointers may be NULL (module absent). */
struct ops_sources {
	struct registry *reg;
	struct dns_server *dns;
	struct prober *prober;
	struct k8s_source *k8s;
	const char *node_name;
};

/**
 * Listen on @p addr. @return NULL if it cannot bind (logged).
 * @p src is copied; the modules it points to must outlive the endpoint.
 */
struct ops_http *ops_http_create(struct event_base *base, const struct config_listen *addr,
				 const struct ops_sources *src);

/** Update a module pointer (e.g. after it was created). */
void ops_http_set_sources(struct ops_http *o, const struct ops_sources *src);

/** NULL is fine. */
void ops_http_delete(struct ops_http *o);

/**
 * One endpoint's facts as "key=value ..." (the TXT _status and /debug
 * share them). @return chars written (truncated at @p len - 1).
 */
struct snap_service;
size_t ops_endpoint_facts(const struct snap_service *svc, uint32_t ep,
			  const struct prober *pr, char *out, size_t len);

#endif
