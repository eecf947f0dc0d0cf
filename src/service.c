/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Helpers for struct svc_spec: copy, free, endpoint host labels.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/error.h"
#include "meshdns/service.h"

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

void svc_spec_deinit(struct svc_spec *s)
{
	free(s->name);
	free(s->namespace);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].name);
	free(s->ports);
	for (size_t i = 0; i < s->n_endpoints; i++) {
		free(s->endpoints[i].hostname);
		free(s->endpoints[i].zone);
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
	if (dup_opt(&dst->name, src->name) < 0 ||
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
		dst->n_endpoints = i + 1;
		if (dup_opt(&e->hostname, src->endpoints[i].hostname) < 0 ||
		    dup_opt(&e->zone, src->endpoints[i].zone) < 0)
			goto fail;
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
