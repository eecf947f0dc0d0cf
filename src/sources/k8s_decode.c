/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Kubernetes objects to registry specs, and the annotation parsers. Pure;
 * the kubeconfig reader is k8s_kubeconfig.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "meshdns/k8s_decode.h"
#include "k8s_json.h"

#define ANN_PREFIX "meshdns.io/"

static enum svc_proto parse_proto(const char *p)
{
	if (p && strcmp(p, "UDP") == 0)
		return SVC_PROTO_UDP;
	if (p && strcmp(p, "SCTP") == 0)
		return SVC_PROTO_SCTP;
	return SVC_PROTO_TCP;
}

/* ------------------------------------------------------------ annotations */

int k8s_parse_duration_ms(const char *s, uint32_t *ms)
{
	double total = 0;
	const char *p = s;

	if (!*p)
		return MESHDNS_EINVAL;
	while (*p) {
		char *end;
		double v;
		if (!isdigit((unsigned char)*p) && *p != '.')
			return MESHDNS_EINVAL;
		v = strtod(p, &end);
		if (end == p)
			return MESHDNS_EINVAL;
		p = end;
		if (strncmp(p, "ms", 2) == 0) {
			total += v;
			p += 2;
		} else if (*p == 's') {
			total += v * 1000;
			p++;
		} else if (*p == 'm') {
			total += v * 60000;
			p++;
		} else if (*p == 'h') {
			total += v * 3600000;
			p++;
		} else {
			return MESHDNS_EINVAL;	/* a unit is required, as in Go */
		}
	}
	if (total < 1 || total > 3600000)
		return MESHDNS_EINVAL;
	*ms = (uint32_t)total;
	return 0;
}

int k8s_parse_probe(const char *s, struct svc_probe *p)
{
	const char *rest;
	char *end;
	long port;

	if (strcmp(s, "none") == 0) {
		p->type = SVC_PROBE_NONE;
		return 0;
	}
	if (strncmp(s, "http:", 5) == 0) {
		p->type = SVC_PROBE_HTTP;
		rest = s + 5;
	} else if (strncmp(s, "https:", 6) == 0) {
		p->type = SVC_PROBE_HTTPS;
		rest = s + 6;
	} else if (strncmp(s, "tcp:", 4) == 0) {
		p->type = SVC_PROBE_TCP;
		rest = s + 4;
	} else {
		return MESHDNS_EINVAL;
	}
	if (!isdigit((unsigned char)*rest))
		return MESHDNS_EINVAL;
	port = strtol(rest, &end, 10);
	if (port < 1 || port > 65535)
		return MESHDNS_EINVAL;
	p->port = (uint16_t)port;
	free(p->path);
	p->path = NULL;
	if (p->type == SVC_PROBE_TCP)
		return *end ? MESHDNS_EINVAL : 0;
	if (*end && (*end != '/' || strpbrk(end, " \t\r\n")))
		return MESHDNS_EINVAL;
	if (*end && !(p->path = strdup(end)))
		return MESHDNS_ENOMEM;
	return 0;
}

/* One annotation; a bad value (or one below @p min) is counted and the
 * default kept. */
static void annotation_duration(const cJSON *ann, const char *key, uint32_t min,
				uint32_t *out, unsigned *bad)
{
	const char *v = str_at(ann, key, NULL);
	uint32_t ms;

	if (!v)
		return;
	if (k8s_parse_duration_ms(v, &ms) == 0 && ms >= min)
		*out = ms;
	else
		(*bad)++;
}

static void annotation_count(const cJSON *ann, const char *key, unsigned max,
			     uint32_t *out, unsigned *bad)
{
	const char *v = str_at(ann, key, NULL);
	char *end;
	long n;

	if (!v)
		return;
	n = strtol(v, &end, 10);
	if (*v && !*end && n >= 0 && (unsigned long)n <= max)
		*out = (uint32_t)n;
	else
		(*bad)++;
}

/* ------------------------------------------------------------ services */

void k8s_service_deinit(struct k8s_service *s)
{
	free(s->ns);
	free(s->name);
	free(s->rv);
	free(s->probe.path);
	free(s->probe.host);
	memset(s, 0, sizeof(*s));
}

int k8s_decode_service(const cJSON *obj, struct k8s_service *out, char err[K8S_ERR_LEN])
{
	const char *name = str_at(obj, "metadata", "name");
	const char *ns = str_at(obj, "metadata", "namespace");
	const char *type = str_at(obj, "spec", "type");
	const cJSON *ann = at(obj, "metadata", "annotations");
	const char *v;
	uint32_t n;

	memset(out, 0, sizeof(*out));
	svc_probe_init(&out->probe);
	if (!name || !ns) {
		snprintf(err, K8S_ERR_LEN, "Service without metadata.name/namespace");
		return MESHDNS_EMALF;
	}
	if (!svc_is_dns1123_label(name) || !svc_is_dns1123_label(ns)) {
		snprintf(err, K8S_ERR_LEN, "Service %s/%s: name is not a DNS label", ns, name);
		return MESHDNS_EMALF;
	}
	if (type && strcmp(type, "ExternalName") == 0) {
		snprintf(err, K8S_ERR_LEN, "Service %s/%s is ExternalName", ns, name);
		return MESHDNS_ENOENT;
	}
	if (dup_str(&out->ns, ns) < 0 || dup_str(&out->name, name) < 0 ||
	    dup_str(&out->rv, str_at(obj, "metadata", "resourceVersion")) < 0)
		goto nomem;
	out->publish_not_ready = bool_at(at(obj, "spec", NULL), "publishNotReadyAddresses",
					 false);
	if ((v = str_at(ann, ANN_PREFIX "probe", NULL))) {
		if (k8s_parse_probe(v, &out->probe) < 0) {
			svc_probe_init(&out->probe);
			out->bad_annotations++;
		}
	}
	annotation_duration(ann, ANN_PREFIX "probe-interval", SVC_PROBE_MIN_INTERVAL_MS,
			    &out->probe.interval_ms, &out->bad_annotations);
	annotation_duration(ann, ANN_PREFIX "probe-timeout", SVC_PROBE_MIN_TIMEOUT_MS,
			    &out->probe.timeout_ms, &out->bad_annotations);
	n = out->probe.rise;
	annotation_count(ann, ANN_PREFIX "probe-rise", 100, &n, &out->bad_annotations);
	out->probe.rise = (uint16_t)(n ? n : 1);
	n = out->probe.fall;
	annotation_count(ann, ANN_PREFIX "probe-fall", 100, &n, &out->bad_annotations);
	out->probe.fall = (uint16_t)(n ? n : 1);
	n = 0;
	annotation_count(ann, ANN_PREFIX "panic-threshold", 100, &n, &out->bad_annotations);
	out->panic_threshold_pct = (uint8_t)n;
	if (out->probe.timeout_ms > out->probe.interval_ms) {
		out->probe.timeout_ms = out->probe.interval_ms;
		out->bad_annotations++;
	}
	return 0;
nomem:
	k8s_service_deinit(out);
	return MESHDNS_ENOMEM;
}

/* ------------------------------------------------------------ slices */

static void endpoint_deinit(struct k8s_endpoint *e)
{
	free(e->hostname);
	free(e->node);
	free(e->zone);
	for (size_t i = 0; i < e->n_for_zones; i++)
		free(e->for_zones[i]);
	free(e->for_zones);
}

void k8s_slice_deinit(struct k8s_slice *s)
{
	free(s->ns);
	free(s->name);
	free(s->service);
	free(s->rv);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	for (size_t i = 0; i < s->n_eps; i++)
		endpoint_deinit(&s->eps[i]);
	free(s->eps);
	memset(s, 0, sizeof(*s));
}

static int decode_endpoint(const cJSON *e, int family, struct k8s_endpoint *out)
{
	const cJSON *addrs = cJSON_GetObjectItemCaseSensitive(e, "addresses");
	const cJSON *cond = cJSON_GetObjectItemCaseSensitive(e, "conditions");
	const cJSON *first = cJSON_IsArray(addrs) ? addrs->child : NULL;
	const char *h;

	memset(out, 0, sizeof(*out));
	if (!cJSON_IsString(first) || inet_pton(family, first->valuestring, out->addr) != 1)
		return MESHDNS_EMALF;
	out->family = family;
	/* API semantics: ready nil means true, serving follows ready */
	out->ready = bool_at(cond, "ready", true);
	out->serving = bool_at(cond, "serving", out->ready);
	out->terminating = bool_at(cond, "terminating", false);
	h = str_at(e, "hostname", NULL);
	if (h && svc_is_dns1123_label(h) && dup_str(&out->hostname, h) < 0)
		return MESHDNS_ENOMEM;
	if (dup_str(&out->node, str_at(e, "nodeName", NULL)) < 0 ||
	    dup_str(&out->zone, str_at(e, "zone", NULL)) < 0)
		return MESHDNS_ENOMEM;
	const cJSON *fz = at(e, "hints", "forZones");
	if (cJSON_IsArray(fz) && cJSON_GetArraySize(fz) > 0) {
		out->for_zones = calloc((size_t)cJSON_GetArraySize(fz), sizeof(char *));
		if (!out->for_zones)
			return MESHDNS_ENOMEM;
		for (const cJSON *z = fz->child; z; z = z->next) {
			const char *zn = str_at(z, "name", NULL);
			if (zn && dup_str(&out->for_zones[out->n_for_zones++], zn) < 0)
				return MESHDNS_ENOMEM;
		}
	}
	return 0;
}

int k8s_decode_slice(const cJSON *obj, struct k8s_slice *out, char err[K8S_ERR_LEN])
{
	const char *name = str_at(obj, "metadata", "name");
	const char *ns = str_at(obj, "metadata", "namespace");
	const char *svc = str_at(at(obj, "metadata", "labels"), "kubernetes.io/service-name",
				 NULL);
	const char *type = str_at(obj, "addressType", NULL);
	const char *w = str_at(at(obj, "metadata", "annotations"), ANN_PREFIX "weight", NULL);
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(obj, "endpoints");
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(obj, "ports");
	int family;

	memset(out, 0, sizeof(*out));
	out->weight = SVC_DEFAULT_WEIGHT;
	if (!name || !ns || !type) {
		snprintf(err, K8S_ERR_LEN, "EndpointSlice without metadata.name/namespace or addressType");
		return MESHDNS_EMALF;
	}
	if (dup_str(&out->ns, ns) < 0 || dup_str(&out->name, name) < 0 ||
	    dup_str(&out->service, svc) < 0 ||
	    dup_str(&out->rv, str_at(obj, "metadata", "resourceVersion")) < 0)
		goto nomem;
	if (w) {
		char *end;
		long n = strtol(w, &end, 10);
		if (*w && !*end && n >= 0 && n <= SVC_MAX_WEIGHT)
			out->weight = (uint32_t)n;
		else
			out->bad_weight = true;
	}
	if (strcmp(type, "IPv4") == 0)
		family = AF_INET;
	else if (strcmp(type, "IPv6") == 0)
		family = AF_INET6;
	else
		return 0;	/* FQDN slices carry nothing we answer */

	if (cJSON_IsArray(ports) && cJSON_GetArraySize(ports) > 0) {
		out->ports = calloc((size_t)cJSON_GetArraySize(ports), sizeof(*out->ports));
		if (!out->ports)
			goto nomem;
		for (const cJSON *p = ports->child; p; p = p->next) {
			const cJSON *num = cJSON_GetObjectItemCaseSensitive(p, "port");
			const char *pn = str_at(p, "name", NULL);
			if (!cJSON_IsNumber(num) || num->valuedouble < 1 || num->valuedouble > 65535)
				continue;	/* a port-less slice entry: nothing to offer */
			struct svc_port *sp = &out->ports[out->n_ports];
			if (dup_str(&sp->name, pn && svc_is_port_name(pn) ? pn : "") < 0)
				goto nomem;
			sp->port = (uint16_t)num->valuedouble;
			sp->proto = parse_proto(str_at(p, "protocol", NULL));
			out->n_ports++;
		}
	}
	if (cJSON_IsArray(eps) && cJSON_GetArraySize(eps) > 0) {
		out->eps = calloc((size_t)cJSON_GetArraySize(eps), sizeof(*out->eps));
		if (!out->eps)
			goto nomem;
		for (const cJSON *e = eps->child; e; e = e->next) {
			int r = decode_endpoint(e, family, &out->eps[out->n_eps]);
			if (r == MESHDNS_ENOMEM) {
				endpoint_deinit(&out->eps[out->n_eps]);
				goto nomem;
			}
			if (r < 0) {
				endpoint_deinit(&out->eps[out->n_eps]);
				out->skipped++;
				continue;
			}
			out->n_eps++;
		}
	}
	return 0;
nomem:
	k8s_slice_deinit(out);
	return MESHDNS_ENOMEM;
}

/* ------------------------------------------------------------ join */

static bool same_ep(const struct svc_endpoint *a, const struct k8s_endpoint *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

/* Slice @p sl's ports into @p out: the union by name (unnamed: by number). */
static int add_ports(struct svc_spec *out, const struct k8s_slice *sl)
{
	for (size_t p = 0; p < sl->n_ports; p++) {
		const struct svc_port *sp = &sl->ports[p];
		bool dup = false;
		for (size_t q = 0; q < out->n_ports && !dup; q++)
			dup = *sp->name ? strcmp(out->ports[q].name, sp->name) == 0
					: !*out->ports[q].name && out->ports[q].port == sp->port;
		if (dup)
			continue;
		struct svc_port *np = &out->ports[out->n_ports];
		if (dup_str(&np->name, sp->name) < 0)
			return MESHDNS_ENOMEM;
		np->port = sp->port;
		np->proto = sp->proto;
		out->n_ports++;
	}
	return 0;
}

/* Endpoint @p ke of a slice with weight @p weight into @p out; an address
 * already there (another slice) is ready if either says so. */
static int add_endpoint(struct svc_spec *out, const struct k8s_service *svc,
			const struct k8s_endpoint *ke, uint32_t weight)
{
	bool ready = ke->ready || svc->publish_not_ready;

	/* terminating endpoints drain out of answers */
	if (ke->terminating && !svc->publish_not_ready)
		ready = false;
	for (size_t q = 0; q < out->n_endpoints; q++) {
		if (same_ep(&out->endpoints[q], ke)) {
			out->endpoints[q].ready |= ready;
			return 0;
		}
	}
	struct svc_endpoint *ne = &out->endpoints[out->n_endpoints++];
	ne->family = ke->family;
	memcpy(ne->addr, ke->addr, sizeof(ne->addr));
	ne->weight = weight;
	ne->ready = ready;
	if (dup_str(&ne->hostname, ke->hostname) < 0 || dup_str(&ne->zone, ke->zone) < 0)
		return MESHDNS_ENOMEM;
	if (!ke->n_for_zones)
		return 0;
	ne->for_zones = calloc(ke->n_for_zones, sizeof(char *));
	if (!ne->for_zones)
		return MESHDNS_ENOMEM;
	for (size_t z = 0; z < ke->n_for_zones; z++) {
		ne->n_for_zones = z + 1;
		if (dup_str(&ne->for_zones[z], ke->for_zones[z]) < 0)
			return MESHDNS_ENOMEM;
	}
	return 0;
}

/* A hostname shared by two addresses of one family would make the name
 * HOST.SVC ambiguous: keep it on the first, drop it from the others. */
static void unshare_hostnames(struct svc_spec *out)
{
	for (size_t a = 0; a < out->n_endpoints; a++) {
		for (size_t b = 0; b < a && out->endpoints[a].hostname; b++) {
			if (out->endpoints[b].hostname &&
			    out->endpoints[a].family == out->endpoints[b].family &&
			    strcmp(out->endpoints[a].hostname, out->endpoints[b].hostname) == 0) {
				free(out->endpoints[a].hostname);
				out->endpoints[a].hostname = NULL;
			}
		}
	}
}

int k8s_build_spec(const struct k8s_service *svc, const struct k8s_slice *const *slices,
		   size_t n_slices, struct svc_spec *out)
{
	size_t max_eps = 0, max_ports = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_slices; i++) {
		max_eps += slices[i]->n_eps;
		max_ports += slices[i]->n_ports;
	}
	if (dup_str(&out->name, svc->name) < 0 || dup_str(&out->namespace, svc->ns) < 0)
		goto nomem;
	out->probe = svc->probe;
	out->probe.path = out->probe.host = NULL;
	if (dup_str(&out->probe.path, svc->probe.path) < 0 ||
	    dup_str(&out->probe.host, svc->probe.host) < 0)
		goto nomem;
	out->probe_mode = SVC_PROBE_MODE_ON_DEMAND;
	out->panic_threshold_pct = svc->panic_threshold_pct;
	out->ports = calloc(max_ports ? max_ports : 1, sizeof(*out->ports));
	out->endpoints = calloc(max_eps ? max_eps : 1, sizeof(*out->endpoints));
	if (!out->ports || !out->endpoints)
		goto nomem;
	for (size_t i = 0; i < n_slices; i++) {
		if (add_ports(out, slices[i]) < 0)
			goto nomem;
		for (size_t e = 0; e < slices[i]->n_eps; e++) {
			if (add_endpoint(out, svc, &slices[i]->eps[e], slices[i]->weight) < 0)
				goto nomem;
		}
	}
	unshare_hostnames(out);
	return 0;
nomem:
	svc_spec_deinit(out);
	return MESHDNS_ENOMEM;
}
