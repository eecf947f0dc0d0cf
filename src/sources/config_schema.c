/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Every config key, once: its type, range, default, whether a reload
 * applies it, its one-line doc and where it lives; with the rules that
 * tie keys together next to the table. Rows are in the order the parser
 * reads them, which is the order errors are reported in. The manual
 * (man/meshdns.conf.5) and etc/meshdns.conf must name every row:
 * tests/unit/check_config_schema.c checks both, and the ranges and
 * defaults the manual states.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"
#include "meshdns/config.h"
#include "meshdns/config_schema.h"
#include "meshdns/forward.h"
#include "meshdns/log.h"
#include "meshdns/service.h"

#define STR_(x)		#x
#define XSTR(x)		STR_(x)		/* the value of a macro, as text */

#define AT(s, f)	.offset = offsetof(s, f), .size = sizeof(((s *)0)->f)
#define CFG(f)		AT(struct config, f)
#define SVC(f)		AT(struct svc_spec, f)
#define PORT(f)		AT(struct svc_port, f)
#define EP(f)		AT(struct svc_endpoint, f)
#define PROBE(f)	AT(struct svc_probe, f)

/* Rows by type; what follows the doc adds hooks and flags. */
#define K_UINT(n, at, lo, hi, d, ap, dc, ...)					\
	{ .name = n, .type = CONFIG_UINT, .apply = CONFIG_##ap, at, .min = lo,	\
	  .max = hi, .def = d, .def_text = XSTR(d), .doc = dc, __VA_ARGS__ }
#define K_UINT_NODEF(n, at, lo, hi, dt, ap, dc, ...)				\
	{ .name = n, .type = CONFIG_UINT, .apply = CONFIG_##ap, at, .min = lo,	\
	  .max = hi, .def_text = dt, .doc = dc, __VA_ARGS__ }
#define K_BOOL(n, at, d, ap, dc, ...)						\
	{ .name = n, .type = CONFIG_BOOL, .apply = CONFIG_##ap, at, .def = d,	\
	  .def_text = #d, .doc = dc, __VA_ARGS__ }
#define K_STRING(n, at, dt, ap, dc, ...)					\
	{ .name = n, .type = CONFIG_STRING, .apply = CONFIG_##ap, at,		\
	  .def_text = dt, .doc = dc, __VA_ARGS__ }
#define K_ENUM(n, at, ch, d, dt, ap, dc, ...)					\
	{ .name = n, .type = CONFIG_ENUM, .apply = CONFIG_##ap, at,		\
	  .choices = ch, .def = d, .def_text = dt, .doc = dc, __VA_ARGS__ }
#define K_OBJECT(n, off, m, ap, dc, ...)					\
	{ .name = n, .type = CONFIG_OBJECT, .apply = CONFIG_##ap, .offset = off,	\
	  .members = m, .doc = dc, __VA_ARGS__ }
#define K_LIST(n, at, cnt, fn, dt, ap, dc, ...)					\
	{ .name = n, .type = CONFIG_LIST, .apply = CONFIG_##ap, at,		\
	  .count = cnt, .parse = fn, .def_text = dt, .doc = dc, __VA_ARGS__ }
#define K_CUSTOM(n, fn, dt, ap, dc, ...)					\
	{ .name = n, .type = CONFIG_CUSTOM, .apply = CONFIG_##ap, .parse = fn,	\
	  .def_text = dt, .doc = dc, __VA_ARGS__ }
#define K_END		{ .name = NULL }

/* ------------------------------------------------------------ values */

/* Services are RFC 1035 labels: they must start with a letter. */
static bool is_service_name(const char *s)
{
	return svc_is_dns1123_label(s) && islower((unsigned char)s[0]);
}

static bool is_probe_path(const char *s)
{
	return s[0] == '/' && !strpbrk(s, " \t\r\n");
}

static bool is_host_name(const char *s)
{
	return *s && !strpbrk(s, " \t\r\n/");
}

/* ------------------------------------------------------------ rules across keys */

/* After the last of the credentials' keys, which are read in this order. */
static void check_credentials(struct config_ctx *c, const cJSON *o, const char *path,
			      void *base)
{
	const struct config_k8s *k = &((struct config *)base)->k8s;
	char p[CONFIG_PATH_LEN];

	cfg_subpath(p, path, "server");
	if (k->server && strncmp(k->server, "https://", 8) != 0 &&
	    strncmp(k->server, "http://", 7) != 0)
		cfg_bad(c, cfg_member(o, "server"), p, "\"%s\" is not an http:// or https:// URL",
			k->server);
	if (!k->client_cert != !k->client_key)
		cfg_bad(c, o, path, "client_cert and client_key go together");
}

static void check_cache_ttls(struct config_ctx *c, const cJSON *ca, const char *path,
			     void *base)
{
	const struct config_forward *f = &((struct config *)base)->fwd;
	char p[CONFIG_PATH_LEN];

	cfg_subpath(p, path, "min_ttl");
	if (f->cache_min_ttl > f->cache_max_ttl)
		cfg_bad(c, cfg_member(ca, "min_ttl"), p, "is above max_ttl");
}

/* Only when nothing else is wrong: a bad upstream is not also missing. */
static void check_forward_source(struct config_ctx *c, const cJSON *o, const char *path,
				 void *base)
{
	const struct config_forward *f = &((struct config *)base)->fwd;

	if (!f->n_upstreams && !f->resolv_conf && !c->errs->count)
		cfg_bad(c, o, path, "needs upstreams or resolv_conf");
}

static void check_probe_timeout(struct config_ctx *c, const cJSON *o, const char *path,
				void *base)
{
	const struct svc_probe *pr = base;
	const cJSON *t = cfg_member(o, "timeout_ms");
	char p[CONFIG_PATH_LEN];

	if (pr->timeout_ms <= pr->interval_ms)
		return;
	cfg_subpath(p, path, "timeout_ms");
	cfg_bad(c, t ? t : o, p, "%u is longer than interval_ms %u", pr->timeout_ms,
		pr->interval_ms);
}

static void check_probe_port(struct config_ctx *c, const cJSON *pr, const char *path,
			     void *base)
{
	const struct svc_spec *svc = base;

	if (svc->probe.type != SVC_PROBE_NONE && !svc_probe_port(svc))
		cfg_bad(c, pr, path, "needs a port: the service has no ports to default to");
}

/* ------------------------------------------------------------ services[] */

static const struct config_choice probe_types[] = {
	{ "http", SVC_PROBE_HTTP }, { "https", SVC_PROBE_HTTPS },
	{ "tcp", SVC_PROBE_TCP }, { "none", SVC_PROBE_NONE }, { NULL, 0 },
};

static const struct config_choice probe_modes[] = {
	{ "all", SVC_PROBE_MODE_ALL }, { "on_demand", SVC_PROBE_MODE_ON_DEMAND },
	{ NULL, 0 },
};

static const struct config_choice protocols[] = {
	{ "tcp", SVC_PROTO_TCP }, { "udp", SVC_PROTO_UDP }, { "sctp", SVC_PROTO_SCTP },
	{ NULL, 0 },
};

static const struct config_key probe_keys[] = {
	K_ENUM("services[].probe.type", PROBE(type), probe_types, SVC_PROBE_NONE, NULL, RELOAD,
	       "http, https, tcp (a connect) or none (trust the source)",
	       .flags = CONFIG_KEY_REQUIRED),
	K_UINT_NODEF("services[].probe.port", PROBE(port), 1, 65535,
		     "the service's first port", RELOAD, "the port probed on each endpoint",
		     .flags = CONFIG_KEY_UNSET),
	K_STRING("services[].probe.path", PROBE(path), "/", RELOAD,
		 "the HTTP request path", .valid = is_probe_path,
		 .invalid = "must start with '/' and hold no spaces"),
	K_STRING("services[].probe.host", PROBE(host), "the endpoint's address", RELOAD,
		 "the HTTP Host header", .valid = is_host_name,
		 .invalid = "is not a host name"),
	K_BOOL("services[].probe.tls_verify", PROBE(tls_verify), true, RELOAD,
	       "https: verify the endpoint's certificate"),
	K_CUSTOM("services[].probe.expect_status", cfg_parse_expect_status, "200-399", RELOAD,
		 "the passing HTTP status: a code or a range within 100-599"),
	K_UINT("services[].probe.interval_ms", PROBE(interval_ms), SVC_PROBE_MIN_INTERVAL_MS,
	       SVC_PROBE_MAX_INTERVAL_MS, SVC_PROBE_DEFAULT_INTERVAL_MS, RELOAD,
	       "time between two probes of one endpoint"),
	K_UINT("services[].probe.timeout_ms", PROBE(timeout_ms), SVC_PROBE_MIN_TIMEOUT_MS,
	       SVC_PROBE_MAX_TIMEOUT_MS, SVC_PROBE_DEFAULT_TIMEOUT_MS, RELOAD,
	       "a probe that takes longer fails; at most interval_ms",
	       .check = check_probe_timeout),
	K_UINT("services[].probe.rise", PROBE(rise), 1, 100, SVC_PROBE_DEFAULT_RISE, RELOAD,
	       "consecutive passes that make an endpoint healthy"),
	K_UINT("services[].probe.fall", PROBE(fall), 1, 100, SVC_PROBE_DEFAULT_FALL, RELOAD,
	       "consecutive failures that make an endpoint unhealthy"),
	K_UINT("services[].probe.jitter_pct", PROBE(jitter_pct), 0, 50,
	       SVC_PROBE_DEFAULT_JITTER_PCT, RELOAD,
	       "each interval is shortened by a random 0 to this percent"),
	K_END
};

static const struct config_key port_keys[] = {
	K_STRING("services[].ports[].name", PORT(name), "none", RELOAD,
		 "the SRV name _NAME._PROTO; needed when the service has several ports",
		 .parse = cfg_parse_port_name),
	K_UINT_NODEF("services[].ports[].port", PORT(port), 1, 65535, NULL, RELOAD,
		     "the port number", .flags = CONFIG_KEY_REQUIRED),
	K_ENUM("services[].ports[].protocol", PORT(proto), protocols, SVC_PROTO_TCP, "tcp",
	       RELOAD, "tcp, udp or sctp", .flags = CONFIG_KEY_NOCASE),
	K_END
};

static const struct config_key endpoint_keys[] = {
	K_CUSTOM("services[].endpoints[].address", cfg_parse_address, NULL, RELOAD,
		 "an IPv4 or IPv6 address, once per service", .flags = CONFIG_KEY_REQUIRED),
	K_STRING("services[].endpoints[].hostname", EP(hostname), "the dashed address",
		 RELOAD, "a DNS label naming the endpoint (HOST.SVC.NS.svc.DOMAIN)",
		 .valid = svc_is_dns1123_label,
		 .invalid = "is not a DNS label (1-63 of a-z 0-9 '-')"),
	K_STRING("services[].endpoints[].zone", EP(zone), "none", RELOAD,
		 "the endpoint's zone, compared with node.zone", .min = 1, .max = 63),
	K_UINT("services[].endpoints[].weight", EP(weight), 0, SVC_MAX_WEIGHT,
	       SVC_DEFAULT_WEIGHT, RELOAD, "the base weight; 0 drains the endpoint"),
	K_LIST("services[].endpoints[].for_zones", EP(for_zones),
	       offsetof(struct svc_endpoint, n_for_zones), cfg_parse_for_zones, "[]", RELOAD,
	       "zones the endpoint is hinted for, as EndpointSlice hints.forZones"),
	K_END
};

const struct config_key config_service_keys[] = {
	K_STRING("services[].name", SVC(name), NULL, RELOAD,
		 "a DNS label starting with a letter", .flags = CONFIG_KEY_REQUIRED,
		 .valid = is_service_name,
		 .invalid = "is not a service name (a DNS label of a-z 0-9 '-' starting with a letter)"),
	K_STRING("services[].namespace", SVC(namespace), "default", RELOAD,
		 "a DNS label", .def_str = "default", .valid = svc_is_dns1123_label,
		 .invalid = "is not a namespace name (a DNS label of a-z 0-9 '-')"),
	K_LIST("services[].ports", SVC(ports), offsetof(struct svc_spec, n_ports),
	       cfg_parse_ports, "[]", RELOAD, "the service's ports", .members = port_keys),
	K_LIST("services[].endpoints", SVC(endpoints), offsetof(struct svc_spec, n_endpoints),
	       cfg_parse_endpoints, "[]", RELOAD, "the service's endpoints",
	       .members = endpoint_keys),
	K_OBJECT("services[].probe", offsetof(struct svc_spec, probe), probe_keys, RELOAD,
		 "a health probe of every endpoint; without it endpoints are trusted",
		 .def_text = "none", .check = check_probe_port),
	K_ENUM("services[].probe_mode", SVC(probe_mode), probe_modes, SVC_PROBE_MODE_DEFAULT,
	       "the global probe_mode", RELOAD, "all or on_demand",
	       .flags = CONFIG_KEY_UNSET),
	K_UINT("services[].panic_threshold_pct", SVC(panic_threshold_pct), 0, 100,
	       SVC_DEFAULT_PANIC_PCT, RELOAD,
	       "below this healthy share answer every ready endpoint; 0 = off"),
	K_UINT_NODEF("services[].max_answers", SVC(max_answers), 0, 4096,
		     "the global max_answers", RELOAD, "A or AAAA records per answer at most",
		     .flags = CONFIG_KEY_UNSET | CONFIG_KEY_SEEN,
		     .flag_at = offsetof(struct svc_spec, has_max_answers)),
	K_UINT("services[].slow_start_s", SVC(slow_start_s), 0, 3600, SVC_DEFAULT_SLOW_START_S,
	       RELOAD, "a new healthy endpoint ramps up its weight over this; 0 = off"),
	K_END
};

/* ------------------------------------------------------------ the top level */

static const struct config_choice log_levels[] = {
	{ "debug", LOG_LEVEL_DEBUG }, { "info", LOG_LEVEL_INFO },
	{ "warn", LOG_LEVEL_WARN }, { "error", LOG_LEVEL_ERROR }, { NULL, 0 },
};

static const struct config_choice log_formats[] = {
	{ "text", false }, { "json", true }, { NULL, 0 },
};

static const struct config_choice fwd_policies[] = {
	{ "sequential", FWD_POLICY_SEQUENTIAL }, { "random", FWD_POLICY_RANDOM },
	{ "fastest", FWD_POLICY_FASTEST }, { NULL, 0 },
};

static const struct config_key node_keys[] = {
	K_STRING("node.name", CFG(node_name), "NODE_NAME", START,
		 "this node's name: the Kubernetes Node, and CH TXT id.server",
		 .min = 1, .max = 253),
	K_STRING("node.zone", CFG(node_zone), "the Node's zone label", RELOAD,
		 "this node's zone: zone preference and SRV priorities", .min = 1, .max = 63),
	K_END
};

static const struct config_key k8s_keys[] = {
	K_STRING("kubernetes.server", CFG(k8s.server), "in-cluster", START,
		 "the API server URL, https:// (or http:// for tests)", .min = 1),
	K_STRING("kubernetes.token_file", CFG(k8s.token_file), "none", START,
		 "a bearer token file, re-read when it changes", .min = 1),
	K_STRING("kubernetes.ca_file", CFG(k8s.ca_file), "none", START,
		 "a CA bundle for the API server's certificate", .min = 1),
	K_STRING("kubernetes.client_cert", CFG(k8s.client_cert), "none", START,
		 "a client certificate, with client_key", .min = 1),
	K_STRING("kubernetes.client_key", CFG(k8s.client_key), "none", START,
		 "the client certificate's key, with client_cert", .min = 1),
	K_STRING("kubernetes.kubeconfig", CFG(k8s.kubeconfig), "none", START,
		 "a kubeconfig file: its current context's server and credentials", .min = 1,
		 .check = check_credentials),
	K_BOOL("kubernetes.insecure_skip_tls_verify", CFG(k8s.insecure_skip_tls_verify),
	       false, START, "skip the API server's certificate checks"),
	K_UINT("kubernetes.watch_timeout_s", CFG(k8s.watch_timeout_s), 10, 3600,
	       CONFIG_DEFAULT_K8S_WATCH_TIMEOUT_S, START,
	       "server-side watch timeout T: each watch asks for [T, 2T)"),
	K_UINT("kubernetes.page_size", CFG(k8s.page_size), 1, 100000,
	       CONFIG_DEFAULT_K8S_PAGE_SIZE, START, "the limit of each LIST page"),
	K_LIST("kubernetes.namespaces", CFG(k8s.namespaces),
	       offsetof(struct config, k8s.n_namespaces), cfg_parse_namespaces, "[] (all)",
	       START, "watch only these namespaces"),
	K_END
};

static const struct config_key cache_keys[] = {
	K_BOOL("cache.enabled", CFG(fwd.cache_enabled), true, START,
	       "cache forwarded answers"),
	K_UINT("cache.max_entries", CFG(fwd.cache_max_entries), 1, 10000000,
	       CONFIG_DEFAULT_CACHE_MAX_ENTRIES, START,
	       "entries at most; the least recently used go first"),
	K_UINT("cache.min_ttl", CFG(fwd.cache_min_ttl), 0, 86400,
	       CONFIG_DEFAULT_CACHE_MIN_TTL, START,
	       "seconds a positive answer is kept at least; at most max_ttl"),
	K_UINT("cache.max_ttl", CFG(fwd.cache_max_ttl), 1, 604800,
	       CONFIG_DEFAULT_CACHE_MAX_TTL, START, "seconds a positive answer is kept at most"),
	K_UINT("cache.negative_max_ttl", CFG(fwd.cache_negative_max_ttl), 1, 86400,
	       CONFIG_DEFAULT_CACHE_NEG_MAX_TTL, START,
	       "seconds a negative answer is kept at most"),
	K_BOOL("cache.serve_stale", CFG(fwd.serve_stale), true, START,
	       "serve expired entries when no upstream answers"),
	K_UINT("cache.stale_s", CFG(fwd.stale_s), 1, 604800, CONFIG_DEFAULT_CACHE_STALE_S,
	       START, "how long after expiry an entry may be served stale"),
	K_END
};

static const struct config_key forward_keys[] = {
	K_LIST("forward.upstreams", CFG(fwd.upstreams), offsetof(struct config, fwd.n_upstreams),
	       cfg_parse_upstreams, "[]", START, "upstream servers, \"ADDR:PORT\""),
	K_STRING("forward.resolv_conf", CFG(fwd.resolv_conf), "none", START,
		 "a resolv.conf whose nameservers are the upstreams", .min = 1,
		 .check = check_forward_source),
	K_UINT("forward.timeout_ms", CFG(fwd.timeout_ms), 50, 30000, CONFIG_DEFAULT_FWD_TIMEOUT_MS,
	       START, "how long one try waits for an upstream"),
	K_UINT("forward.max_in_flight", CFG(fwd.max_in_flight), 1, 1000000,
	       CONFIG_DEFAULT_FWD_MAX_IN_FLIGHT, START, "upstream queries in flight at most"),
	K_ENUM("forward.policy", CFG(fwd.policy), fwd_policies, FWD_POLICY_SEQUENTIAL,
	       "sequential", START, "the order upstreams are tried in"),
	K_END
};

static const struct config_key rrl_keys[] = {
	K_UINT("rate_limit.responses_per_second", CFG(rrl_rate), 0, 1000000,
	       CONFIG_DEFAULT_RRL_RATE, RELOAD, "UDP responses per second per prefix; 0 = off"),
	K_UINT("rate_limit.slip", CFG(rrl_slip), 0, 100, CONFIG_DEFAULT_RRL_SLIP, RELOAD,
	       "every slip-th limited response goes out truncated, the others are dropped"),
	K_UINT("rate_limit.ipv4_prefix", CFG(rrl_ipv4_prefix), 8, 32,
	       CONFIG_DEFAULT_RRL_IPV4_PREFIX, RELOAD, "IPv4 clients are limited per /this"),
	K_UINT("rate_limit.ipv6_prefix", CFG(rrl_ipv6_prefix), 16, 64,
	       CONFIG_DEFAULT_RRL_IPV6_PREFIX, RELOAD, "IPv6 clients are limited per /this"),
	K_BOOL("rate_limit.exempt_loopback", CFG(rrl_exempt_loopback), true, RELOAD,
	       "never limit loopback clients"),
	K_END
};

const struct config_key config_schema[] = {
	K_LIST("listen", CFG(listen), offsetof(struct config, n_listen), cfg_parse_listen,
	       "[\"" CONFIG_DEFAULT_LISTEN "\"]", RESTART,
	       "where DNS is answered over UDP and TCP, \"ADDR:PORT\"",
	       .equal = cfg_listen_equal),
	K_STRING("domain", CFG(domain), CONFIG_DEFAULT_DOMAIN, RESTART,
		 "the mesh domain: names are SVC.NS.svc.DOMAIN",
		 .def_str = CONFIG_DEFAULT_DOMAIN, .parse = cfg_parse_domain),
	K_UINT("ttl", CFG(ttl_s), 0, 3600, CONFIG_DEFAULT_TTL_S, RESTART,
	       "TTL of positive answers, in seconds"),
	K_UINT("negative_ttl", CFG(negative_ttl_s), 0, 3600, CONFIG_DEFAULT_NEG_TTL_S, RESTART,
	       "TTL of negative answers and the SOA minimum, in seconds"),
	K_UINT("edns_buffer_size", CFG(edns_buffer_size), 512, 4096, CONFIG_DEFAULT_EDNS_SIZE,
	       RESTART, "the EDNS0 UDP payload size advertised and sent at most"),
	K_UINT("tcp_max_connections", CFG(tcp_max_connections), 1, 1000000,
	       CONFIG_DEFAULT_TCP_MAX, RELOAD, "open DNS-over-TCP connections at most"),
	K_UINT("tcp_idle_timeout_ms", CFG(tcp_idle_timeout_ms), 100, 3600000,
	       CONFIG_DEFAULT_TCP_IDLE_MS, RELOAD, "an idle TCP connection is closed after this"),
	K_ENUM("log_level", CFG(log_level), log_levels, LOG_LEVEL_INFO, "info", RELOAD,
	       "debug, info, warn or error; -l wins", .flags = CONFIG_KEY_SEEN,
	       .flag_at = offsetof(struct config, log_level_set)),
	K_UINT("probe_max_in_flight", CFG(probe_max_in_flight), 1, 100000,
	       CONFIG_DEFAULT_PROBE_MAX_IN_FLIGHT, RELOAD, "probes running at once at most"),
	K_UINT("probe_idle_s", CFG(probe_idle_s), 1, 86400, CONFIG_DEFAULT_PROBE_IDLE_S, RELOAD,
	       "on_demand services stop being probed this long after the last query"),
	K_ENUM("probe_mode", CFG(probe_mode), probe_modes, SVC_PROBE_MODE_ALL, "all", RELOAD,
	       "static services' default: probe all the time, or on_demand"),
	K_OBJECT("node", 0, node_keys, RELOAD, "this node", .def_text = "{}"),
	K_OBJECT("kubernetes", 0, k8s_keys, START,
		 "its presence turns the Kubernetes source on", .def_text = "none",
		 .flags = CONFIG_KEY_SEEN, .flag_at = offsetof(struct config, k8s.enabled)),
	K_OBJECT("cache", 0, cache_keys, START, "the answer cache for forwarded names",
		 .def_text = "{}", .check = check_cache_ttls),
	K_OBJECT("forward", 0, forward_keys, START,
		 "its presence forwards names outside the domain", .def_text = "none",
		 .flags = CONFIG_KEY_SEEN, .flag_at = offsetof(struct config, fwd.enabled)),
	K_OBJECT("rate_limit", 0, rrl_keys, RELOAD,
		 "UDP response rate limiting per client prefix", .def_text = "{}"),
	K_LIST("allow", CFG(allow), offsetof(struct config, n_allow), cfg_parse_allow,
	       "loopback, RFC 1918, link-local and RFC 4193 prefixes", RELOAD,
	       "client prefixes answered; others get REFUSED"),
	K_CUSTOM("http", cfg_parse_http, "\"" CONFIG_DEFAULT_HTTP "\"", START,
		 "the HTTP operations endpoint, \"ADDR:PORT\" or \"off\""),
	K_STRING("user", CFG(user), "none", START,
		 "drop privileges to this user after binding", .min = 1),
	K_ENUM("log_format", CFG(log_json), log_formats, false, "text", RELOAD,
	       "text, or json: one JSON object per log line"),
	K_UINT("shutdown_grace_ms", CFG(shutdown_grace_ms), 0, 60000, CONFIG_DEFAULT_GRACE_MS,
	       RELOAD, "after SIGTERM, serve this long at most waiting for a successor"),
	K_UINT("threads", CFG(threads), 1, CONFIG_MAX_THREADS, CONFIG_DEFAULT_THREADS, RESTART,
	       "threads answering UDP; --threads wins", .flags = CONFIG_KEY_CLI,
	       .flag_at = offsetof(struct config, threads_cli)),
	K_UINT("udp_coalesce_us", CFG(udp_coalesce_us), 0, 1000, CONFIG_DEFAULT_COALESCE_US,
	       RELOAD, "latency budget of UDP coalescing naps; 0 = never nap"),
	K_UINT("handover_sync_wait_ms", CFG(handover_sync_wait_ms), 0, 600000,
	       CONFIG_DEFAULT_SYNC_WAIT_MS, RELOAD,
	       "a successor with a Kubernetes source binds after its first lists, or this"),
	K_BOOL("zone_preference", CFG(zone_preference), true, RELOAD,
	       "answer with this zone's endpoints while they have enough weight"),
	K_UINT("zone_min_share_pct", CFG(zone_min_share_pct), 0, 100,
	       CONFIG_DEFAULT_ZONE_MIN_SHARE, RELOAD,
	       "the share of the weight the zone's endpoints need"),
	K_UINT("max_answers", CFG(max_answers), 0, 4096, CONFIG_DEFAULT_MAX_ANSWERS, RELOAD,
	       "A or AAAA records per answer at most; 0 = all that fit"),
	K_LIST("services", CFG(services), offsetof(struct config, n_services),
	       cfg_parse_services, "[]", RELOAD, "static services",
	       .members = config_service_keys),
	K_END
};

/* ------------------------------------------------------------ reading the table */

const char *config_key_leaf(const struct config_key *k)
{
	const char *dot = strrchr(k->name, '.');

	return dot ? dot + 1 : k->name;
}

static void each(const struct config_key *keys,
		 void (*fn)(const struct config_key *k, void *arg), void *arg)
{
	for (const struct config_key *k = keys; k->name; k++) {
		fn(k, arg);
		if (k->members)
			each(k->members, fn, arg);
	}
}

void config_schema_each(void (*fn)(const struct config_key *k, void *arg), void *arg)
{
	each(config_schema, fn, arg);
}

struct find {
	const char *name;
	const struct config_key *hit;
};

static void find_cb(const struct config_key *k, void *arg)
{
	struct find *f = arg;

	if (!f->hit && strcmp(k->name, f->name) == 0)
		f->hit = k;
}

const struct config_key *config_key_find(const char *name)
{
	struct find f = { .name = name };

	config_schema_each(find_cb, &f);
	return f.hit;
}

void config_key_type_text(const struct config_key *k, char *buf, size_t len)
{
	static const char *const names[] = {
		[CONFIG_UINT] = "integer", [CONFIG_BOOL] = "boolean",
		[CONFIG_STRING] = "string", [CONFIG_ENUM] = "",
		[CONFIG_OBJECT] = "object", [CONFIG_LIST] = "array",
		[CONFIG_CUSTOM] = "string",
	};
	size_t n;

	snprintf(buf, len, "%s", names[k->type]);
	if (k->type == CONFIG_UINT) {
		n = strlen(buf);
		snprintf(buf + n, len - n, " %u-%u", k->min, k->max);
	}
	for (const struct config_choice *ch = k->choices; ch && ch->name; ch++) {
		n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", ch == k->choices ? "" : "|", ch->name);
	}
}

/* ------------------------------------------------------------ reload */

static void *at(const void *base, size_t offset)
{
	return (char *)base + offset;
}

static bool same_value(const struct config_key *k, const void *a, const void *b)
{
	if (k->equal)
		return k->equal(a, b);
	if (k->type == CONFIG_STRING) {
		const char *s = *(char **)at(a, k->offset), *t = *(char **)at(b, k->offset);
		return (!s && !t) || (s && t && strcmp(s, t) == 0);
	}
	return memcmp(at(a, k->offset), at(b, k->offset), k->size) == 0;
}

/* Sections of struct config only: a LIST's members live in its elements. */
static unsigned restart_walk(const struct config_key *keys, const void *old,
			     const void *new, char *buf, size_t len, unsigned n)
{
	for (const struct config_key *k = keys; k->name; k++) {
		if (k->type == CONFIG_OBJECT) {
			n = restart_walk(k->members, at(old, k->offset), at(new, k->offset),
					 buf, len, n);
			continue;
		}
		if (k->apply != CONFIG_RESTART || same_value(k, old, new))
			continue;
		if ((k->flags & CONFIG_KEY_CLI) && *(bool *)at(old, k->flag_at))
			continue;
		size_t l = strnlen(buf, len);
		if (l < len)
			snprintf(buf + l, len - l, "%s%s", n ? ", " : "", k->name);
		n++;
	}
	return n;
}

unsigned config_restart_changes(const struct config *old, const struct config *new,
				char *buf, size_t len)
{
	if (len)
		buf[0] = '\0';
	return restart_walk(config_schema, old, new, buf, len, 0);
}

static void swap_bytes(void *a, void *b, size_t n)
{
	unsigned char *x = a, *y = b;

	for (size_t i = 0; i < n; i++) {
		unsigned char t = x[i];
		x[i] = y[i];
		y[i] = t;
	}
}

static void keep_walk(const struct config_key *keys, void *new, void *old)
{
	for (const struct config_key *k = keys; k->name; k++) {
		if (k->type == CONFIG_OBJECT)
			keep_walk(k->members, at(new, k->offset), at(old, k->offset));
		if (k->apply != CONFIG_RESTART)
			continue;
		swap_bytes(at(new, k->offset), at(old, k->offset), k->size);
		if (k->type == CONFIG_LIST)
			swap_bytes(at(new, k->count), at(old, k->count), sizeof(size_t));
		if (k->flags & CONFIG_KEY_CLI)
			*(bool *)at(new, k->flag_at) = *(bool *)at(old, k->flag_at);
	}
}

void config_keep_restart_values(struct config *new, struct config *old)
{
	keep_walk(config_schema, new, old);
}

/* ------------------------------------------------------------ meshdns --config-keys */

/* A row without a default text is required (the unit test checks). */
static void print_cb(const struct config_key *k, void *arg)
{
	char type[64];

	config_key_type_text(k, type, sizeof(type));
	fprintf(arg, "%-38s %-7s %s, %s%s: %s\n", k->name,
		k->apply == CONFIG_RELOAD ? "reload" : "restart", type,
		k->def_text ? "default " : "required", k->def_text ? k->def_text : "",
		k->doc);
}

void config_schema_print(FILE *f)
{
	fprintf(f, "# KEY (a reload applies it, or it needs a restart) TYPE, DEFAULT: WHAT IT IS\n");
	config_schema_each(print_cb, f);
}
