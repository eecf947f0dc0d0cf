/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Registry: services by namespace/name, each with its source spec and the
 * snap_service built from it. Publishing rebuilds only dirty services.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meshdns/registry.h"

struct reg_service {
	struct svc_spec spec;
	struct snap_service *snap;	/* NULL: dirty, rebuild at publish */
};

struct registry {
	struct snapshot_params params;
	char *domain;
	struct sockaddr_storage *ns_addrs;
	struct reg_service *svcs;	/* kept sorted by (namespace, name) */
	size_t n, cap;
	bool dirty;
	uint64_t generation;
	uint32_t serial;
	struct snapshot *current;
};

static int cmp_key(const char *ns_a, const char *name_a, const char *ns_b,
		   const char *name_b)
{
	int c = strcmp(ns_a, ns_b);

	return c ? c : strcmp(name_a, name_b);
}

/* Binary search; returns the index or the insertion point with *found. */
static size_t find(const struct registry *r, const char *ns, const char *name,
		   bool *found)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_key(r->svcs[mid].spec.namespace, r->svcs[mid].spec.name,
				ns, name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct registry *registry_create(const struct snapshot_params *p)
{
	struct registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->params = *p;
	r->domain = strdup(p->domain);
	if (!r->domain)
		goto fail;
	r->params.domain = r->domain;
	if (p->n_ns_addrs) {
		r->ns_addrs = calloc(p->n_ns_addrs, sizeof(*r->ns_addrs));
		if (!r->ns_addrs)
			goto fail;
		memcpy(r->ns_addrs, p->ns_addrs, p->n_ns_addrs * sizeof(*r->ns_addrs));
	}
	r->params.ns_addrs = r->ns_addrs;
	r->dirty = true;
	if (registry_publish(r) < 0)
		goto fail;
	return r;
fail:
	registry_delete(r);
	return NULL;
}

void registry_delete(struct registry *r)
{
	if (!r)
		return;
	snapshot_delete(r->current);
	for (size_t i = 0; i < r->n; i++) {
		svc_spec_deinit(&r->svcs[i].spec);
		snap_service_unref(r->svcs[i].snap);
	}
	free(r->svcs);
	free(r->ns_addrs);
	free(r->domain);
	free(r);
}

int registry_set_service(struct registry *r, const struct svc_spec *spec)
{
	struct svc_spec copy;
	bool found;
	size_t i = find(r, spec->namespace, spec->name, &found);

	if (svc_spec_copy(&copy, spec) < 0)
		return MESHDNS_ENOMEM;
	if (found) {
		svc_spec_deinit(&r->svcs[i].spec);
		snap_service_unref(r->svcs[i].snap);
	} else {
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 16;
			struct reg_service *s = realloc(r->svcs, cap * sizeof(*s));
			if (!s) {
				svc_spec_deinit(&copy);
				return MESHDNS_ENOMEM;
			}
			r->svcs = s;
			r->cap = cap;
		}
		memmove(&r->svcs[i + 1], &r->svcs[i], (r->n - i) * sizeof(*r->svcs));
		r->n++;
	}
	r->svcs[i].spec = copy;
	r->svcs[i].snap = NULL;
	r->dirty = true;
	return 0;
}

int registry_remove_service(struct registry *r, const char *ns, const char *name)
{
	bool found;
	size_t i = find(r, ns, name, &found);

	if (!found)
		return MESHDNS_ENOENT;
	svc_spec_deinit(&r->svcs[i].spec);
	snap_service_unref(r->svcs[i].snap);
	memmove(&r->svcs[i], &r->svcs[i + 1], (r->n - i - 1) * sizeof(*r->svcs));
	r->n--;
	r->dirty = true;
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool spec_equal(const struct svc_spec *a, const struct svc_spec *b)
{
	if (a->n_ports != b->n_ports || a->n_endpoints != b->n_endpoints)
		return false;
	for (size_t i = 0; i < a->n_ports; i++) {
		const struct svc_port *x = &a->ports[i], *y = &b->ports[i];
		if (x->port != y->port || x->proto != y->proto || !str_eq(x->name, y->name))
			return false;
	}
	for (size_t i = 0; i < a->n_endpoints; i++) {
		const struct svc_endpoint *x = &a->endpoints[i], *y = &b->endpoints[i];
		if (x->family != y->family || memcmp(x->addr, y->addr, 16) != 0 ||
		    x->weight != y->weight || x->ready != y->ready ||
		    !str_eq(x->hostname, y->hostname) || !str_eq(x->zone, y->zone))
			return false;
	}
	return true;
}

int registry_replace_all(struct registry *r, const struct svc_spec *specs, size_t n)
{
	/* Remove what is gone, then set what is new or changed. */
	for (size_t i = r->n; i-- > 0;) {
		bool keep = false;
		for (size_t j = 0; j < n && !keep; j++)
			keep = cmp_key(specs[j].namespace, specs[j].name,
				       r->svcs[i].spec.namespace, r->svcs[i].spec.name) == 0;
		if (!keep)
			(void)registry_remove_service(r, r->svcs[i].spec.namespace,
						      r->svcs[i].spec.name);
	}
	for (size_t j = 0; j < n; j++) {
		bool found;
		size_t i = find(r, specs[j].namespace, specs[j].name, &found);
		if (found && spec_equal(&r->svcs[i].spec, &specs[j]))
			continue;
		if (registry_set_service(r, &specs[j]) < 0)
			return MESHDNS_ENOMEM;
	}
	return 0;
}

int registry_publish(struct registry *r)
{
	struct snap_service **list;
	struct snapshot *s;
	uint32_t now = (uint32_t)time(NULL);

	if (!r->dirty)
		return 0;
	list = calloc(r->n ? r->n : 1, sizeof(*list));
	if (!list)
		return MESHDNS_ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		if (!r->svcs[i].snap) {
			r->svcs[i].snap = snap_service_create(&r->svcs[i].spec);
			if (!r->svcs[i].snap) {
				free(list);
				return MESHDNS_ENOMEM;
			}
		}
		list[i] = r->svcs[i].snap;
	}
	/* serial: the change's unix time, never going backwards */
	s = snapshot_create(&r->params, list, r->n, r->generation + 1,
			    now > r->serial ? now : r->serial);
	free(list);
	if (!s)
		return MESHDNS_ENOMEM;
	snapshot_delete(r->current);
	r->current = s;
	r->generation = s->generation;
	r->serial = s->serial;
	r->dirty = false;
	return 0;
}

const struct snapshot *registry_snapshot(const struct registry *r)
{
	return r->current;
}

size_t registry_count(const struct registry *r)
{
	return r->n;
}
