/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Helpers for struct svc_spec: copy, free, endpoint host labels, and the
 * rules for names and probe settings that every source must follow.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/dns_msg.h"
#include "meshdns/error.h"
#include "meshdns/service.h"

#define SVC_MAX_PORT_NAME	15	/* IANA service names */

const char *svc_proto_name(enum svc_proto p)
{
	switch (p) {
	case SVC_PROTO_UDP:
		return "udp";
	case SVC_PROTO_SCTP:
		return "sctp";
	case SVC_PROTO_TCP:
	default:
		return "tcp";
	}
}

void svc_probe_init(struct svc_probe *p)
{
	memset(p, 0, sizeof(*p));
	p->type = SVC_PROBE_NONE;
	p->tls_verify = true;
	p->status_min = 200;
	p->status_max = 399;
	p->interval_ms = SVC_PROBE_DEFAULT_INTERVAL_MS;
	p->timeout_ms = SVC_PROBE_DEFAULT_TIMEOUT_MS;
	p->rise = SVC_PROBE_DEFAULT_RISE;
	p->fall = SVC_PROBE_DEFAULT_FALL;
	p->jitter_pct = SVC_PROBE_DEFAULT_JITTER_PCT;
}

bool svc_is_dns1123_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > DNS_MAX_LABEL || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		      s[i] == '-'))
			return false;
	}
	return true;
}

bool svc_is_port_name(const char *s)
{
	size_t n = strlen(s);
	bool letter = false;

	if (n == 0 || n > SVC_MAX_PORT_NAME || s[0] == '-' || s[n - 1] == '-' ||
	    strstr(s, "--"))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (islower((unsigned char)s[i]))
			letter = true;
		else if (!isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	}
	return letter;
}

static bool opt_str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool svc_probe_equal(const struct svc_probe *a, const struct svc_probe *b)
{
	return a->type == b->type && a->port == b->port &&
	       opt_str_eq(a->path, b->path) && opt_str_eq(a->host, b->host) &&
	       a->tls_verify == b->tls_verify && a->status_min == b->status_min &&
	       a->status_max == b->status_max && a->interval_ms == b->interval_ms &&
	       a->timeout_ms == b->timeout_ms && a->rise == b->rise &&
	       a->fall == b->fall && a->jitter_pct == b->jitter_pct;
}

uint16_t svc_probe_port(const struct svc_spec *s)
{
	if (s->probe.port)
		return s->probe.port;
	return s->n_ports ? s->ports[0].port : 0;
}

const char *svc_probe_type_name(enum svc_probe_type t)
{
	switch (t) {
	case SVC_PROBE_HTTP:
		return "http";
	case SVC_PROBE_HTTPS:
		return "https";
	case SVC_PROBE_TCP:
		return "tcp";
	case SVC_PROBE_NONE:
	default:
		return "none";
	}
}

void svc_spec_deinit(struct svc_spec *s)
{
	free(s->probe.path);
	free(s->probe.host);
	free(s->name);
	free(s->namespace);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		free(s->endpoints[i].hostname);
		free(s->endpoints[i].zone);
		for (size_t j = 0; j < s->endpoints[i].n_for_zones; j++)
			free(s->endpoints[i].for_zones[j]);
		free(s->endpoints[i].for_zones);
	}
	free(s->endpoints);
	memset(s, 0, sizeof(*s));
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : MESHDNS_ENOMEM;
}

int svc_spec_copy(struct svc_spec *dst, const struct svc_spec *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->probe = src->probe;
	dst->probe.path = dst->probe.host = NULL;
	dst->probe_mode = src->probe_mode;
	dst->panic_threshold_pct = src->panic_threshold_pct;
	dst->has_max_answers = src->has_max_answers;
	dst->max_answers = src->max_answers;
	dst->slow_start_s = src->slow_start_s;
	if (dup_opt(&dst->probe.path, src->probe.path) < 0 ||
	    dup_opt(&dst->probe.host, src->probe.host) < 0 ||
	    dup_opt(&dst->name, src->name) < 0 ||
	    dup_opt(&dst->namespace, src->namespace) < 0)
		goto fail;
	dst->ports = calloc(src->n_ports ? src->n_ports : 1, sizeof(*dst->ports));
	dst->endpoints = calloc(src->n_endpoints ? src->n_endpoints : 1,
				sizeof(*dst->endpoints));
	if (!dst->ports || !dst->endpoints)
		goto fail;
	for (size_t i = 0; i < src->n_ports; i++) {
		dst->ports[i] = src->ports[i];
		dst->n_ports = i + 1;
		if (dup_opt(&dst->ports[i].name, src->ports[i].name) < 0)
			goto fail;
	}
	for (size_t i = 0; i < src->n_endpoints; i++) {
		struct svc_endpoint *e = &dst->endpoints[i];
		*e = src->endpoints[i];
		e->hostname = e->zone = NULL;
		e->for_zones = NULL;
		e->n_for_zones = 0;
		dst->n_endpoints = i + 1;
		if (dup_opt(&e->hostname, src->endpoints[i].hostname) < 0 ||
		    dup_opt(&e->zone, src->endpoints[i].zone) < 0)
			goto fail;
		if (src->endpoints[i].n_for_zones) {
			size_t nz = src->endpoints[i].n_for_zones;
			e->for_zones = calloc(nz, sizeof(*e->for_zones));
			if (!e->for_zones)
				goto fail;
			for (size_t j = 0; j < nz; j++) {
				e->n_for_zones = j + 1;
				if (dup_opt(&e->for_zones[j], src->endpoints[i].for_zones[j]) < 0)
					goto fail;
			}
		}
	}
	return 0;
fail:
	svc_spec_deinit(dst);
	return MESHDNS_ENOMEM;
}

void svc_endpoint_host(const struct svc_endpoint *ep, char out[64])
{
	if (ep->hostname) {
		snprintf(out, 64, "%s", ep->hostname);
		return;
	}
	if (!inet_ntop(ep->family, ep->addr, out, 64)) {
		out[0] = '\0';
		return;
	}
	for (char *p = out; *p; p++) {
		if (*p == '.' || *p == ':')
			*p = '-';
	}
}
