/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Kubernetes objects to registry specs, annotation parsers and the
 * kubeconfig reader. Pure; the only cJSON user on the Kubernetes side.
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

#define ANN_PREFIX "meshdns.io/"

/* ------------------------------------------------------------ helpers */

static const cJSON *at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = at(o, a, b);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : MESHDNS_ENOMEM;
}

static bool bool_at(const cJSON *o, const char *key, bool dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

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
		const struct k8s_slice *sl = slices[i];
		/* ports: the union by name (unnamed: by number) */
		for (size_t p = 0; p < sl->n_ports; p++) {
			const struct svc_port *sp = &sl->ports[p];
			bool dup = false;
			for (size_t q = 0; q < out->n_ports && !dup; q++)
				dup = *sp->name ? strcmp(out->ports[q].name, sp->name) == 0
						: !*out->ports[q].name &&
						  out->ports[q].port == sp->port;
			if (dup)
				continue;
			struct svc_port *np = &out->ports[out->n_ports];
			if (dup_str(&np->name, sp->name) < 0)
				goto nomem;
			np->port = sp->port;
			np->proto = sp->proto;
			out->n_ports++;
		}
		for (size_t e = 0; e < sl->n_eps; e++) {
			const struct k8s_endpoint *ke = &sl->eps[e];
			bool ready = ke->ready || svc->publish_not_ready;
			/* terminating endpoints drain out of answers */
			if (ke->terminating && !svc->publish_not_ready)
				ready = false;
			struct svc_endpoint *dup = NULL;
			for (size_t q = 0; q < out->n_endpoints && !dup; q++)
				if (same_ep(&out->endpoints[q], ke))
					dup = &out->endpoints[q];
			if (dup) {
				dup->ready |= ready;
				continue;
			}
			struct svc_endpoint *ne = &out->endpoints[out->n_endpoints++];
			ne->family = ke->family;
			memcpy(ne->addr, ke->addr, sizeof(ne->addr));
			ne->weight = sl->weight;
			ne->ready = ready;
			if (dup_str(&ne->hostname, ke->hostname) < 0 ||
			    dup_str(&ne->zone, ke->zone) < 0)
				goto nomem;
			if (ke->n_for_zones) {
				ne->for_zones = calloc(ke->n_for_zones, sizeof(char *));
				if (!ne->for_zones)
					goto nomem;
				for (size_t z = 0; z < ke->n_for_zones; z++) {
					ne->n_for_zones = z + 1;
					if (dup_str(&ne->for_zones[z], ke->for_zones[z]) < 0)
						goto nomem;
				}
			}
		}
	}
	/* a hostname shared by two addresses of one family would make the
	 * name HOST.SVC ambiguous: keep it on the first, dash the others */
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
	return 0;
nomem:
	svc_spec_deinit(out);
	return MESHDNS_ENOMEM;
}

/* ------------------------------------------------------------ kubeconfig */

struct yline {
	int indent;
	char *text;		/* points into the copy; comment and CR stripped */
};

struct yparse {
	struct yline *l;
	size_t n, i;
	char *err;
	int depth;
};

/* Unquote a scalar in place; plain scalars are kept as written. */
static char *yaml_scalar(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		char *w = s;
		for (char *r = s + 1; r < s + n - 1; r++) {
			if (*r == '\\' && r + 1 < s + n - 1) {
				r++;
				*w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
			} else {
				*w++ = *r;
			}
		}
		*w = '\0';
	} else if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		char *w = s;
		for (char *r = s + 1; r < s + n - 1; r++) {
			*w++ = *r;
			if (*r == '\'' && r[1] == '\'')
				r++;
		}
		*w = '\0';
	}
	return s;
}

/* The ': ' (or final ':') that ends a mapping key, outside quotes. */
static char *yaml_colon(char *s)
{
	char q = 0;

	for (char *p = s; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
		} else if (*p == '"' || *p == '\'') {
			q = *p;
		} else if (*p == ':' && (p[1] == ' ' || p[1] == '\0')) {
			return p;
		}
	}
	return NULL;
}

static bool is_item(const char *t)
{
	return t[0] == '-' && (t[1] == ' ' || t[1] == '\0');
}

static cJSON *yaml_node(struct yparse *y, int indent);

static cJSON *yaml_value(char *v)
{
	v = yaml_scalar(v);
	if (strcmp(v, "{}") == 0)
		return cJSON_CreateObject();
	if (strcmp(v, "[]") == 0)
		return cJSON_CreateArray();
	if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0)
		return cJSON_CreateNull();
	return cJSON_CreateString(v);
}

static cJSON *yaml_seq(struct yparse *y, int indent)
{
	cJSON *arr = cJSON_CreateArray();

	while (arr && y->i < y->n && y->l[y->i].indent == indent && is_item(y->l[y->i].text)) {
		struct yline *l = &y->l[y->i];
		char *rest = l->text + 1;
		cJSON *item;
		while (*rest == ' ')
			rest++;
		if (!*rest) {
			y->i++;
			if (y->i < y->n && y->l[y->i].indent > indent)
				item = yaml_node(y, y->l[y->i].indent);
			else
				item = cJSON_CreateNull();
		} else {
			/* "- key: v": the item's block starts on this line */
			l->indent += (int)(rest - l->text);
			l->text = rest;
			if (yaml_colon(rest) || is_item(rest)) {
				item = yaml_node(y, l->indent);
			} else {
				item = yaml_value(rest);
				y->i++;
			}
		}
		if (!item) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, item);
	}
	return arr;
}

static cJSON *yaml_map(struct yparse *y, int indent)
{
	cJSON *obj = cJSON_CreateObject();

	while (obj && y->i < y->n && y->l[y->i].indent == indent && !is_item(y->l[y->i].text)) {
		char *t = y->l[y->i].text;
		char *colon = yaml_colon(t);
		cJSON *v;
		if (!colon) {
			snprintf(y->err, K8S_ERR_LEN, "line %zu: expected 'key: value'", y->i + 1);
			cJSON_Delete(obj);
			return NULL;
		}
		*colon = '\0';
		char *key = yaml_scalar(t), *val = colon + 1;
		while (*val == ' ')
			val++;
		y->i++;
		if (*val) {
			v = yaml_value(val);
		} else if (y->i < y->n && (y->l[y->i].indent > indent ||
					  (y->l[y->i].indent == indent && is_item(y->l[y->i].text)))) {
			v = yaml_node(y, y->l[y->i].indent);
		} else {
			v = cJSON_CreateNull();
		}
		if (!v) {
			cJSON_Delete(obj);
			return NULL;
		}
		cJSON_AddItemToObject(obj, key, v);
	}
	return obj;
}

static cJSON *yaml_node(struct yparse *y, int indent)
{
	cJSON *r;

	if (++y->depth > 32) {
		snprintf(y->err, K8S_ERR_LEN, "nesting too deep");
		return NULL;
	}
	r = is_item(y->l[y->i].text) ? yaml_seq(y, indent) : yaml_map(y, indent);
	y->depth--;
	return r;
}

cJSON *k8s_parse_kubeconfig(const char *text, char err[K8S_ERR_LEN])
{
	struct yparse y = { .err = err };
	const char *p = text;
	char *copy;
	cJSON *root = NULL;

	err[0] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '{') {
		root = cJSON_Parse(p);
		if (!root)
			snprintf(err, K8S_ERR_LEN, "not valid JSON");
		return root;
	}
	copy = strdup(text);
	size_t lines = 1;
	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	y.l = calloc(lines, sizeof(*y.l));
	if (!copy || !y.l) {
		snprintf(err, K8S_ERR_LEN, "out of memory");
		goto out;
	}
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		int ind = 0;
		while (line[ind] == ' ')
			ind++;
		if (line[ind] == '\t') {
			snprintf(err, K8S_ERR_LEN, "line %zu: tabs are not allowed in YAML", y.n + 1);
			goto out;
		}
		char *t = line + ind;
		/* comments: '#' at the start or after a blank, outside quotes */
		char q = 0;
		for (char *c = t; *c; c++) {
			if (q) {
				if (*c == q)
					q = 0;
			} else if (*c == '"' || *c == '\'') {
				q = *c;
			} else if (*c == '#' && (c == t || c[-1] == ' ')) {
				*c = '\0';
				break;
			}
		}
		size_t tl = strlen(t);
		while (tl && (t[tl - 1] == '\r' || t[tl - 1] == ' '))
			t[--tl] = '\0';
		if (!tl || strcmp(t, "---") == 0)
			continue;
		y.l[y.n].indent = ind;
		y.l[y.n].text = t;
		y.n++;
	}
	if (!y.n) {
		snprintf(err, K8S_ERR_LEN, "empty file");
		goto out;
	}
	root = yaml_node(&y, y.l[0].indent);
	if (root && y.i != y.n) {
		snprintf(err, K8S_ERR_LEN, "line %zu: unexpected indentation", y.i + 1);
		cJSON_Delete(root);
		root = NULL;
	}
	if (!root && !err[0])
		snprintf(err, K8S_ERR_LEN, "cannot parse");
out:
	free(y.l);
	free(copy);
	return root;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Decode base64 (padding and whitespace ignored) into a malloc'd buffer. */
static int b64_decode(const char *in, char **out, size_t *out_len)
{
	size_t n = strlen(in), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	char *buf = malloc(n / 4 * 3 + 4);

	if (!buf)
		return MESHDNS_ENOMEM;
	for (const char *p = in; *p; p++) {
		if (*p == '=' || isspace((unsigned char)*p))
			continue;
		int v = b64_value(*p);
		if (v < 0) {
			free(buf);
			return MESHDNS_EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)(acc >> bits);
		}
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;
}

/* The "NAME" entry of a kubeconfig list (clusters, users, contexts). */
static const cJSON *named(const cJSON *root, const char *list, const char *name,
			  const char *inner)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, list);

	for (const cJSON *e = cJSON_IsArray(arr) ? arr->child : NULL; e; e = e->next) {
		const char *n = str_at(e, "name", NULL);
		if (n && name && strcmp(n, name) == 0)
			return cJSON_GetObjectItemCaseSensitive(e, inner);
	}
	return NULL;
}

void k8s_kubeconfig_deinit(struct k8s_kubeconfig *k)
{
	free(k->server);
	free(k->ca_file);
	free(k->ca_data);
	free(k->token);
	free(k->token_file);
	free(k->cert_file);
	free(k->key_file);
	free(k->cert_data);
	free(k->key_data);
	free(k->namespace);
	memset(k, 0, sizeof(*k));
}

int k8s_kubeconfig_resolve(const cJSON *root, struct k8s_kubeconfig *out,
			   char err[K8S_ERR_LEN])
{
	const char *cur = str_at(root, "current-context", NULL);
	const cJSON *ctx, *cluster, *user;
	const char *v;
	int r;

	memset(out, 0, sizeof(*out));
	ctx = named(root, "contexts", cur, "context");
	if (!cur || !ctx) {
		snprintf(err, K8S_ERR_LEN, "no current-context, or it is not in contexts");
		return MESHDNS_EINVAL;
	}
	cluster = named(root, "clusters", str_at(ctx, "cluster", NULL), "cluster");
	user = named(root, "users", str_at(ctx, "user", NULL), "user");
	if (!cluster || !str_at(cluster, "server", NULL)) {
		snprintf(err, K8S_ERR_LEN, "context %s: its cluster has no server", cur);
		return MESHDNS_EINVAL;
	}
	if (dup_str(&out->server, str_at(cluster, "server", NULL)) < 0 ||
	    dup_str(&out->ca_file, str_at(cluster, "certificate-authority", NULL)) < 0 ||
	    dup_str(&out->namespace, str_at(ctx, "namespace", NULL)) < 0 ||
	    dup_str(&out->token, str_at(user, "token", NULL)) < 0 ||
	    dup_str(&out->token_file, str_at(user, "tokenFile", NULL)) < 0 ||
	    dup_str(&out->cert_file, str_at(user, "client-certificate", NULL)) < 0 ||
	    dup_str(&out->key_file, str_at(user, "client-key", NULL)) < 0)
		goto nomem;
	v = str_at(cluster, "insecure-skip-tls-verify", NULL);
	out->insecure = (v && strcmp(v, "true") == 0) ||
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster,
						"insecure-skip-tls-verify"));
	struct { const cJSON *o; const char *key; char **dst; size_t *len; } data[] = {
		{ cluster, "certificate-authority-data", &out->ca_data, &out->ca_data_len },
		{ user, "client-certificate-data", &out->cert_data, &out->cert_data_len },
		{ user, "client-key-data", &out->key_data, &out->key_data_len },
	};
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		if (!(v = str_at(data[i].o, data[i].key, NULL)))
			continue;
		r = b64_decode(v, data[i].dst, data[i].len);
		if (r == MESHDNS_ENOMEM)
			goto nomem;
		if (r < 0) {
			snprintf(err, K8S_ERR_LEN, "%s is not base64", data[i].key);
			k8s_kubeconfig_deinit(out);
			return MESHDNS_EINVAL;
		}
	}
	return 0;
nomem:
	k8s_kubeconfig_deinit(out);
	snprintf(err, K8S_ERR_LEN, "out of memory");
	return MESHDNS_ENOMEM;
}
