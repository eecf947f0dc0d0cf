/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The registry through its header: what it copies, changes visible only
 * after a publish and a publish with nothing to do, the dirty callback
 * once per clean-to-dirty, sources that do not touch each other, reloads
 * that keep unchanged services (objects and health), health by address
 * (hints checked, carried over when endpoints move), slow start restarts,
 * the answer policy and the synced flag, the observer, only changed
 * services rebuilt, the retire callback, and the reverse map as services
 * that share an address come and go.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "meshdns/clock.h"
#include "meshdns/log.h"
#include "meshdns/registry.h"
#include "suites.h"

static struct registry *reg;
static struct snapshot_params params;
static unsigned dirty_calls;

static void on_dirty(void *arg)
{
	ck_assert_ptr_eq(arg, &dirty_calls);
	dirty_calls++;
}

static void setup(void)
{
	params = (struct snapshot_params){ .domain = "mesh.local", .ttl_s = 5,
					   .negative_ttl_s = 5, .edns_buffer_size = 1232 };
	reg = registry_create(&params);
	ck_assert_ptr_nonnull(reg);
	registry_set_dirty_cb(reg, on_dirty, &dirty_calls);
	dirty_calls = 0;
	/* the "defined by the config and by Kubernetes" warning is expected */
	log_set_level(LOG_LEVEL_ERROR);
}

static void teardown(void)
{
	registry_delete(reg);
	reg = NULL;
	log_set_level(LOG_LEVEL_INFO);
}

static struct svc_spec spec_of(const char *ns, const char *name, struct svc_endpoint *eps,
			       size_t n)
{
	return (struct svc_spec){ .name = (char *)name, .namespace = (char *)ns,
				  .endpoints = eps, .n_endpoints = n };
}

static void set(enum registry_source src, const struct svc_spec *s)
{
	ck_assert_int_eq(registry_set_service(reg, src, s), 0);
}

static const struct snapshot *publish(void)
{
	ck_assert_int_eq(registry_publish(reg), 0);
	return registry_snapshot(reg);
}

static const struct snap_service *find(const char *ns, const char *name)
{
	return snapshot_find_service(registry_snapshot(reg), ns, name);
}

static const struct snap_service *must_find(const char *ns, const char *name)
{
	const struct snap_service *s = find(ns, name);

	ck_assert_msg(s != NULL, "%s/%s not in the snapshot", ns, name);
	return s;
}

START_TEST(test_create)
{
	char domain[] = "Cluster.Local", node[] = "node-1", zone[] = "zone-a";
	struct snapshot_params p = { .domain = domain, .node_name = node,
				     .policy = { .node_zone = zone, .zone_preference = true,
						 .zone_min_share_pct = 50 } };
	struct svc_endpoint ep[2] = { th_ep("10.0.0.1", 100), th_ep("10.0.0.2", 100) };
	struct svc_spec s = spec_of("default", "web", ep, 2);

	/* an empty snapshot at once */
	const struct snapshot *first = registry_snapshot(reg);
	ck_assert_ptr_nonnull(first);
	ck_assert_uint_eq(first->n_services, 0);
	ck_assert_uint_eq(registry_count(reg), 0);

	struct registry *r = registry_create(&p);
	ck_assert_ptr_nonnull(r);
	/* the strings are copied: the caller's go away */
	memset(domain, 'x', sizeof(domain) - 1);
	memset(node, 'x', sizeof(node) - 1);
	memset(zone, 'x', sizeof(zone) - 1);
	ep[0].zone = "zone-a";
	ck_assert_int_eq(registry_set_service(r, REGISTRY_SOURCE_STATIC, &s), 0);
	ck_assert_int_eq(registry_publish(r), 0);
	const struct snapshot *snap = registry_snapshot(r);
	ck_assert_mem_eq(snap->domain, "\7cluster\5local", 15);
	ck_assert_str_eq(snap->node_name, "node-1");
	const struct snap_service *web = snapshot_find_service(snap, "default", "web");
	ck_assert_ptr_nonnull(web);
	ck_assert(web->zones);
	ck_assert(web->eps[0].flags & SNAP_EP_LOCAL);
	ck_assert(!(web->eps[1].flags & SNAP_EP_LOCAL));
	registry_delete(r);

	/* a domain that is not a name */
	p.domain = "bad..name";
	ck_assert_ptr_null(registry_create(&p));
	registry_delete(NULL);
}
END_TEST

START_TEST(test_publish)
{
	struct svc_endpoint ep = th_ep("10.0.0.1", 100);
	struct svc_spec s = spec_of("default", "web", &ep, 1);
	const struct snapshot *before = registry_snapshot(reg);
	uint64_t gen = before->generation;
	uint32_t t0 = (uint32_t)time(NULL);

	set(REGISTRY_SOURCE_STATIC, &s);
	ck_assert_uint_eq(registry_count(reg), 1);
	/* nothing visible before the publish */
	ck_assert_ptr_eq(registry_snapshot(reg), before);
	ck_assert_ptr_null(find("default", "web"));
	const struct snapshot *after = publish();
	ck_assert_ptr_ne(after, before);
	ck_assert_uint_eq(after->generation, gen + 1);
	ck_assert_uint_ge(after->serial, t0);
	ck_assert_uint_le(after->serial, (uint32_t)time(NULL));
	ck_assert_uint_eq(must_find("default", "web")->n_eps, 1);
	/* nothing pending: the same snapshot */
	ck_assert_ptr_eq(publish(), after);

	/* the spec is copied: the caller's changes are not seen */
	ep.addr[3] = 2;
	s.name = "changed";
	ck_assert_ptr_eq(publish(), after);
	ck_assert_uint_eq(must_find("default", "web")->eps[0].addr[3], 1);
	/* setting it again replaces it (and frees the old snapshot) */
	uint32_t serial = after->serial;
	s.name = "web";
	set(REGISTRY_SOURCE_STATIC, &s);
	ck_assert_uint_eq(registry_count(reg), 1);
	const struct snapshot *third = publish();
	ck_assert_uint_eq(third->generation, gen + 2);
	ck_assert_uint_ge(third->serial, serial);
	ck_assert_uint_eq(must_find("default", "web")->eps[0].addr[3], 2);

	ck_assert_int_eq(registry_remove_service(reg, "default", "nope"), MESHDNS_ENOENT);
	ck_assert_int_eq(registry_remove_service(reg, "other", "web"), MESHDNS_ENOENT);
	ck_assert_int_eq(registry_remove_service(reg, "default", "web"), 0);
	ck_assert_uint_eq(registry_count(reg), 0);
	ck_assert_ptr_nonnull(find("default", "web"));	/* until published */
	publish();
	ck_assert_ptr_null(find("default", "web"));
}
END_TEST

/* Many services in no order: each found, and after removing half, the rest. */
START_TEST(test_many)
{
	char name[32];
	unsigned n = 300;

	for (unsigned i = 0; i < n; i++) {
		unsigned k = (i * 7919) % n;	/* a permutation */
		snprintf(name, sizeof(name), "svc-%u", k);
		struct svc_spec s = spec_of(k % 3 ? "ns-a" : "ns-b", name, NULL, 0);
		set(REGISTRY_SOURCE_K8S, &s);
	}
	ck_assert_uint_eq(registry_count(reg), n);
	ck_assert_uint_eq(publish()->n_services, n);
	for (unsigned k = 0; k < n; k++) {
		snprintf(name, sizeof(name), "svc-%u", k);
		must_find(k % 3 ? "ns-a" : "ns-b", name);
		ck_assert_ptr_null(find(k % 3 ? "ns-b" : "ns-a", name));
	}
	for (unsigned k = 0; k < n; k += 2) {
		snprintf(name, sizeof(name), "svc-%u", k);
		ck_assert_int_eq(registry_remove_service(reg, k % 3 ? "ns-a" : "ns-b", name), 0);
	}
	ck_assert_uint_eq(publish()->n_services, n / 2);
	for (unsigned k = 0; k < n; k++) {
		snprintf(name, sizeof(name), "svc-%u", k);
		ck_assert((find(k % 3 ? "ns-a" : "ns-b", name) != NULL) == (k % 2 == 1));
	}
}
END_TEST

START_TEST(test_dirty_cb)
{
	struct svc_endpoint ep = th_ep("10.0.0.1", 100);
	struct svc_spec s = spec_of("default", "web", &ep, 1);
	struct ep_health h = { .healthy = true, .probed = true, .load_pct = 100 };

	/* once from clean to dirty, however many changes follow */
	set(REGISTRY_SOURCE_STATIC, &s);
	ck_assert_uint_eq(dirty_calls, 1);
	set(REGISTRY_SOURCE_STATIC, &s);
	ck_assert_uint_eq(dirty_calls, 1);
	publish();
	/* a health report that changes nothing visible: still clean */
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 0, AF_INET, ep.addr, &h), 0);
	ck_assert_uint_eq(dirty_calls, 1);
	h.load_pct = 50;
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 0, AF_INET, ep.addr, &h), 0);
	ck_assert_uint_eq(dirty_calls, 2);
	publish();
	registry_set_synced(reg, true);		/* already: no change */
	ck_assert_uint_eq(dirty_calls, 2);
	registry_set_synced(reg, false);
	ck_assert_uint_eq(dirty_calls, 3);
	publish();
	struct snap_policy pol = { .max_answers = 1 };
	ck_assert_int_eq(registry_set_policy(reg, &pol), 0);
	ck_assert_uint_eq(dirty_calls, 4);
	publish();
	ck_assert_int_eq(registry_remove_service(reg, "default", "web"), 0);
	ck_assert_uint_eq(dirty_calls, 5);
	/* a failed removal changes nothing */
	publish();
	ck_assert_int_eq(registry_remove_service(reg, "default", "web"), MESHDNS_ENOENT);
	ck_assert_uint_eq(dirty_calls, 5);
}
END_TEST

START_TEST(test_sources)
{
	struct svc_endpoint ep[3] = { th_ep("10.0.0.1", 100), th_ep("10.0.0.2", 100),
				      th_ep("10.0.0.3", 100) };
	struct svc_spec st[3] = { spec_of("default", "a", &ep[0], 1),
				  spec_of("default", "b", &ep[1], 1),
				  spec_of("default", "d", &ep[2], 1) };
	struct svc_spec k = spec_of("default", "c", &ep[2], 1);

	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, st, 2), 0);
	set(REGISTRY_SOURCE_K8S, &k);
	publish();
	ck_assert_uint_eq(registry_count(reg), 3);
	/* a reload of the config: a goes, b changes, d comes, c is not its own */
	ep[1].weight = 7;
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, &st[1], 2), 0);
	publish();
	ck_assert_ptr_null(find("default", "a"));
	ck_assert_uint_eq(must_find("default", "b")->eps[0].weight, 7);
	must_find("default", "c");
	must_find("default", "d");
	/* an empty config leaves Kubernetes' services alone */
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, NULL, 0), 0);
	publish();
	ck_assert_uint_eq(registry_count(reg), 1);
	must_find("default", "c");
	/* both define one: the last one wins and owns it */
	set(REGISTRY_SOURCE_STATIC, &k);
	set(REGISTRY_SOURCE_K8S, &k);
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, NULL, 0), 0);
	ck_assert_uint_eq(registry_count(reg), 1);
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_K8S, NULL, 0), 0);
	ck_assert_uint_eq(registry_count(reg), 0);
}
END_TEST

/* A reload with the same specs: same objects, same health, no publish. */
START_TEST(test_replace_keeps)
{
	struct svc_endpoint ep[2] = { th_ep("10.0.0.1", 100), th_ep("10.0.0.2", 100) };
	struct svc_spec st[2] = { spec_of("default", "a", &ep[0], 1),
				  spec_of("default", "b", &ep[1], 1) };
	struct ep_health down = { .healthy = false, .probed = true, .load_pct = 100 };

	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, st, 2), 0);
	ck_assert_int_eq(registry_set_health(reg, "default", "a", 0, AF_INET, ep[0].addr, &down), 0);
	const struct snapshot *s1 = publish();
	const struct snap_service *a = must_find("default", "a"), *b = must_find("default", "b");
	ck_assert_uint_eq(a->n_healthy, 0);
	unsigned calls = dirty_calls;

	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, st, 2), 0);
	ck_assert_uint_eq(dirty_calls, calls);
	ck_assert_ptr_eq(publish(), s1);
	/* one changed: only it is rebuilt, the other is shared, health kept */
	ep[1].weight = 50;
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, st, 2), 0);
	ck_assert_ptr_ne(publish(), s1);
	ck_assert_ptr_eq(must_find("default", "a"), a);
	ck_assert_ptr_ne(must_find("default", "b"), b);
	ck_assert_uint_eq(must_find("default", "a")->n_healthy, 0);
	/* a new service: the table is rebuilt, the services still shared */
	b = must_find("default", "b");
	struct svc_spec c = spec_of("default", "c", NULL, 0);
	set(REGISTRY_SOURCE_STATIC, &c);
	publish();
	ck_assert_ptr_eq(must_find("default", "a"), a);
	ck_assert_ptr_eq(must_find("default", "b"), b);
}
END_TEST

static const struct snap_ep *ep_of(const char *name, uint32_t i)
{
	const struct snap_service *s = must_find("default", name);

	ck_assert_uint_lt(i, s->n_eps);
	return &s->eps[i];
}

START_TEST(test_health)
{
	struct svc_endpoint ep[3] = { th_ep("10.0.0.1", 100), th_ep("10.0.0.2", 100),
				      th_ep("fd00::1", 100) };
	struct svc_spec s = spec_of("default", "web", ep, 3);
	struct ep_health down = { .healthy = false, .probed = true, .load_pct = 100 };
	struct ep_health half = { .healthy = true, .probed = true, .load_pct = 50 };

	set(REGISTRY_SOURCE_STATIC, &s);
	publish();
	/* new endpoints start healthy at full load */
	for (uint32_t i = 0; i < 3; i++)
		ck_assert(ep_of("web", i)->flags & SNAP_EP_HEALTHY);
	/* a wrong hint is checked and the endpoint found by its address */
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 0, AF_INET, ep[1].addr,
					     &down), 0);
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 99, AF_INET6, ep[2].addr,
					     &half), 0);
	/* and is seen at the next publish */
	ck_assert(ep_of("web", 1)->flags & SNAP_EP_HEALTHY);
	publish();
	ck_assert(ep_of("web", 0)->flags & SNAP_EP_HEALTHY);
	ck_assert(!(ep_of("web", 1)->flags & SNAP_EP_HEALTHY));
	ck_assert_uint_eq(ep_of("web", 2)->effective, 50);
	/* gone services and addresses */
	ck_assert_int_eq(registry_set_health(reg, "default", "nope", 0, AF_INET, ep[0].addr,
					     &down), MESHDNS_ENOENT);
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 0, AF_INET, ep[2].addr,
					     &down), MESHDNS_ENOENT);
	struct svc_endpoint other = th_ep("10.0.0.9", 0);
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 1, AF_INET, other.addr,
					     &down), MESHDNS_ENOENT);

	/* the source reorders and adds: health follows the address */
	struct svc_endpoint moved[4] = { ep[2], th_ep("10.0.0.7", 100), ep[1], ep[0] };
	s.endpoints = moved;
	s.n_endpoints = 4;
	set(REGISTRY_SOURCE_STATIC, &s);
	publish();
	ck_assert_uint_eq(ep_of("web", 0)->effective, 50);	/* fd00::1 */
	ck_assert(ep_of("web", 1)->flags & SNAP_EP_HEALTHY);	/* new */
	ck_assert_uint_eq(ep_of("web", 1)->load_pct, 100);
	ck_assert(!(ep_of("web", 2)->flags & SNAP_EP_HEALTHY));	/* 10.0.0.2 */
	ck_assert(ep_of("web", 3)->flags & SNAP_EP_HEALTHY);	/* 10.0.0.1 */
}
END_TEST

/* Slow start ramps from when an endpoint became usable. */
START_TEST(test_slow_start_ramp)
{
	struct svc_endpoint ep[2] = { th_ep("10.0.0.1", 100), th_ep("10.0.0.2", 100) };
	struct svc_spec s = spec_of("default", "web", ep, 2);
	struct ep_health h = { .healthy = false, .probed = true, .load_pct = 100,
			       .healthy_since_ms = 1 };

	ep[1].ready = false;
	uint64_t t0 = clock_now_ms();
	set(REGISTRY_SOURCE_STATIC, &s);
	publish();
	ck_assert_uint_ge(ep_of("web", 0)->ramp_start_ms, t0);
	ck_assert_uint_le(ep_of("web", 0)->ramp_start_ms, clock_now_ms());
	uint64_t first = ep_of("web", 0)->ramp_start_ms;

	/* down and back up: the ramp starts again (not from the caller's value) */
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 0, AF_INET, ep[0].addr, &h), 0);
	publish();
	ck_assert_uint_eq(ep_of("web", 0)->ramp_start_ms, first);
	while (clock_now_ms() == first)
		;	/* the coarse clock ticks every few ms */
	uint64_t t1 = clock_now_ms();
	h.healthy = true;
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 0, AF_INET, ep[0].addr, &h), 0);
	publish();
	ck_assert_uint_ge(ep_of("web", 0)->ramp_start_ms, t1);

	/* ready at the source at last: it ramps from then too */
	uint64_t t2 = clock_now_ms();
	ep[1].ready = true;
	set(REGISTRY_SOURCE_STATIC, &s);
	publish();
	ck_assert_uint_ge(ep_of("web", 1)->ramp_start_ms, t2);
	ck_assert(ep_of("web", 1)->flags & SNAP_EP_HEALTHY);
}
END_TEST

START_TEST(test_policy)
{
	struct svc_endpoint ep[3] = { th_ep("10.0.0.1", 100), th_ep("10.0.0.2", 100),
				      th_ep("10.0.0.3", 100) };
	struct svc_spec a = spec_of("default", "a", ep, 3), b = spec_of("default", "b", ep, 1);
	char zone[] = "zone-b";

	ep[0].zone = "zone-a";
	ep[1].zone = ep[2].zone = "zone-b";
	b.has_max_answers = true;
	b.max_answers = 5;
	set(REGISTRY_SOURCE_STATIC, &a);
	set(REGISTRY_SOURCE_STATIC, &b);
	publish();
	const struct snap_service *oa = must_find("default", "a"), *ob = must_find("default", "b");
	ck_assert(!oa->zones);
	ck_assert_uint_eq(oa->max_answers, 0);

	struct snap_policy pol = { .node_zone = zone, .zone_preference = true,
				   .zone_min_share_pct = 50, .max_answers = 2 };
	ck_assert_int_eq(registry_set_policy(reg, &pol), 0);
	memset(zone, 'x', sizeof(zone) - 1);	/* copied */
	publish();
	/* every service rebuilt with it */
	ck_assert_ptr_ne(must_find("default", "a"), oa);
	ck_assert_ptr_ne(must_find("default", "b"), ob);
	const struct snap_service *na = must_find("default", "a");
	ck_assert(na->zones && na->use_local4);
	ck_assert(!(na->eps[0].flags & SNAP_EP_LOCAL));
	ck_assert(na->eps[1].flags & na->eps[2].flags & SNAP_EP_LOCAL);
	ck_assert_uint_eq(na->max_answers, 2);
	ck_assert_uint_eq(must_find("default", "b")->max_answers, 5);	/* its own */
	/* and kept for services set later */
	struct svc_spec c = spec_of("default", "c", ep, 3);
	set(REGISTRY_SOURCE_STATIC, &c);
	publish();
	ck_assert(must_find("default", "c")->use_local4);
	ck_assert_uint_eq(must_find("default", "c")->max_answers, 2);
}
END_TEST

START_TEST(test_synced)
{
	struct snapshot_params p = params;

	p.unsynced = true;
	struct registry *r = registry_create(&p);
	ck_assert(registry_snapshot(r)->unsynced);
	registry_set_synced(r, true);
	ck_assert(registry_snapshot(r)->unsynced);	/* at the next publish */
	ck_assert_int_eq(registry_publish(r), 0);
	ck_assert(!registry_snapshot(r)->unsynced);
	registry_delete(r);
	/* through the patched-snapshot path too */
	struct svc_spec s = spec_of("default", "web", NULL, 0);
	set(REGISTRY_SOURCE_STATIC, &s);
	publish();
	registry_set_synced(reg, false);
	ck_assert(publish()->unsynced);
	must_find("default", "web");
}
END_TEST

struct seen {
	unsigned sets, removes;
	const struct svc_spec *spec;
	struct svc_live *live;
	char last[64];
};

static void observe(void *arg, const struct svc_spec *spec, struct svc_live *live)
{
	struct seen *s = arg;

	if (live)
		s->sets++;
	else
		s->removes++;
	s->spec = spec;
	s->live = live;
	snprintf(s->last, sizeof(s->last), "%s/%s %zu", spec->namespace, spec->name,
		 spec->n_endpoints);
	/* the registry holds it already (set) or still (remove) */
	ck_assert_uint_eq(registry_count(reg), 1);
}

START_TEST(test_observer)
{
	struct seen seen = { 0 };
	struct svc_endpoint ep = th_ep("10.0.0.1", 100);
	struct svc_spec s = spec_of("default", "web", &ep, 1);

	registry_set_observer(reg, observe, &seen);
	set(REGISTRY_SOURCE_STATIC, &s);
	ck_assert_uint_eq(seen.sets, 1);
	ck_assert_str_eq(seen.last, "default/web 1");
	ck_assert_ptr_ne(seen.spec, &s);	/* the registry's copy */
	ck_assert_ptr_nonnull(seen.live);
	struct svc_live *live = seen.live;
	publish();
	/* the live state is the snapshot's, and stays across changes */
	ck_assert_ptr_eq(must_find("default", "web")->live, live);
	s.n_endpoints = 0;
	set(REGISTRY_SOURCE_STATIC, &s);
	ck_assert_uint_eq(seen.sets, 2);
	ck_assert_ptr_eq(seen.live, live);
	ck_assert_str_eq(seen.last, "default/web 0");
	publish();
	ck_assert_ptr_eq(must_find("default", "web")->live, live);
	/* an unchanged reload says nothing; a removal says it before */
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, &s, 1), 0);
	ck_assert_uint_eq(seen.sets, 2);
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, NULL, 0), 0);
	ck_assert_uint_eq(seen.removes, 1);
	ck_assert_ptr_null(seen.live);
	ck_assert_str_eq(seen.last, "default/web 0");
	ck_assert_uint_eq(registry_count(reg), 0);
}
END_TEST

static struct snapshot *retired[4];
static unsigned n_retired;

static void retire(void *arg, struct snapshot *old)
{
	ck_assert_uint_lt(n_retired, 4);
	retired[n_retired++] = old;
}

START_TEST(test_retire)
{
	struct svc_spec a = spec_of("default", "a", NULL, 0), b = spec_of("default", "b", NULL, 0);
	const struct snapshot *s0 = registry_snapshot(reg);

	n_retired = 0;
	registry_set_retire(reg, retire, NULL);
	set(REGISTRY_SOURCE_STATIC, &a);
	const struct snapshot *s1 = publish();
	ck_assert_uint_eq(n_retired, 1);
	ck_assert_ptr_eq(retired[0], s0);
	publish();	/* nothing to do: nothing retired */
	ck_assert_uint_eq(n_retired, 1);
	set(REGISTRY_SOURCE_STATIC, &b);
	ck_assert_int_eq(registry_remove_service(reg, "default", "a"), 0);
	publish();
	ck_assert_uint_eq(n_retired, 2);
	ck_assert_ptr_eq(retired[1], s1);
	/* the retired one is whole until its owner lets it go */
	ck_assert_ptr_nonnull(snapshot_find_service(retired[1], "default", "a"));
	ck_assert_ptr_null(snapshot_find_service(retired[1], "default", "b"));
	ck_assert_ptr_nonnull(find("default", "b"));
	for (unsigned i = 0; i < n_retired; i++)
		snapshot_delete(retired[i]);
	/* the current one is the registry's to free */
	registry_delete(reg);
	reg = NULL;
	ck_assert_uint_eq(n_retired, 2);
}
END_TEST

/* The service PTR answers name for an address, "-" for none. */
static const char *ptr(const char *addr)
{
	static char who[128];
	struct svc_endpoint e = th_ep(addr, 0);
	uint32_t i = 0;
	const struct snap_service *s = snapshot_find_address(registry_snapshot(reg), e.family,
							     e.addr, &i);

	if (!s)
		return "-";
	ck_assert_mem_eq(s->eps[i].addr, e.addr, 16);
	snprintf(who, sizeof(who), "%s/%s", s->namespace, s->name);
	return who;
}

START_TEST(test_reverse_shared)
{
	struct svc_endpoint shared = th_ep("10.0.0.1", 100), six = th_ep("fd00::1", 100);
	struct svc_endpoint xe[2] = { shared, six }, ye[1] = { shared }, ze[2] = { shared, shared };
	struct svc_spec x = spec_of("default", "x", xe, 2), y = spec_of("default", "y", ye, 1),
			z = spec_of("other", "z", ze, 2);

	set(REGISTRY_SOURCE_STATIC, &x);
	set(REGISTRY_SOURCE_STATIC, &y);
	set(REGISTRY_SOURCE_K8S, &z);	/* has it twice: one claim */
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "default/x");
	ck_assert_str_eq(ptr("fd00::1"), "default/x");
	ck_assert_str_eq(ptr("10.0.0.2"), "-");
	/* x changes but keeps the address: it keeps its place */
	xe[0].weight = 5;
	set(REGISTRY_SOURCE_STATIC, &x);
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "default/x");
	/* the last in line goes, then the first: the middle one answers */
	ck_assert_int_eq(registry_remove_service(reg, "other", "z"), 0);
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "default/x");
	set(REGISTRY_SOURCE_K8S, &z);
	x.n_endpoints = 1;
	xe[0] = six;	/* x drops 10.0.0.1 and keeps fd00::1 */
	set(REGISTRY_SOURCE_STATIC, &x);
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "default/y");
	ck_assert_str_eq(ptr("fd00::1"), "default/x");
	/* y goes by a reload: z; z goes: nobody, and no claim is left over */
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, &x, 1), 0);
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "other/z");
	ck_assert_int_eq(registry_remove_service(reg, "other", "z"), 0);
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "-");
	set(REGISTRY_SOURCE_STATIC, &y);
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "default/y");
	ck_assert_int_eq(registry_remove_service(reg, "default", "x"), 0);
	publish();
	ck_assert_str_eq(ptr("fd00::1"), "-");
}
END_TEST

/* The map moves with the registry; the snapshot only answers for what it has. */
START_TEST(test_reverse_unpublished)
{
	struct svc_endpoint e = th_ep("10.0.0.1", 100);
	struct svc_spec a = spec_of("default", "a", &e, 1), b = spec_of("default", "b", &e, 1);

	set(REGISTRY_SOURCE_STATIC, &a);
	ck_assert_str_eq(ptr("10.0.0.1"), "-");		/* a is not published yet */
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "default/a");
	set(REGISTRY_SOURCE_STATIC, &b);
	ck_assert_int_eq(registry_remove_service(reg, "default", "a"), 0);
	ck_assert_str_eq(ptr("10.0.0.1"), "-");		/* b is not published yet */
	publish();
	ck_assert_str_eq(ptr("10.0.0.1"), "default/b");
}
END_TEST

Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("registry");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_publish);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_dirty_cb);
	tcase_add_test(tc, test_sources);
	tcase_add_test(tc, test_replace_keeps);
	tcase_add_test(tc, test_health);
	tcase_add_test(tc, test_slow_start_ramp);
	tcase_add_test(tc, test_policy);
	tcase_add_test(tc, test_synced);
	tcase_add_test(tc, test_observer);
	tcase_add_test(tc, test_retire);
	tcase_add_test(tc, test_reverse_shared);
	tcase_add_test(tc, test_reverse_unpublished);
	suite_add_tcase(s, tc);
	return s;
}
