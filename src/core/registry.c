/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Registry: services by namespace/name, each with its source spec and the
 * snap_service built from it. Publishing rebuilds only dirty services.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "meshdns/clock.h"
#include "meshdns/log.h"
#include "meshdns/registry.h"
#include "meshdns/thread.h"
#include "meshdns/strmap.h"

struct reg_service {
	struct svc_spec spec;
	enum registry_source source;
	struct ep_health *health;	/* one per spec endpoint */
	struct svc_live *live;
	struct snap_service *snap;	/* NULL: dirty, rebuild at publish */
};

struct registry {
	struct snapshot_params params;
	char *domain;
	char *node_zone;
	char *node_name;
	struct strmap *rev;		/* address key -> "ns/name" lines (malloc'd) */
	struct sockaddr_storage *ns_addrs;
	struct reg_service *svcs;	/* kept sorted by (namespace, name) */
	size_t n, cap;
	bool dirty;
	bool reshaped;			/* services added or removed since publish */
	registry_dirty_cb dirty_cb;
	void *dirty_arg;
	registry_observer_cb observer;
	void *observer_arg;
	uint64_t generation;
	uint32_t serial;
	struct snapshot *current;
	registry_retire_cb retire;	/* NULL: delete replaced snapshots */
	void *retire_arg;
};

static void free_value(const char *key, void *value, void *arg)
{
	free(value);
}

/* Is @p who one of the lines of claimant list @p list? Where, if so. */
static char *claim_find(char *list, const char *who)
{
	size_t n = strlen(who);

	for (char *l = list; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, who, n) == 0 && (l[n] == '\n' || l[n] == '\0'))
			return l;
	}
	return NULL;
}

/*
 * Reverse map: add @p spec's addresses, or drop its claim on them. The
 * value is the list of services that have the address, one "ns/name" per
 * line in the order they claimed it; PTR answers name the first. When it
 * goes, the next one answers (a shared address is rare: the list is short).
 */
struct addr_key {
	uint8_t family;
	uint8_t addr[16];
};

static struct addr_key addr_key_of(const struct svc_endpoint *e)
{
	struct addr_key k = { .family = (uint8_t)e->family };

	memcpy(k.addr, e->addr, e->family == AF_INET ? 4 : 16);
	return k;
}

static int addr_key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct addr_key));
}

/* @p spec's addresses, sorted, for membership tests; NULL if none (or no
 * memory: then every address counts as gone, and claims move to the end) */
static struct addr_key *addr_set(const struct svc_spec *spec)
{
	struct addr_key *set = spec->n_endpoints ? calloc(spec->n_endpoints, sizeof(*set)) : NULL;

	for (size_t i = 0; set && i < spec->n_endpoints; i++)
		set[i] = addr_key_of(&spec->endpoints[i]);
	if (set)
		qsort(set, spec->n_endpoints, sizeof(*set), addr_key_cmp);
	return set;
}

/*
 * @p add: claim @p spec's addresses (claims it holds stay where they are
 * in the list). Else drop its claims, except on the addresses in @p keep
 * (its new spec, when it changes: its place in the line is kept).
 */
static void rev_update(struct registry *r, const struct svc_spec *spec, bool add,
		       const struct svc_spec *keep)
{
	char key[SNAP_ADDR_KEY], who[2 * (DNS_MAX_LABEL + 1)];
	struct addr_key *kept = !add && keep ? addr_set(keep) : NULL;

	snprintf(who, sizeof(who), "%s/%s", spec->namespace, spec->name);
	for (size_t i = 0; i < spec->n_endpoints; i++) {
		if (kept) {
			struct addr_key k = addr_key_of(&spec->endpoints[i]);
			if (bsearch(&k, kept, keep->n_endpoints, sizeof(k), addr_key_cmp))
				continue;
		}
		snapshot_addr_key(spec->endpoints[i].family, spec->endpoints[i].addr, key);
		char *cur = strmap_get(r->rev, key);
		char *at = cur ? claim_find(cur, who) : NULL;
		if (!add) {
			if (!at)
				continue;
			char *next = strchr(at, '\n');
			if (next)
				memmove(at, next + 1, strlen(next + 1) + 1);
			else if (at > cur)
				at[-1] = '\0';	/* the last line: drop its newline too */
			else
				free(strmap_del(r->rev, key));	/* no claimant left */
			continue;
		}
		if (at)
			continue;	/* claimed already (an address twice) */
		size_t cl = cur ? strlen(cur) : 0, wl = strlen(who);
		char *v = realloc(cur, cl + (cur ? 1 : 0) + wl + 1);
		if (!v)
			continue;	/* no memory: this one gets no PTR */
		if (cl)
			v[cl++] = '\n';
		memcpy(v + cl, who, wl + 1);
		if (v != cur && strmap_put(r->rev, key, v) < 0) {
			if (!cur)
				free(v);	/* not in the map: ours to free */
		}
	}
	free(kept);
}

static void mark_dirty(struct registry *r)
{
	if (r->dirty)
		return;
	r->dirty = true;
	if (r->dirty_cb)
		r->dirty_cb(r->dirty_arg);
}

static void reg_service_deinit(struct reg_service *rs)
{
	svc_spec_deinit(&rs->spec);
	free(rs->health);
	svc_live_unref(rs->live);
	snap_service_unref(rs->snap);
}

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
	if (p->policy.node_zone) {
		r->node_zone = strdup(p->policy.node_zone);
		if (!r->node_zone)
			goto fail;
	}
	r->params.policy.node_zone = r->node_zone;
	if (p->node_name && !(r->node_name = strdup(p->node_name)))
		goto fail;
	r->params.node_name = r->node_name;
	r->rev = strmap_create();
	if (!r->rev)
		goto fail;
	r->params.rev = r->rev;
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
	for (size_t i = 0; i < r->n; i++)
		reg_service_deinit(&r->svcs[i]);
	free(r->svcs);
	if (r->rev) {
		strmap_foreach(r->rev, free_value, NULL);
		strmap_delete(r->rev);
	}
	free(r->ns_addrs);
	free(r->domain);
	free(r->node_zone);
	free(r->node_name);
	free(r);
}

static bool same_addr(const struct svc_endpoint *a, const struct svc_endpoint *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

/* Health carried over by address; new endpoints start as the source says. */
static struct ep_health *carry_health(const struct reg_service *old,
				      const struct svc_spec *spec)
{
	struct ep_health *h = calloc(spec->n_endpoints ? spec->n_endpoints : 1,
				     sizeof(*h));

	uint64_t now = clock_now_ms();

	if (!h)
		return NULL;
	for (size_t i = 0; i < spec->n_endpoints; i++) {
		const struct svc_endpoint *was = NULL;
		h[i].healthy = true;
		h[i].load_pct = 100;
		h[i].healthy_since_ms = now;	/* new: slow start ramps from now */
		if (!old)
			continue;
		/* same position first: sources usually keep the order */
		if (i < old->spec.n_endpoints &&
		    same_addr(&old->spec.endpoints[i], &spec->endpoints[i])) {
			was = &old->spec.endpoints[i];
			h[i] = old->health[i];
		} else {
			for (size_t j = 0; j < old->spec.n_endpoints; j++) {
				if (same_addr(&old->spec.endpoints[j], &spec->endpoints[i])) {
					was = &old->spec.endpoints[j];
					h[i] = old->health[j];
					break;
				}
			}
		}
		/* turning ready at the source starts a ramp too */
		if (was && !was->ready && spec->endpoints[i].ready)
			h[i].healthy_since_ms = now;
	}
	return h;
}

int registry_set_service(struct registry *r, enum registry_source source,
			 const struct svc_spec *spec)
{
	struct svc_spec copy;
	struct ep_health *health;
	struct svc_live *live = NULL;
	bool found;
	size_t i = find(r, spec->namespace, spec->name, &found);

	THREAD_LOOP_ONLY();

	if (svc_spec_copy(&copy, spec) < 0)
		return MESHDNS_ENOMEM;
	health = carry_health(found ? &r->svcs[i] : NULL, &copy);
	if (!found)
		live = svc_live_create();
	if (!health || (!found && !live))
		goto nomem;
	if (found) {
		live = r->svcs[i].live;
		r->svcs[i].live = NULL;
		rev_update(r, &r->svcs[i].spec, false, &copy);
		reg_service_deinit(&r->svcs[i]);
	} else {
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 16;
			struct reg_service *s = realloc(r->svcs, cap * sizeof(*s));
			if (!s)
				goto nomem;
			r->svcs = s;
			r->cap = cap;
		}
		memmove(&r->svcs[i + 1], &r->svcs[i], (r->n - i) * sizeof(*r->svcs));
		r->n++;
		r->reshaped = true;
	}
	if (found && r->svcs[i].source != source)
		log_warn("service %s.%s is defined by the config and by Kubernetes; the last one wins",
			 spec->name, spec->namespace);
	r->svcs[i].spec = copy;
	rev_update(r, &r->svcs[i].spec, true, NULL);
	r->svcs[i].source = source;
	r->svcs[i].health = health;
	r->svcs[i].live = live;
	r->svcs[i].snap = NULL;
	mark_dirty(r);
	if (r->observer)
		r->observer(r->observer_arg, &r->svcs[i].spec, live);
	return 0;
nomem:
	svc_spec_deinit(&copy);
	free(health);
	if (!found)
		svc_live_unref(live);
	return MESHDNS_ENOMEM;
}

int registry_set_health(struct registry *r, const char *ns, const char *name,
			size_t hint, int family, const uint8_t *addr,
			const struct ep_health *h)
{
	bool found;
	size_t i = find(r, ns, name, &found);
	struct reg_service *rs;
	struct svc_endpoint key = { .family = family };

	THREAD_LOOP_ONLY();

	if (!found)
		return MESHDNS_ENOENT;
	rs = &r->svcs[i];
	memcpy(key.addr, addr, family == AF_INET ? 4 : 16);
	if (hint >= rs->spec.n_endpoints || !same_addr(&rs->spec.endpoints[hint], &key)) {
		for (hint = 0; hint < rs->spec.n_endpoints; hint++) {
			if (same_addr(&rs->spec.endpoints[hint], &key))
				break;
		}
		if (hint == rs->spec.n_endpoints)
			return MESHDNS_ENOENT;
	}
	struct ep_health *cur = &rs->health[hint];
	bool visible = cur->healthy != h->healthy || cur->load_pct != h->load_pct;
	uint64_t since = cur->healthy_since_ms;
	if (!cur->healthy && h->healthy)
		since = clock_now_ms();	/* back: slow start ramps again */
	*cur = *h;
	cur->healthy_since_ms = since;
	if (visible) {
		snap_service_unref(rs->snap);
		rs->snap = NULL;
		mark_dirty(r);
	}
	return 0;
}

int registry_set_policy(struct registry *r, const struct snap_policy *p)
{
	char *zone = NULL;

	THREAD_LOOP_ONLY();

	if (p->node_zone && !(zone = strdup(p->node_zone)))
		return MESHDNS_ENOMEM;
	free(r->node_zone);
	r->node_zone = zone;
	r->params.policy = *p;
	r->params.policy.node_zone = zone;
	/* every service's answers depend on it: rebuild them all */
	for (size_t i = 0; i < r->n; i++) {
		snap_service_unref(r->svcs[i].snap);
		r->svcs[i].snap = NULL;
	}
	mark_dirty(r);
	return 0;
}

void registry_set_synced(struct registry *r, bool synced)
{
	if (r->params.unsynced == !synced)
		return;
	r->params.unsynced = !synced;
	mark_dirty(r);
}

void registry_set_dirty_cb(struct registry *r, registry_dirty_cb cb, void *arg)
{
	r->dirty_cb = cb;
	r->dirty_arg = arg;
}

void registry_set_observer(struct registry *r, registry_observer_cb cb, void *arg)
{
	r->observer = cb;
	r->observer_arg = arg;
}

int registry_remove_service(struct registry *r, const char *ns, const char *name)
{
	bool found;
	size_t i = find(r, ns, name, &found);

	THREAD_LOOP_ONLY();

	if (!found)
		return MESHDNS_ENOENT;
	if (r->observer)
		r->observer(r->observer_arg, &r->svcs[i].spec, NULL);
	rev_update(r, &r->svcs[i].spec, false, NULL);
	reg_service_deinit(&r->svcs[i]);
	memmove(&r->svcs[i], &r->svcs[i + 1], (r->n - i - 1) * sizeof(*r->svcs));
	r->n--;
	r->reshaped = true;
	mark_dirty(r);
	return 0;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool spec_equal(const struct svc_spec *a, const struct svc_spec *b)
{
	if (a->n_ports != b->n_ports || a->n_endpoints != b->n_endpoints ||
	    !svc_probe_equal(&a->probe, &b->probe) || a->probe_mode != b->probe_mode ||
	    a->panic_threshold_pct != b->panic_threshold_pct ||
	    a->has_max_answers != b->has_max_answers ||
	    a->max_answers != b->max_answers || a->slow_start_s != b->slow_start_s)
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
		    !str_eq(x->hostname, y->hostname) || !str_eq(x->zone, y->zone) ||
		    x->n_for_zones != y->n_for_zones)
			return false;
		for (size_t z = 0; z < x->n_for_zones; z++) {
			if (!str_eq(x->for_zones[z], y->for_zones[z]))
				return false;
		}
	}
	return true;
}

int registry_replace_all(struct registry *r, enum registry_source source,
			 const struct svc_spec *specs, size_t n)
{
	THREAD_LOOP_ONLY();
	/* Remove what is gone, then set what is new or changed. */
	for (size_t i = r->n; i-- > 0;) {
		bool keep = r->svcs[i].source != source;
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
		if (found && r->svcs[i].source == source && spec_equal(&r->svcs[i].spec, &specs[j]))
			continue;
		if (registry_set_service(r, source, &specs[j]) < 0)
			return MESHDNS_ENOMEM;
	}
	return 0;
}

int registry_publish(struct registry *r)
{
	struct snap_service **list;
	struct snapshot *s;
	uint32_t now = (uint32_t)time(NULL);

	THREAD_LOOP_ONLY();
	uint32_t serial = now > r->serial ? now : r->serial;	/* never backwards */

	if (!r->dirty)
		return 0;
	list = calloc(r->n ? r->n : 1, sizeof(*list));
	if (!list)
		return MESHDNS_ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		if (!r->svcs[i].snap) {
			r->svcs[i].snap = snap_service_create(&r->svcs[i].spec,
							      r->svcs[i].health,
							      r->svcs[i].live,
							      &r->params.policy);
			if (!r->svcs[i].snap) {
				free(list);
				return MESHDNS_ENOMEM;
			}
		}
		list[i] = r->svcs[i].snap;
	}
	/*
	 * Same services as the current snapshot (only their contents
	 * changed): copy its name table and swap the changed services in,
	 * instead of hashing every service again (perf: rebuilding the table
	 * was most of a publish at 10,000 services).
	 */
	if (!r->reshaped && r->current && r->current->n_services == r->n)
		s = snapshot_update(r->current, &r->params, list, r->n, r->generation + 1,
				    serial);
	else
		s = snapshot_create(&r->params, list, r->n, r->generation + 1, serial);
	free(list);
	if (!s)
		return MESHDNS_ENOMEM;
	struct snapshot *old = r->current;
	/* seq_cst: a reader that announced a later epoch must see it (the
	 * argument is in reclaim.h) */
	__atomic_store_n(&r->current, s, __ATOMIC_SEQ_CST);
	if (r->retire)
		r->retire(r->retire_arg, old);
	else
		snapshot_delete(old);
	r->generation = s->generation;
	r->serial = s->serial;
	r->dirty = false;
	r->reshaped = false;
	return 0;
}

const struct snapshot *registry_snapshot(const struct registry *r)
{
	return __atomic_load_n(&r->current, __ATOMIC_ACQUIRE);
}

void registry_set_retire(struct registry *r, registry_retire_cb cb, void *arg)
{
	r->retire = cb;
	r->retire_arg = arg;
}

size_t registry_count(const struct registry *r)
{
	return r->n;
}
