/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * services[] in the config file: each element is read by the rows of
 * config_service_keys (config_schema.c); these are the hooks for what
 * the rows cannot say: arrays of ports and endpoints, addresses, status
 * ranges, and the names and addresses that must not repeat.
 */
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config_int.h"
#include "meshdns/config.h"
#include "meshdns/service.h"

#define HTTP_STATUS_MIN	100
#define HTTP_STATUS_MAX	599

static bool same_service(const struct svc_spec *a, const struct svc_spec *b)
{
	return a->name && a->namespace && b->name && b->namespace &&
	       strcmp(a->name, b->name) == 0 && strcmp(a->namespace, b->namespace) == 0;
}

void cfg_parse_services(struct config_ctx *c, const cJSON *obj, const char *path,
			const struct config_key *k, void *base)
{
	struct config *cfg = base;
	const cJSON *arr = cfg_get_array(c, obj, path, "services", sizeof(*cfg->services),
					 (void **)&cfg->services, &cfg->n_services);
	size_t i = 0;

	for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, i++) {
		char p[CONFIG_PATH_LEN];
		struct svc_spec *s = &cfg->services[i];
		cfg_path_fmt(p, "services[%zu]", i);
		svc_probe_init(&s->probe);
		if (cfg_apply_defaults(k->members, s) < 0)
			c->nomem = true;
		cfg_parse_object(c, e, p, k->members, s);
		for (size_t j = 0; j < i; j++) {
			if (same_service(&cfg->services[j], s)) {
				cfg_bad(c, e, p, "service %s.%s is defined twice (also services[%zu])",
					s->name, s->namespace, j);
				break;
			}
		}
	}
}

/* ------------------------------------------------------------ ports */

void cfg_parse_port_name(struct config_ctx *c, const cJSON *obj, const char *path,
			 const struct config_key *k, void *base)
{
	struct svc_port *port = base;
	const char *s = cfg_get_string(c, obj, path, "name", false);
	char p[CONFIG_PATH_LEN];

	cfg_subpath(p, path, "name");
	if (s && *s && !svc_is_port_name(s))
		cfg_bad(c, cfg_member(obj, "name"), p,
			"\"%s\" is not a port name (1-15 of a-z 0-9 '-', with a letter)", s);
	/* kept even when bad: a second bad one is then also "used twice" */
	port->name = cfg_dup(c, s ? s : "");
}

static void check_port_repeats(struct config_ctx *c, const cJSON *e, const char *path,
			       const struct svc_spec *svc, size_t i)
{
	const struct svc_port *b = &svc->ports[i];

	for (size_t j = 0; j < i; j++) {
		const struct svc_port *a = &svc->ports[j];
		if (a->name && b->name && *a->name && strcmp(a->name, b->name) == 0)
			cfg_bad(c, e, path, "port name \"%s\" is used twice", b->name);
		else if (a->port == b->port && a->proto == b->proto && b->port)
			cfg_bad(c, e, path, "port %u/%s is listed twice", b->port,
				svc_proto_name(b->proto));
	}
	if (svc->n_ports > 1 && b->name && !*b->name)
		cfg_bad(c, e, path, "needs a name: a service with several ports must name each");
}

void cfg_parse_ports(struct config_ctx *c, const cJSON *obj, const char *path,
		     const struct config_key *k, void *base)
{
	struct svc_spec *svc = base;
	const cJSON *arr = cfg_get_array(c, obj, path, "ports", sizeof(*svc->ports),
					 (void **)&svc->ports, &svc->n_ports);
	size_t i = 0;

	for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, i++) {
		char p[CONFIG_PATH_LEN];
		cfg_path_fmt(p, "%s.ports[%zu]", path, i);
		if (cfg_apply_defaults(k->members, &svc->ports[i]) < 0)
			c->nomem = true;
		cfg_parse_object(c, e, p, k->members, &svc->ports[i]);
		check_port_repeats(c, e, p, svc, i);
	}
}

/* ------------------------------------------------------------ endpoints */

void cfg_parse_address(struct config_ctx *c, const cJSON *obj, const char *path,
		       const struct config_key *k, void *base)
{
	struct svc_endpoint *ep = base;
	const char *s = cfg_get_string(c, obj, path, "address", true);
	char p[CONFIG_PATH_LEN];

	if (!s)
		return;
	cfg_subpath(p, path, "address");
	if (inet_pton(AF_INET, s, ep->addr) == 1)
		ep->family = AF_INET;
	else if (inet_pton(AF_INET6, s, ep->addr) == 1)
		ep->family = AF_INET6;
	else
		cfg_bad(c, cfg_member(obj, "address"), p, "\"%s\" is not an IP address", s);
}

void cfg_parse_for_zones(struct config_ctx *c, const cJSON *obj, const char *path,
			 const struct config_key *k, void *base)
{
	struct svc_endpoint *ep = base;
	const cJSON *fz = cfg_get_array(c, obj, path, "for_zones", sizeof(*ep->for_zones),
					(void **)&ep->for_zones, &ep->n_for_zones);
	size_t i = 0;

	for (const cJSON *z = fz ? fz->child : NULL; z; z = z->next, i++) {
		char pz[CONFIG_PATH_LEN];
		cfg_path_fmt(pz, "%s.for_zones[%zu]", path, i);
		if (!cJSON_IsString(z) || !*z->valuestring || strlen(z->valuestring) > 63)
			cfg_bad(c, z, pz, "must be a zone name of 1 to 63 characters");
		else
			ep->for_zones[i] = cfg_dup(c, z->valuestring);
	}
}

static bool same_endpoint_host(const struct svc_endpoint *a,
			       const struct svc_endpoint *b)
{
	return a->hostname && b->hostname && a->family == b->family &&
	       strcmp(a->hostname, b->hostname) == 0;
}

static void check_endpoint_repeats(struct config_ctx *c, const cJSON *e, const char *path,
				   const struct svc_spec *svc, size_t i)
{
	const struct svc_endpoint *b = &svc->endpoints[i];

	for (size_t j = 0; j < i && b->family; j++) {
		const struct svc_endpoint *a = &svc->endpoints[j];
		if (a->family == b->family &&
		    memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0) {
			cfg_bad(c, e, path, "address is listed twice (also endpoints[%zu])", j);
			break;
		}
		if (same_endpoint_host(a, b)) {
			cfg_bad(c, e, path, "hostname \"%s\" is used twice for one address family",
				b->hostname);
			break;
		}
	}
}

void cfg_parse_endpoints(struct config_ctx *c, const cJSON *obj, const char *path,
			 const struct config_key *k, void *base)
{
	struct svc_spec *svc = base;
	const cJSON *arr = cfg_get_array(c, obj, path, "endpoints", sizeof(*svc->endpoints),
					 (void **)&svc->endpoints, &svc->n_endpoints);
	size_t i = 0;

	for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next, i++) {
		char p[CONFIG_PATH_LEN];
		struct svc_endpoint *ep = &svc->endpoints[i];
		cfg_path_fmt(p, "%s.endpoints[%zu]", path, i);
		if (cfg_apply_defaults(k->members, ep) < 0)
			c->nomem = true;
		ep->ready = true;	/* the file is the source: it says ready */
		cfg_parse_object(c, e, p, k->members, ep);
		check_endpoint_repeats(c, e, p, svc, i);
	}
}

/* ------------------------------------------------------------ probe */

void cfg_parse_expect_status(struct config_ctx *c, const cJSON *obj, const char *path,
			     const struct config_key *k, void *base)
{
	struct svc_probe *pr = base;
	const char *s = cfg_get_string(c, obj, path, "expect_status", false);
	char p[CONFIG_PATH_LEN], end;
	unsigned lo, hi;

	if (!s)
		return;
	cfg_subpath(p, path, "expect_status");
	int n = sscanf(s, "%u-%u%c", &lo, &hi, &end);
	if (n == 1)
		hi = lo;
	if ((n != 1 && n != 2) || lo < HTTP_STATUS_MIN || hi > HTTP_STATUS_MAX || lo > hi) {
		cfg_bad(c, cfg_member(obj, "expect_status"), p,
			"\"%s\" is not a status code or range like \"200-399\"", s);
		return;
	}
	pr->status_min = (uint16_t)lo;
	pr->status_max = (uint16_t)hi;
}
