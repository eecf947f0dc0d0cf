/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The Kubernetes source: connects (explicit settings, a kubeconfig, or the
 * in-cluster service account), lists and watches Services and
 * EndpointSlices, joins them by the kubernetes.io/service-name label and
 * keeps the registry in step. Until the first lists are complete the
 * registry is marked unsynced, so cluster names are answered SERVFAIL, not
 * NXDOMAIN. Loop thread only.
 */
#ifndef MESHDNS_K8S_SOURCE_H
#define MESHDNS_K8S_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "meshdns/config.h"
#include "meshdns/registry.h"

struct event_base;
struct k8s_source;

/** Counters for logs and metrics. */
struct k8s_source_stats {
	uint64_t services;		/* Services known */
	uint64_t slices;		/* EndpointSlices known */
	uint64_t bad_objects;		/* skipped: malformed or incomplete */
	uint64_t events;		/* objects applied */
	uint64_t relists;
	uint64_t bad_lines;
	uint64_t api_errors;
	bool synced;
};

/**
 * Called with our Node's topology.kubernetes.io/zone label once it is
 * read (only when the config names no node.zone). @return 0, or an error
 * (not logged as learned).
 */
typedef int (*k8s_zone_cb)(void *arg, const char *zone);

/**
 * Start the source from the "kubernetes" config section.
 * @param reg  the registry it feeds (not owned)
 * @return NULL on a configuration problem (logged: no server, unreadable
 *         kubeconfig, ...)
 */
struct k8s_source_params {
	const struct config_k8s *api;	/* the API server, credentials, what to watch */
	const char *node_name;		/* read this Node's zone; NULL: do not */
	k8s_zone_cb zone_cb;		/* told the zone; NULL: nobody */
	void *zone_arg;
};

struct k8s_source *k8s_source_create(struct event_base *base, struct registry *reg,
				     const struct k8s_source_params *p);

/** Stop watching and free. The registry keeps what it has. NULL is fine. */
void k8s_source_delete(struct k8s_source *src);

/** Fill @p st with current counters. */
void k8s_source_stats(const struct k8s_source *src, struct k8s_source_stats *st);

#endif
