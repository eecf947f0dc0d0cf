/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * /metrics, /healthz, /readyz and /debug over evhttp. Metric names follow
 * Prometheus conventions (meshdns_..._total for counters, _seconds for
 * durations, base units), one HELP and TYPE line per family.
 */
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "meshdns/dns_msg.h"
#include "meshdns/dns_server.h"
#include "meshdns/forward.h"
#include "meshdns/k8s_source.h"
#include "meshdns/log.h"
#include "meshdns/ops_http.h"
#include "meshdns/probe.h"
#include "meshdns/registry.h"

struct ops_http {
	struct evhttp *http;
	struct ops_sources src;
};

/* ------------------------------------------------------------ facts */

static const char *why(const struct snap_service *s, const struct snap_ep *e)
{
	if (!(e->flags & SNAP_EP_READY))
		return "not-ready";
	if (e->flags & SNAP_EP_ELIGIBLE) {
		if (s->panic && !(e->flags & SNAP_EP_HEALTHY))
			return "panic";
		return (e->flags & SNAP_EP_DRAINING) ? "draining-only-left" : "healthy";
	}
	if (!(e->flags & SNAP_EP_HEALTHY))
		return "probe-failing";
	if (e->flags & SNAP_EP_DRAINING)
		return "draining";
	return "excluded";
}

size_t ops_endpoint_facts(const struct snap_service *svc, uint32_t i,
			  const struct prober *pr, char *out, size_t len)
{
	const struct snap_ep *e = &svc->eps[i];
	char addr[INET6_ADDRSTRLEN], host[DNS_MAX_LABEL + 1];
	struct probe_info pi;
	const uint8_t *label = svc->targets[e->target].label;
	int n;

	inet_ntop(e->family, e->addr, addr, sizeof(addr));
	memcpy(host, label + 1, label[0]);
	host[label[0]] = '\0';
	bool probed = pr && prober_endpoint_info(pr, svc->namespace, svc->name, e->family,
						 e->addr, &pi) == 0;
	n = snprintf(out, len,
		     "addr=%s host=%s ready=%d healthy=%d in_answers=%d why=%s weight=%u "
		     "load_pct=%u effective=%u zone=%s local=%d panic=%d",
		     addr, host, !!(e->flags & SNAP_EP_READY), !!(e->flags & SNAP_EP_HEALTHY),
		     !!(e->flags & SNAP_EP_ELIGIBLE), why(svc, e), e->weight, e->load_pct,
		     e->effective, e->zone ? e->zone : "-", !!(e->flags & SNAP_EP_LOCAL),
		     svc->panic);
	if (n > 0 && (size_t)n < len && probed)
		n += snprintf(out + n, len - (size_t)n,
			      " probe=%s probing=%d last=%s rtt_ms=%.2f ok_run=%u fail_run=%u",
			      pi.type, pi.probing, pi.last, pi.rtt_ms, pi.ok_run, pi.fail_run);
	else if (n > 0 && (size_t)n < len)
		n += snprintf(out + n, len - (size_t)n, " probe=none");
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

/* ------------------------------------------------------------ metrics */

static void family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one sample without labels. */
static void metric1(struct evbuffer *b, const char *name, const char *type,
		    const char *help, uint64_t value)
{
	family(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, (unsigned long long)value);
}

static const char *rcode_name(unsigned r)
{
	static const char *const n[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					 "NOTIMP", "REFUSED" };
	return r < 6 ? n[r] : r == 16 ? "BADVERS" : NULL;
}

/* The snapshot: services, and endpoints by state. */
static void metrics_snapshot(struct evbuffer *b, const struct snapshot *snap)
{
	metric1(b, "meshdns_snapshot_generation", "gauge", "Generation of the answer snapshot in use (bumps on every change).", (uint64_t)snap->generation);
	metric1(b, "meshdns_services", "gauge", "Services known.", (uint64_t)snap->n_services);

	uint64_t healthy = 0, unhealthy = 0, draining = 0, panic = 0, not_ready = 0;
	for (uint32_t i = 0; i < snap->n_services; i++) {
		const struct snap_service *s = snap->services[i];
		for (uint32_t j = 0; j < s->n_eps; j++) {
			uint8_t f = s->eps[j].flags;
			if (!(f & SNAP_EP_READY))
				not_ready++;
			else if (s->panic && !(f & SNAP_EP_HEALTHY))
				panic++;
			else if (!(f & SNAP_EP_HEALTHY))
				unhealthy++;
			else if (f & SNAP_EP_DRAINING)
				draining++;
			else
				healthy++;
		}
	}
	family(b, "meshdns_endpoints", "gauge", "Endpoints by state.");
	evbuffer_add_printf(b,
			    "meshdns_endpoints{state=\"healthy\"} %llu\n"
			    "meshdns_endpoints{state=\"unhealthy\"} %llu\n"
			    "meshdns_endpoints{state=\"draining\"} %llu\n"
			    "meshdns_endpoints{state=\"panic\"} %llu\n"
			    "meshdns_endpoints{state=\"not_ready\"} %llu\n",
			    (unsigned long long)healthy, (unsigned long long)unhealthy,
			    (unsigned long long)draining, (unsigned long long)panic,
			    (unsigned long long)not_ready);
}

/* The latency histogram (cumulative buckets, as Prometheus wants). */
static void metrics_latency(struct evbuffer *b, const struct dns_stats *d)
{
	uint64_t cum = 0, count = 0;

	family(b, "meshdns_dns_request_duration_seconds", "histogram",
	       "Time from receiving a query to sending its answer.");
	for (unsigned i = 0; i <= DNS_LAT_BUCKETS; i++)
		count += d->lat[i];
	for (unsigned i = 0; i < DNS_LAT_BUCKETS; i++) {
		cum += d->lat[i];
		evbuffer_add_printf(b, "meshdns_dns_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
				    dns_lat_bounds_us[i] / 1e6, (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "meshdns_dns_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			    "meshdns_dns_request_duration_seconds_sum %.9f\n"
			    "meshdns_dns_request_duration_seconds_count %llu\n",
			    (unsigned long long)count, d->lat_sum_ns / 1e9,
			    (unsigned long long)count);
}

/* Requests by transport, thread and type; responses by rcode. */
static void metrics_requests(struct evbuffer *b, const struct dns_server *dns,
			     const struct dns_stats *d)
{
	static const char *const qt[] = { "A", "AAAA", "SRV", "TXT", "SOA", "NS",
					  "PTR", "ANY", "other" };
	family(b, "meshdns_dns_requests_total", "counter", "DNS requests received by transport.");
	evbuffer_add_printf(b, "meshdns_dns_requests_total{proto=\"udp\"} %llu\n"
			    "meshdns_dns_requests_total{proto=\"tcp\"} %llu\n",
			    (unsigned long long)d->queries_udp,
			    (unsigned long long)d->queries_tcp);
	unsigned nt = dns_server_threads(dns);
	family(b, "meshdns_dns_thread_requests_total", "counter",
	       "UDP requests answered by each thread (0: the loop thread, which "
	       "also answers what workers hand it).");
	for (unsigned t = 0; t <= nt; t++)
		evbuffer_add_printf(b, "meshdns_dns_thread_requests_total{thread=\"%u\"} %llu\n",
				    t, (unsigned long long)dns_server_thread_queries(dns, t));
	family(b, "meshdns_dns_requests_by_type_total", "counter",
	       "DNS requests by query type.");
	for (unsigned i = 0; i < DNS_STAT_QTYPES; i++)
		evbuffer_add_printf(b, "meshdns_dns_requests_by_type_total{type=\"%s\"} %llu\n",
				    qt[i], (unsigned long long)d->qtype[i]);
	family(b, "meshdns_dns_responses_total", "counter", "DNS responses by rcode.");
	uint64_t other = 0;
	for (unsigned r = 0; r < 24; r++) {
		const char *n = rcode_name(r);
		if (n)
			evbuffer_add_printf(b, "meshdns_dns_responses_total{rcode=\"%s\"} %llu\n",
					    n, (unsigned long long)d->rcode[r]);
		else
			other += d->rcode[r];
	}
	evbuffer_add_printf(b, "meshdns_dns_responses_total{rcode=\"other\"} %llu\n",
			    (unsigned long long)other);
}

static void metrics_dns(struct evbuffer *b, const struct dns_server *dns)
{
	const struct dns_stats *d = dns_server_stats(dns);

	metrics_requests(b, dns, d);
	metric1(b, "meshdns_dns_truncated_total", "counter", "UDP responses sent with TC.", (uint64_t)d->truncated);
	metric1(b, "meshdns_dns_dropped_total", "counter", "Packets dropped unanswered (no header, or a response).", (uint64_t)d->dropped);
	metric1(b, "meshdns_dns_udp_naps_total", "counter", "Naps taken to gather UDP queries (udp_coalesce_us).", (uint64_t)d->udp_naps);
	family(b, "meshdns_dns_tcp_connections_total", "counter", "TCP connections by outcome.");
	evbuffer_add_printf(b, "meshdns_dns_tcp_connections_total{result=\"accepted\"} %llu\n"
			    "meshdns_dns_tcp_connections_total{result=\"rejected\"} %llu\n"
			    "meshdns_dns_tcp_connections_total{result=\"idle_timeout\"} %llu\n",
			    (unsigned long long)d->tcp_accepted,
			    (unsigned long long)d->tcp_rejected,
			    (unsigned long long)d->tcp_timeouts);
	metrics_latency(b, d);
}

static void metrics_forward(struct evbuffer *b, const struct dns_server *dns)
{
	const struct forwarder *fw = dns_server_forwarder(dns);

	if (!fw)
		return;
	const struct fwd_stats *f = forwarder_stats(fw);
	const struct cache_stats *c = forwarder_cache_stats(fw);
	uint64_t wh = dns_server_stats(dns)->worker_cache_hits;
	metric1(b, "meshdns_forward_requests_total", "counter", "Queries for names outside the mesh (cache hits included).", (uint64_t)f->queries + wh);
	metric1(b, "meshdns_forward_upstream_queries_total", "counter", "Queries sent to upstream servers.", (uint64_t)f->upstream_queries);
	metric1(b, "meshdns_forward_coalesced_total", "counter", "Queries answered by an identical query already in flight.", (uint64_t)f->coalesced);
	metric1(b, "meshdns_forward_timeouts_total", "counter", "Upstream tries that timed out.", (uint64_t)f->timeouts);
	metric1(b, "meshdns_forward_servfail_total", "counter", "SERVFAIL sent because no upstream answered.", (uint64_t)f->servfail);
	metric1(b, "meshdns_forward_dropped_replies_total", "counter", "Upstream packets that matched no query (late, or spoofed).", (uint64_t)f->dropped_replies);
	if (c) {
		metric1(b, "meshdns_cache_hits_total", "counter", "Answers from the cache (the workers' included).", (uint64_t)c->hits + wh);
		metric1(b, "meshdns_cache_worker_hits_total", "counter", "Of those, answered by a worker thread's own cache.", wh);
		metric1(b, "meshdns_cache_misses_total", "counter", "Cache lookups that missed.", (uint64_t)c->misses);
		metric1(b, "meshdns_cache_served_stale_total", "counter", "Expired answers served because no upstream answered (RFC 8767).", (uint64_t)c->stale_hits);
		metric1(b, "meshdns_cache_evictions_total", "counter", "Entries evicted to stay within max_entries.", (uint64_t)c->evictions);
		metric1(b, "meshdns_cache_entries", "gauge", "Entries in the cache.", (uint64_t)c->entries);
	}
}

static void metrics_probes(struct evbuffer *b, const struct prober *pr)
{
	const struct prober_stats *p = prober_stats(pr);
	family(b, "meshdns_probes_total", "counter", "Health probes by result.");
	evbuffer_add_printf(b, "meshdns_probes_total{result=\"pass\"} %llu\n"
		    "meshdns_probes_total{result=\"fail\"} %llu\n",
		    (unsigned long long)p->passed,
		    (unsigned long long)(p->failed - p->timeouts));
	evbuffer_add_printf(b, "meshdns_probes_total{result=\"timeout\"} %llu\n",
		    (unsigned long long)p->timeouts);
	metric1(b, "meshdns_probe_transitions_total", "counter", "Endpoints turning healthy or unhealthy.", (uint64_t)p->transitions);
	metric1(b, "meshdns_probe_bad_weight_total", "counter", "X-Mesh-Weight headers that could not be parsed.", (uint64_t)p->bad_weight);
	family(b, "meshdns_probe_targets", "gauge", "Endpoints with a probe, and those probed now.");
	evbuffer_add_printf(b, "meshdns_probe_targets{state=\"configured\"} %u\n"
		    "meshdns_probe_targets{state=\"active\"} %u\n",
		    p->targets, p->active_targets);
	metric1(b, "meshdns_probes_in_flight", "gauge", "Probes running now.", (uint64_t)p->in_flight);
}

static void metrics_k8s(struct evbuffer *b, const struct k8s_source *src)
{
	struct k8s_source_stats k;
	k8s_source_stats(src, &k);
	metric1(b, "meshdns_kubernetes_synced", "gauge", "1 once the first lists of Services and EndpointSlices are complete.", (uint64_t)k.synced);
	metric1(b, "meshdns_kubernetes_watch_events_total", "counter", "Objects applied from lists and watch events.", (uint64_t)k.events);
	metric1(b, "meshdns_kubernetes_relists_total", "counter", "Full lists after the first.", (uint64_t)k.relists);
	metric1(b, "meshdns_kubernetes_api_errors_total", "counter", "Failed API requests (HTTP errors and transport errors).", (uint64_t)k.api_errors);
	metric1(b, "meshdns_kubernetes_skipped_total", "counter", "Malformed watch lines and objects skipped.", (uint64_t)(k.bad_lines + k.bad_objects));
}

/* Everything /metrics shows, in the Prometheus text format. */
static void metrics(struct ops_http *o, struct evbuffer *b)
{
	family(b, "meshdns_build_info", "gauge", "Version of the running meshdns.");
	evbuffer_add_printf(b, "meshdns_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	metrics_snapshot(b, registry_snapshot(o->src.reg));
	if (o->src.dns) {
		metrics_dns(b, o->src.dns);
		metrics_forward(b, o->src.dns);
	}
	if (o->src.prober)
		metrics_probes(b, o->src.prober);
	if (o->src.k8s)
		metrics_k8s(b, o->src.k8s);
}

/* ------------------------------------------------------------ handlers */

static void reply(struct evhttp_request *req, int code, const char *reason,
		  const char *type, struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_send_reply(req, code, reason, body);
}

static cJSON *service_json(const struct snap_service *s, const struct prober *pr)
{
	cJSON *o = cJSON_CreateObject(), *eps = cJSON_CreateArray();
	char facts[512];

	cJSON_AddStringToObject(o, "namespace", s->namespace);
	cJSON_AddStringToObject(o, "name", s->name);
	cJSON_AddBoolToObject(o, "panic", s->panic);
	cJSON_AddNumberToObject(o, "ready", s->n_ready);
	cJSON_AddNumberToObject(o, "healthy", s->n_healthy);
	cJSON_AddNumberToObject(o, "in_answers", s->n_eligible);
	cJSON_AddBoolToObject(o, "zone_local_a", s->use_local4);
	cJSON_AddBoolToObject(o, "zone_local_aaaa", s->use_local6);
	cJSON_AddNumberToObject(o, "max_answers", s->max_answers);
	cJSON_AddItemToObject(o, "endpoints", eps);
	for (uint32_t i = 0; i < s->n_eps; i++) {
		/* the same key=value facts as TXT _status, as JSON members */
		cJSON *e = cJSON_CreateObject();
		ops_endpoint_facts(s, i, pr, facts, sizeof(facts));
		for (char *tok = strtok(facts, " "); tok; tok = strtok(NULL, " ")) {
			char *eq = strchr(tok, '=');
			if (!eq)
				continue;
			*eq = '\0';
			char *v = eq + 1, *end;
			double d = strtod(v, &end);
			if (*v && !*end && strcmp(tok, "zone") != 0 && strcmp(tok, "host") != 0)
				cJSON_AddNumberToObject(e, tok, d);
			else
				cJSON_AddStringToObject(e, tok, v);
		}
		cJSON_AddItemToArray(eps, e);
	}
	return o;
}

static void handle(struct evhttp_request *req, void *arg)
{
	struct ops_http *o = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *b = evbuffer_new();
	char path[512];

	if (!b) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	snprintf(path, sizeof(path), "%s", uri);
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evbuffer_add_printf(b, "only GET\n");
		reply(req, 405, "Method Not Allowed", "text/plain", b);
	} else if (strcmp(path, "/metrics") == 0) {
		metrics(o, b);
		reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
	} else if (strcmp(path, "/healthz") == 0) {
		/* answered by the loop itself: a stuck loop cannot say ok */
		evbuffer_add_printf(b, "ok\n");
		reply(req, 200, "OK", "text/plain", b);
	} else if (strcmp(path, "/readyz") == 0) {
		bool ready = !registry_snapshot(o->src.reg)->unsynced;
		evbuffer_add_printf(b, ready ? "ready\n" : "not ready: sources still loading\n");
		reply(req, ready ? 200 : 503, ready ? "OK" : "Service Unavailable", "text/plain", b);
	} else if (strncmp(path, "/debug/services", 15) == 0 &&
		   (path[15] == '\0' || path[15] == '/')) {
		const struct snapshot *snap = registry_snapshot(o->src.reg);
		cJSON *out;
		if (path[15] == '/') {
			char ns[128] = "", name[128] = "";
			if (sscanf(path + 16, "%127[^/]/%127[^/]", ns, name) != 2) {
				evbuffer_add_printf(b, "use /debug/services/NAMESPACE/NAME\n");
				reply(req, 400, "Bad Request", "text/plain", b);
				goto out;
			}
			const struct snap_service *s = snapshot_find_service(snap, ns, name);
			if (!s) {
				evbuffer_add_printf(b, "{\"error\":\"no such service\"}\n");
				reply(req, 404, "Not Found", "application/json", b);
				goto out;
			}
			out = service_json(s, o->src.prober);
		} else {
			out = cJSON_CreateObject();
			cJSON_AddNumberToObject(out, "generation", (double)snap->generation);
			cJSON_AddBoolToObject(out, "synced", !snap->unsynced);
			cJSON *arr = cJSON_AddArrayToObject(out, "services");
			for (uint32_t i = 0; i < snap->n_services; i++)
				cJSON_AddItemToArray(arr, service_json(snap->services[i],
								       o->src.prober));
		}
		char *text = cJSON_Print(out);
		cJSON_Delete(out);
		if (text) {
			evbuffer_add(b, text, strlen(text));
			evbuffer_add(b, "\n", 1);
			free(text);
		}
		reply(req, 200, "OK", "application/json", b);
	} else {
		evbuffer_add_printf(b, "not found: try /metrics /healthz /readyz /debug/services\n");
		reply(req, 404, "Not Found", "text/plain", b);
	}
out:
	evbuffer_free(b);
}

struct ops_http *ops_http_create(struct event_base *base, const struct config_listen *addr,
				 const struct ops_sources *src)
{
	struct ops_http *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->src = *src;
	o->http = evhttp_new(base);
	if (!o->http)
		goto fail;
	evhttp_set_allowed_methods(o->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
					    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_timeout(o->http, 10);
	evhttp_set_max_headers_size(o->http, 16384);
	evhttp_set_max_body_size(o->http, 4096);
	evhttp_set_gencb(o->http, handle, o);
	/* SO_REUSEPORT like the DNS sockets: a successor can listen beside us
	 * during a rolling update (see dns_server_handover()) */
	int one = 1;
	int fd = socket(addr->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (addr->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)&addr->addr, addr->addr_len) < 0 ||
	    listen(fd, 64) < 0 || evhttp_accept_socket(o->http, fd) < 0) {
		log_err("ops http: cannot listen on %s: %s (metrics, health and debug are off)",
			addr->text, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto fail;
	}

	log_info("ops http: /metrics /healthz /readyz /debug/services on %s", addr->text);
	return o;
fail:
	ops_http_delete(o);
	return NULL;
}

void ops_http_set_sources(struct ops_http *o, const struct ops_sources *src)
{
	o->src = *src;
}

void ops_http_delete(struct ops_http *o)
{
	if (!o)
		return;
	if (o->http)
		evhttp_free(o->http);
	free(o);
}
