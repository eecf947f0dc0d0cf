/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Wires config, registry and DNS server onto one libevent loop. A reload
 * (SIGHUP) validates the whole new file first; only a valid one replaces
 * the services, and unchanged services keep their state.
 */
#include "config.h"

#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meshdns/clock.h"
#include "meshdns/config_schema.h"
#include "meshdns/daemon.h"
#include "meshdns/dns_server.h"
#include "meshdns/forward.h"
#include "meshdns/k8s_source.h"
#include "meshdns/log.h"
#include "meshdns/ops_http.h"
#include "meshdns/params.h"
#include "meshdns/probe.h"
#include "meshdns/registry.h"
#include "meshdns/thread.h"


struct daemon {
	struct config *cfg;
	struct event_base *base;
	struct registry *reg;
	struct dns_server *dns;
	struct prober *prober;
	struct k8s_source *k8s;
	struct ops_http *ops;
	struct event *publish;		/* coalesces registry changes */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *stop_timer;
	struct event *start_timer;	/* deferred binding (handover) */
	uint64_t start_at_ms;
	int stopping;			/* 0 running, 1 waiting, 2 draining */
	uint64_t stop_at_ms;
	char *learned_zone;		/* from our Node object; NULL: none */
};

static void publish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	if (registry_publish(d->reg) < 0) {
		/* keep serving the previous snapshot; try again shortly */
		struct timeval tv = { 0, 100000 };
		log_err("out of memory publishing a snapshot; retrying");
		event_add(d->publish, &tv);
	}
}

static void dirty_cb(void *arg)
{
	struct daemon *d = arg;

	/* answers change on the next loop turn, after this batch of edits */
	event_active(d->publish, EV_TIMEOUT, 0);
}

static size_t facts_cb(void *arg, const struct snap_service *svc, uint32_t ep,
		       char *out, size_t len)
{
	struct daemon *d = arg;

	return ops_endpoint_facts(svc, ep, d->prober, out, len);
}

/* id.server: the config's node name, NODE_NAME, else the host name. */
static const char *node_name(const struct config *cfg, char *buf, size_t len)
{
	const char *env = getenv("NODE_NAME");

	if (cfg->node_name)
		return cfg->node_name;
	if (env && *env)
		return env;
	if (gethostname(buf, len) == 0) {
		buf[len - 1] = '\0';
		return buf;
	}
	return NULL;
}

/* Upstreams from the config, or from a resolv.conf minus ourselves. */
static int setup_forwarder(struct daemon *d, const struct config *cfg)
{
	const struct config_forward *c = &cfg->fwd;
	struct fwd_upstream_addr ups[32];
	size_t n = 0;

	if (c->resolv_conf) {
		FILE *f = fopen(c->resolv_conf, "r");
		char text[8192];
		size_t got = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		struct fwd_upstream_addr all[32];
		if (f)
			fclose(f);
		if (!f) {
			log_err("forward: cannot read %s: %s", c->resolv_conf, strerror(errno));
			return MESHDNS_EINVAL;
		}
		text[got] = '\0';
		size_t m = fwd_parse_resolv_conf(text, all, 32);
		for (size_t i = 0; i < m; i++) {
			if (config_is_listen_address(cfg, &all[i].addr)) {
				log_warn("forward: %s in %s is this agent: skipped (no loops)",
					 all[i].text, c->resolv_conf);
				continue;
			}
			ups[n++] = all[i];
		}
	}
	for (size_t i = 0; i < c->n_upstreams && n < 32; i++) {
		ups[n].addr = c->upstreams[i].addr;
		ups[n].len = c->upstreams[i].addr_len;
		snprintf(ups[n].text, sizeof(ups[n].text), "%s", c->upstreams[i].text);
		n++;
	}
	if (!n) {
		log_err("forward: no usable upstream");
		return MESHDNS_EINVAL;
	}
	struct fwd_params p;
	params_forward(cfg, ups, n, &p);
	if (dns_server_set_forwarder(d->dns, &p) < 0)
		return MESHDNS_ENOMEM;
	log_info("forward: names outside %s go to %zu upstream(s), first %s%s", cfg->domain, n,
		 ups[0].text, c->cache_enabled ? ", cached" : "");
	return 0;
}

static int load_services(struct daemon *d, const struct config *cfg)
{
	if (registry_replace_all(d->reg, REGISTRY_SOURCE_STATIC, cfg->services, cfg->n_services) < 0 ||
	    registry_publish(d->reg) < 0)
		return MESHDNS_ENOMEM;
	return 0;
}

/* The answer policy from @p cfg and what we learned (the node's zone). */
static int set_policy(struct daemon *d, const struct config *cfg)
{
	struct params_learned learned = { .node_zone = d->learned_zone };
	struct snap_policy pol;

	params_policy(cfg, &learned, &pol);
	return registry_set_policy(d->reg, &pol);
}

/* The Kubernetes source read our Node's zone label. */
static int zone_cb(void *arg, const char *zone)
{
	struct daemon *d = arg;
	char *z = strdup(zone);

	if (!z)
		return MESHDNS_ENOMEM;
	free(d->learned_zone);
	d->learned_zone = z;
	return set_policy(d, d->cfg);
}

static void reload(struct daemon *d)
{
	struct config_errors errs = { 0 };
	struct config *cfg = NULL;
	char changed[256];

	log_info("reloading %s", d->cfg->path);
	if (config_load(d->cfg->path, &cfg, &errs) < 0) {
		log_err("reload rejected, keeping the running config:\n%s",
			errs.text ? errs.text : "out of memory");
		free(errs.text);
		return;
	}
	free(errs.text);
	unsigned n = config_restart_changes(d->cfg, cfg, changed, sizeof(changed));
	if (n)
		log_warn("reload: %s need%s a restart; kept the running value%s", changed,
			 n == 1 ? "s" : "", n == 1 ? "" : "s");
	if (set_policy(d, cfg) < 0 || load_services(d, cfg) < 0) {
		log_err("reload: out of memory, keeping the running services");
		config_delete(cfg);
		return;
	}
	if (d->dns) {
		struct dns_server_params dp;
		params_dns_server(cfg, &dp);
		dns_server_reconfigure(d->dns, &dp);
	}
	struct prober_params pp;
	params_prober(cfg, &pp);
	prober_reconfigure(d->prober, &pp);
	if (cfg->log_level_set)
		log_set_level(cfg->log_level);
	log_set_json(cfg->log_json);
	/* settings that need a restart keep their running values (swapped:
	 * the running domain and listen list are pointed at, and stay) */
	config_keep_restart_values(cfg, d->cfg);
	config_delete(d->cfg);
	d->cfg = cfg;
	log_info("reloaded: %zu services, snapshot %llu", registry_count(d->reg),
		 (unsigned long long)registry_snapshot(d->reg)->generation);
}

#define DRAIN_MAX_MS 2000

/*
 * Stopping: keep serving until a successor has bound our addresses (a
 * rolling update with maxSurge) or the grace period is over, then hand
 * the sockets' traffic over, answer what is queued, let TCP answers be
 * written, and leave.
 */
/*
 * After every socket is bound: become @p user for good (groups, gid,
 * uid), so that no capability (CAP_NET_BIND_SERVICE included) is left.
 */
static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		log_err("user %s: no such user", user);
		return MESHDNS_EINVAL;
	}
	if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
		return 0;
	if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		log_err("cannot become user %s: %s", user, strerror(errno));
		return MESHDNS_EINVAL;
	}
	if (setuid(0) == 0) {
		log_err("dropped privileges to %s, but could get root back", user);
		return MESHDNS_EINVAL;
	}
	log_info("running as %s (uid %u, gid %u)", user, (unsigned)pw->pw_uid,
		 (unsigned)pw->pw_gid);
	return 0;
}

/* Bind the DNS sockets and finish starting: forwarder, ops, privileges. */
static int start_dns(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	char listen[512] = "";
	size_t n = 0;

	struct dns_server_params dp;

	params_dns_server(cfg, &dp);
	d->dns = dns_server_create(d->base, &dp, d->reg);
	if (!d->dns)
		return MESHDNS_EINVAL;
	dns_server_set_facts(d->dns, facts_cb, d);
	if (cfg->fwd.enabled && setup_forwarder(d, cfg) < 0)
		return MESHDNS_EINVAL;
	if (dns_server_start(d->dns) < 0)
		return MESHDNS_EINVAL;
	if (d->ops) {
		struct ops_sources os = {
			.reg = d->reg, .dns = d->dns, .prober = d->prober, .k8s = d->k8s,
			.node_name = cfg->node_name,
		};
		ops_http_set_sources(d->ops, &os);
	}
	/* every socket is bound: privileges can go */
	if (cfg->user && drop_privileges(cfg->user) < 0)
		return MESHDNS_EINVAL;
	for (size_t i = 0; i < cfg->n_listen && n < sizeof(listen); i++)
		n += (size_t)snprintf(listen + n, sizeof(listen) - n, "%s%s", i ? " " : "",
				      cfg->listen[i].text);
	log_info("ready: serving %s with %zu services on udp+tcp %s", cfg->domain,
		 registry_count(d->reg), listen);
	return 0;
}

static void start_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	bool synced = !registry_snapshot(d->reg)->unsynced;

	if (!synced && clock_now_ms() - d->start_at_ms < d->cfg->handover_sync_wait_ms)
		return;
	if (!synced)
		log_warn("not synced after %u ms: binding anyway", d->cfg->handover_sync_wait_ms);
	event_free(d->start_timer);
	d->start_timer = NULL;
	if (start_dns(d) < 0) {
		log_err("cannot start serving DNS: stopping");
		event_base_loopbreak(d->base);
	}
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t now = clock_now_ms();

	if (!d->dns) {
		event_base_loopbreak(d->base);	/* never served: nothing to hand over */
		return;
	}
	if (d->stopping == 1) {
		bool successor = dns_server_successor_ready(d->dns);
		if (!successor && now - d->stop_at_ms < d->cfg->shutdown_grace_ms)
			return;
		if (successor) {
			log_info("stopping: a successor serves our addresses, handing over");
			dns_server_handover(d->dns);
			/* its /healthz and /readyz are the ones that count now */
			ops_http_delete(d->ops);
			d->ops = NULL;
		} else {
			log_info("stopping: no successor after %u ms, closing", d->cfg->shutdown_grace_ms);
			dns_server_stop_listening(d->dns);
		}
		d->stopping = 2;
		d->stop_at_ms = now;
	}
	if (dns_server_busy_connections(d->dns) == 0 || now - d->stop_at_ms > DRAIN_MAX_MS)
		event_base_loopbreak(d->base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, 20000 };

	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	if (d->stopping) {
		log_info("signal %d again: exiting now", (int)sig);
		event_base_loopbreak(d->base);
		return;
	}
	log_info("signal %d: stopping (serving until a successor is up, at most %u ms)",
		 (int)sig, d->cfg->shutdown_grace_ms);
	d->stopping = 1;
	d->stop_at_ms = clock_now_ms();
	d->stop_timer = event_new(d->base, -1, EV_PERSIST, stop_cb, d);
	if (!d->stop_timer || event_add(d->stop_timer, &tv) < 0)
		event_base_loopbreak(d->base);
}

/*
 * Bind now, unless a predecessor still serves our addresses (a rolling
 * update): then bind only once our sources are synced, so that it hands
 * over to an agent that knows the cluster (it waits for our sockets).
 */
static int start_or_wait(struct daemon *d)
{
	const struct config *cfg = d->cfg;
	struct timeval tv = { 0, 100000 };

	if (!d->k8s || !registry_snapshot(d->reg)->unsynced ||
	    !dns_server_addresses_in_use(cfg->listen, cfg->n_listen))
		return start_dns(d);
	log_info("a predecessor serves our addresses: binding after the first sync, at most %u ms",
		 cfg->handover_sync_wait_ms);
	d->start_at_ms = clock_now_ms();
	d->start_timer = event_new(d->base, -1, EV_PERSIST, start_cb, d);
	if (!d->start_timer || event_add(d->start_timer, &tv) < 0)
		return MESHDNS_ENOMEM;
	return 0;
}

static int add_signals(struct daemon *d)
{
	d->sig_term = evsignal_new(d->base, SIGTERM, signal_cb, d);
	d->sig_int = evsignal_new(d->base, SIGINT, signal_cb, d);
	d->sig_hup = evsignal_new(d->base, SIGHUP, signal_cb, d);
	if (!d->sig_term || !d->sig_int || !d->sig_hup ||
	    event_add(d->sig_term, NULL) < 0 || event_add(d->sig_int, NULL) < 0 ||
	    event_add(d->sig_hup, NULL) < 0)
		return MESHDNS_ENOMEM;
	return 0;
}

struct daemon *daemon_create(struct config *cfg)
{
	struct daemon *d = calloc(1, sizeof(*d));
	struct sockaddr_storage *ns = NULL;
	char host[256];

	if (!d) {
		config_delete(cfg);
		return NULL;
	}
	d->cfg = cfg;
	thread_mark_loop();
	d->base = event_base_new();
	if (!d->base) {
		log_err("cannot create the event loop");
		goto fail;
	}
	ns = calloc(cfg->n_listen, sizeof(*ns));
	if (!ns)
		goto fail;
	struct snapshot_params p;
	params_snapshot(cfg, NULL, node_name(cfg, host, sizeof(host)), ns, &p);
	d->reg = registry_create(&p);
	free(ns);
	d->publish = event_new(d->base, -1, 0, publish_cb, d);
	if (!d->reg || !d->publish)
		goto fail;
	registry_set_dirty_cb(d->reg, dirty_cb, d);
	struct prober_params pp;
	params_prober(cfg, &pp);
	d->prober = prober_create(d->base, d->reg, &pp);
	if (!d->prober) {
		log_err("cannot start the prober");
		goto fail;
	}
	if (load_services(d, cfg) < 0) {
		log_err("out of memory loading services");
		goto fail;
	}
	if (cfg->k8s.enabled) {
		struct k8s_source_params kp;
		params_k8s(cfg, zone_cb, d, &kp);
		d->k8s = k8s_source_create(d->base, d->reg, &kp);
		if (!d->k8s)
			goto fail;
		/* answers say "not synced" (SERVFAIL) until the first lists */
		if (registry_publish(d->reg) < 0)
			goto fail;
	}
	if (cfg->http_enabled) {
		struct ops_sources os = {
			.reg = d->reg, .prober = d->prober, .k8s = d->k8s,
			.node_name = cfg->node_name,
		};
		/* DNS matters more: a busy ops port is logged, not fatal */
		d->ops = ops_http_create(d->base, &cfg->http, &os);
	}
	if (start_or_wait(d) < 0 || add_signals(d) < 0)
		goto fail;
	return d;
fail:
	daemon_delete(d);
	return NULL;
}

int daemon_run(struct daemon *d)
{
	if (event_base_dispatch(d->base) < 0)
		return MESHDNS_EINVAL;
	return 0;
}

void daemon_delete(struct daemon *d)
{
	if (!d)
		return;
	if (d->sig_term)
		event_free(d->sig_term);
	if (d->sig_int)
		event_free(d->sig_int);
	if (d->sig_hup)
		event_free(d->sig_hup);
	if (d->stop_timer)
		event_free(d->stop_timer);
	if (d->start_timer)
		event_free(d->start_timer);
	ops_http_delete(d->ops);
	dns_server_delete(d->dns);
	k8s_source_delete(d->k8s);
	prober_delete(d->prober);
	if (d->publish)
		event_free(d->publish);
	registry_delete(d->reg);
	if (d->base)
		event_base_free(d->base);
	config_delete(d->cfg);
	free(d->learned_zone);
	free(d);
	thread_unmark_loop();
}
