/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "meshdns/params.h"

void params_policy(const struct config *cfg, const struct params_learned *learned,
		   struct snap_policy *out)
{
	*out = (struct snap_policy){
		.node_zone = cfg->node_zone ? cfg->node_zone :
			     learned ? learned->node_zone : NULL,
		.zone_preference = cfg->zone_preference,
		.zone_min_share_pct = (uint8_t)cfg->zone_min_share_pct,
		.max_answers = cfg->max_answers,
	};
}

void params_snapshot(const struct config *cfg, const struct params_learned *learned,
		     const char *node_name, struct sockaddr_storage *ns,
		     struct snapshot_params *out)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		ns[i] = cfg->listen[i].addr;
	*out = (struct snapshot_params){
		.domain = cfg->domain,
		.ttl_s = cfg->ttl_s,
		.negative_ttl_s = cfg->negative_ttl_s,
		.edns_buffer_size = cfg->edns_buffer_size,
		.ns_addrs = ns,
		.n_ns_addrs = cfg->n_listen,
		.node_name = node_name,
	};
	params_policy(cfg, learned, &out->policy);
}

void params_dns_server(const struct config *cfg, struct dns_server_params *out)
{
	*out = (struct dns_server_params){
		.listen = cfg->listen,
		.n_listen = cfg->n_listen,
		.threads = cfg->threads,
		.edns_size = cfg->edns_buffer_size,
		.allow = cfg->allow,
		.n_allow = cfg->n_allow,
		.tcp_max_connections = cfg->tcp_max_connections,
		.tcp_idle_timeout_ms = cfg->tcp_idle_timeout_ms,
		.udp_coalesce_us = cfg->udp_coalesce_us,
		.rrl = {
			.rate = cfg->rrl_rate,
			.slip = cfg->rrl_slip,
			.ipv4_prefix = (uint8_t)cfg->rrl_ipv4_prefix,
			.ipv6_prefix = (uint8_t)cfg->rrl_ipv6_prefix,
			.exempt_loopback = cfg->rrl_exempt_loopback,
		},
	};
}

void params_prober(const struct config *cfg, struct prober_params *out)
{
	*out = (struct prober_params){
		.max_in_flight = cfg->probe_max_in_flight,
		.idle_s = cfg->probe_idle_s,
		.default_mode = cfg->probe_mode,
	};
}

void params_forward(const struct config *cfg, const struct fwd_upstream_addr *ups,
		    size_t n, struct fwd_params *out)
{
	const struct config_forward *c = &cfg->fwd;

	*out = (struct fwd_params){
		.upstreams = ups, .n_upstreams = n, .timeout_ms = c->timeout_ms,
		.policy = (enum fwd_policy)c->policy, .max_in_flight = c->max_in_flight,
		.edns_size = cfg->edns_buffer_size, .cache_enabled = c->cache_enabled,
		.cache = {
			.max_entries = c->cache_max_entries, .min_ttl_s = c->cache_min_ttl,
			.max_ttl_s = c->cache_max_ttl, .neg_max_ttl_s = c->cache_negative_max_ttl,
			.stale_s = c->serve_stale ? c->stale_s : 0,
		},
	};
}

void params_k8s(const struct config *cfg, k8s_zone_cb zone_cb, void *zone_arg,
		struct k8s_source_params *out)
{
	const char *node = cfg->node_name ? cfg->node_name : getenv("NODE_NAME");

	*out = (struct k8s_source_params){
		.api = &cfg->k8s,
		.node_name = cfg->node_zone ? NULL : node,
		.zone_cb = zone_cb,
		.zone_arg = zone_arg,
	};
}
