/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The one place that turns the config, and what the daemon learned at
 * run time (the node's zone from its Node object), into the parameters
 * each module takes. Modules never see struct config; the daemon calls
 * these at start and on every reload, and the tests call the same ones.
 */
#ifndef MESHDNS_PARAMS_H
#define MESHDNS_PARAMS_H

#include <stddef.h>
#include <sys/socket.h>

#include "meshdns/config.h"
#include "meshdns/dns_server.h"
#include "meshdns/forward.h"
#include "meshdns/k8s_source.h"
#include "meshdns/probe.h"
#include "meshdns/snapshot.h"

/** Facts learned at run time that the answer policy depends on. */
struct params_learned {
	const char *node_zone;		/* from the Node object; NULL: unknown */
};

/**
 * The answer policy: zone preference, minimum share, answer size. The
 * node's zone is the config's node.zone, else the learned one. Strings
 * point into @p cfg or @p learned.
 */
void params_policy(const struct config *cfg, const struct params_learned *learned,
		   struct snap_policy *out);

/**
 * The snapshot parameters (domain, TTLs, payload size, our addresses as
 * NS glue into @p ns, which holds cfg->n_listen, and the policy).
 */
void params_snapshot(const struct config *cfg, const struct params_learned *learned,
		     const char *node_name, struct sockaddr_storage *ns,
		     struct snapshot_params *out);

/** The DNS server's sockets, threads and limits. Points into @p cfg. */
void params_dns_server(const struct config *cfg, struct dns_server_params *out);

/** The prober's limits. */
void params_prober(const struct config *cfg, struct prober_params *out);

/** The forwarder's settings for the @p n upstreams @p ups (the caller
 * found them: the config's, or a resolv.conf's). */
void params_forward(const struct config *cfg, const struct fwd_upstream_addr *ups,
		    size_t n, struct fwd_params *out);

/**
 * The Kubernetes source: the "kubernetes" section, and the Node whose
 * zone to learn (node.name, else $NODE_NAME) unless node.zone is set.
 * @p zone_cb hears the zone (the daemon: it calls params_policy again).
 */
void params_k8s(const struct config *cfg, k8s_zone_cb zone_cb, void *zone_arg,
		struct k8s_source_params *out);

#endif
