/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Snapshots built directly from specs (no registry): the parameters they
 * keep, what each kind of name under the domain is (queries made with
 * ldns), host targets shared by an IPv4 and an IPv6 endpoint, ports and
 * _proto names, endpoints in spec order with their weights and flags,
 * zone preference per family, references held and dropped, a patched
 * snapshot that outlives the objects it replaced, and the PTR map.
 * (Which endpoints are eligible is in check_probe.c.)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "meshdns/snapshot.h"
#include "meshdns/strmap.h"
#include "suites.h"

enum { WEB, API, DB, N_SVCS };

static struct svc_port web_ports[4] = {
	{ .name = "http", .port = 8080, .proto = SVC_PROTO_TCP },
	{ .name = "metrics", .port = 9090, .proto = SVC_PROTO_TCP },
	{ .name = "dns", .port = 53, .proto = SVC_PROTO_UDP },
	{ .name = "", .port = 7, .proto = SVC_PROTO_TCP },
};
static struct svc_port db_ports[1] = { { .name = "", .port = 5432 } };
static struct svc_endpoint web_eps[4], db_eps[1];
static struct svc_spec specs[N_SVCS];
static struct snap_service *svcs[N_SVCS];
static struct sockaddr_storage ns_addrs[4];
static struct snapshot_params params;
static struct snapshot *snap;

static void setup(void)
{
	socklen_t len;

	web_eps[0] = th_ep("10.0.0.1", 100);
	web_eps[1] = th_ep("10.0.0.2", 50);
	web_eps[1].hostname = "Web-B";
	web_eps[2] = th_ep("fd00::1", 100);
	web_eps[3] = th_ep("fd00::2", 100);
	web_eps[3].hostname = "web-b";
	db_eps[0] = th_ep("fd00::5", 100);
	specs[WEB] = (struct svc_spec){ .name = "web", .namespace = "default",
					.ports = web_ports, .n_ports = 4,
					.endpoints = web_eps, .n_endpoints = 4 };
	specs[API] = (struct svc_spec){ .name = "api", .namespace = "default" };
	specs[DB] = (struct svc_spec){ .name = "db", .namespace = "storage",
				       .ports = db_ports, .n_ports = 1,
				       .endpoints = db_eps, .n_endpoints = 1 };
	for (int i = 0; i < N_SVCS; i++) {
		svcs[i] = snap_service_create(&specs[i], NULL, NULL, NULL);
		ck_assert_ptr_nonnull(svcs[i]);
	}
	ns_addrs[0] = th_sockaddr("127.0.0.1", 53, &len);
	ns_addrs[1] = th_sockaddr("0.0.0.0", 53, &len);
	ns_addrs[2] = th_sockaddr("::1", 53, &len);
	ns_addrs[3] = th_sockaddr("::", 53, &len);
	params = (struct snapshot_params){
		.domain = "Mesh.Local.", .ttl_s = 7, .negative_ttl_s = 3,
		.edns_buffer_size = 1232, .ns_addrs = ns_addrs, .n_ns_addrs = 4,
		.node_name = "node-1",
	};
	snap = snapshot_create(&params, svcs, N_SVCS, 5, 1700000000);
	ck_assert_ptr_nonnull(snap);
}

static void teardown(void)
{
	snapshot_delete(snap);
	snap = NULL;
	for (int i = 0; i < N_SVCS; i++) {
		snap_service_unref(svcs[i]);
		svcs[i] = NULL;
	}
}

static struct snap_match lookup_in(const struct snapshot *s, const char *name)
{
	struct th_query tq;
	struct snap_match m;

	th_query(&tq, name, DNS_TYPE_A, false, false, 1);
	snapshot_lookup(s, &tq.q, &m);
	return m;
}

static struct snap_match lookup(const char *name)
{
	return lookup_in(snap, name);
}

START_TEST(test_params)
{
	ck_assert_uint_eq(snap->domain_len, 12);
	ck_assert_mem_eq(snap->domain, "\4mesh\5local", 12);
	ck_assert_uint_eq(snap->domain_labels, 2);
	ck_assert_uint_eq(snap->ttl_s, 7);
	ck_assert_uint_eq(snap->negative_ttl_s, 3);
	ck_assert_uint_eq(snap->edns_buffer_size, 1232);
	ck_assert_uint_eq(snap->generation, 5);
	ck_assert_uint_eq(snap->serial, 1700000000);
	ck_assert_str_eq(snap->node_name, "node-1");
	ck_assert(!snap->unsynced);
	/* ns.dns: the specific listen addresses, not the wildcards */
	ck_assert_uint_eq(snap->n_ns4, 1);
	ck_assert_mem_eq(snap->ns_addr4[0], "\x7f\0\0\x01", 4);
	ck_assert_uint_eq(snap->n_ns6, 1);
	ck_assert_mem_eq(snap->ns_addr6[0], &in6addr_loopback, 16);
	ck_assert_uint_eq(snap->n_services, N_SVCS);
	for (int i = 0; i < N_SVCS; i++)
		ck_assert_ptr_eq(snap->services[i], svcs[i]);
}
END_TEST

START_TEST(test_params_edges)
{
	struct sockaddr_storage many[10];
	struct snapshot_params p = { .domain = "cluster.local", .ns_addrs = many,
				     .n_ns_addrs = 10, .unsynced = true };
	char a[24];
	socklen_t len;

	for (int i = 0; i < 10; i++) {
		snprintf(a, sizeof(a), "10.0.0.%d", i + 1);
		many[i] = th_sockaddr(a, 53, &len);
	}
	struct snapshot *s = snapshot_create(&p, NULL, 0, 1, 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->n_ns4, 8);		/* room for 8 */
	ck_assert_mem_eq(s->ns_addr4[7], "\x0a\0\0\x08", 4);
	ck_assert_str_eq(s->node_name, "");
	ck_assert(s->unsynced);
	ck_assert_uint_eq(s->n_services, 0);
	ck_assert_int_eq(lookup_in(s, "web.default.svc.cluster.local.").kind, SNAP_KIND_NONE);
	snapshot_delete(s);
	/* a domain that is not a name */
	p.domain = "bad..domain";
	ck_assert_ptr_null(snapshot_create(&p, NULL, 0, 1, 1));
	snapshot_delete(NULL);
}
END_TEST

struct kind_case {
	const char *name;
	enum snap_kind kind;
	int svc;		/* WEB, API, DB or -1 */
};

START_TEST(test_lookup_kinds)
{
	static const struct kind_case cases[] = {
		{ "mesh.local.", SNAP_KIND_APEX, -1 },
		{ "MESH.Local.", SNAP_KIND_APEX, -1 },
		{ "example.org.", SNAP_KIND_OUTSIDE, -1 },
		{ "local.", SNAP_KIND_OUTSIDE, -1 },
		{ "xmesh.local.", SNAP_KIND_OUTSIDE, -1 },
		{ "web.default.svc.mesh.local.org.", SNAP_KIND_OUTSIDE, -1 },
		{ "nothing.mesh.local.", SNAP_KIND_NONE, -1 },
		{ "dns.mesh.local.", SNAP_KIND_EMPTY, -1 },
		{ "ns.dns.mesh.local.", SNAP_KIND_NSHOST, -1 },
		{ "x.dns.mesh.local.", SNAP_KIND_NONE, -1 },
		{ "a.ns.dns.mesh.local.", SNAP_KIND_NONE, -1 },
		{ "svc.mesh.local.", SNAP_KIND_EMPTY, -1 },
		{ "default.svc.mesh.local.", SNAP_KIND_EMPTY, -1 },
		{ "storage.svc.mesh.local.", SNAP_KIND_EMPTY, -1 },
		{ "nons.svc.mesh.local.", SNAP_KIND_NONE, -1 },
		{ "web.default.svc.mesh.local.", SNAP_KIND_SERVICE, WEB },
		{ "WEB.Default.SVC.mesh.LOCAL.", SNAP_KIND_SERVICE, WEB },
		{ "api.default.svc.mesh.local.", SNAP_KIND_SERVICE, API },
		{ "db.storage.svc.mesh.local.", SNAP_KIND_SERVICE, DB },
		{ "db.default.svc.mesh.local.", SNAP_KIND_NONE, -1 },
		{ "web.storage.svc.mesh.local.", SNAP_KIND_NONE, -1 },
		{ "10-0-0-1.web.default.svc.mesh.local.", SNAP_KIND_TARGET, WEB },
		{ "10-0-0-9.web.default.svc.mesh.local.", SNAP_KIND_NONE, WEB },
		{ "_status.web.default.svc.mesh.local.", SNAP_KIND_STATUS, WEB },
		{ "_http._tcp.web.default.svc.mesh.local.", SNAP_KIND_PORT, WEB },
		{ "a.b.c.web.default.svc.mesh.local.", SNAP_KIND_NONE, WEB },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kind_case *c = &cases[i];
		struct snap_match m = lookup(c->name);
		ck_assert_msg(m.kind == c->kind, "%s: kind %d, expected %d", c->name, m.kind,
			      c->kind);
		if (c->svc >= 0 && c->kind != SNAP_KIND_NONE)
			ck_assert_msg(m.svc == svcs[c->svc], "%s: another service", c->name);
		if (c->kind == SNAP_KIND_OUTSIDE || c->svc < 0)
			ck_assert_ptr_null(m.svc);
	}
	/* where the labels are */
	struct snap_match m = lookup("_http._tcp.web.default.svc.mesh.local.");
	ck_assert_uint_eq(m.svc_label, 2);
	ck_assert_uint_eq(m.domain_label, 5);
	m = lookup("web.default.svc.mesh.local.");
	ck_assert_uint_eq(m.svc_label, 0);
	ck_assert_uint_eq(m.domain_label, 3);
}
END_TEST

/* The target @p host of web, as the lookup finds it. */
static const struct snap_target *target(const char *host)
{
	char name[128];

	snprintf(name, sizeof(name), "%s.web.default.svc.mesh.local.", host);
	struct snap_match m = lookup(name);
	ck_assert_msg(m.kind == SNAP_KIND_TARGET, "%s: no target", host);
	ck_assert_uint_lt(m.index, svcs[WEB]->n_targets);
	return &svcs[WEB]->targets[m.index];
}

START_TEST(test_targets)
{
	const struct snap_service *s = svcs[WEB];

	/* addresses as labels; one name for the IPv4 and the IPv6 "web-b" */
	ck_assert_uint_eq(s->n_targets, 3);
	ck_assert_int_eq(target("10-0-0-1")->ep4, 0);
	ck_assert_int_eq(target("10-0-0-1")->ep6, -1);
	ck_assert_int_eq(target("WEB-B")->ep4, 1);
	ck_assert_int_eq(target("web-b")->ep6, 3);
	ck_assert_int_eq(target("fd00--1")->ep4, -1);
	ck_assert_int_eq(target("fd00--1")->ep6, 2);
	/* the hostname replaces the address label */
	ck_assert_int_eq(lookup("10-0-0-2.web.default.svc.mesh.local.").kind, SNAP_KIND_NONE);
	ck_assert_mem_eq(target("web-b")->label, "\5web-b", 6);
	for (uint32_t i = 0; i < s->n_eps; i++)
		ck_assert_uint_eq(s->eps[i].target, i == 3 ? 1 : i);
}
END_TEST

START_TEST(test_ports)
{
	struct snap_match m = lookup("_metrics._tcp.web.default.svc.mesh.local.");
	char longlabel[80];

	ck_assert_int_eq(m.kind, SNAP_KIND_PORT);
	ck_assert_uint_eq(svcs[WEB]->ports[m.index].port, 9090);
	m = lookup("_DNS._UDP.web.default.svc.mesh.local.");
	ck_assert_int_eq(m.kind, SNAP_KIND_PORT);
	ck_assert_uint_eq(svcs[WEB]->ports[m.index].port, 53);
	/* the name and the protocol must both match */
	ck_assert_int_eq(lookup("_http._udp.web.default.svc.mesh.local.").kind, SNAP_KIND_NONE);
	ck_assert_int_eq(lookup("_dns._tcp.web.default.svc.mesh.local.").kind, SNAP_KIND_NONE);
	/* _proto exists above a named port of that protocol */
	ck_assert_int_eq(lookup("_tcp.web.default.svc.mesh.local.").kind, SNAP_KIND_EMPTY);
	ck_assert_int_eq(lookup("_udp.web.default.svc.mesh.local.").kind, SNAP_KIND_EMPTY);
	ck_assert_int_eq(lookup("_sctp.web.default.svc.mesh.local.").kind, SNAP_KIND_NONE);
	/* unnamed ports have no SRV name: db has one, nothing below it */
	ck_assert_uint_eq(svcs[DB]->n_ports, 1);
	ck_assert_uint_eq(svcs[DB]->ports[0].name[0], 0);
	ck_assert_int_eq(lookup("_tcp.db.storage.svc.mesh.local.").kind, SNAP_KIND_NONE);
	ck_assert_mem_eq(svcs[DB]->ports[0].proto, "\4_tcp", 5);
	/* labels longer than any port's are compared safely (ASan) */
	memset(longlabel, 'x', 63);
	longlabel[0] = '_';
	snprintf(longlabel + 63, sizeof(longlabel) - 63, "._tcp");
	char name[160];
	snprintf(name, sizeof(name), "%s.web.default.svc.mesh.local.", longlabel);
	ck_assert_int_eq(lookup(name).kind, SNAP_KIND_NONE);
	snprintf(name, sizeof(name), "_http.%.62s.web.default.svc.mesh.local.", longlabel);
	ck_assert_int_eq(lookup(name).kind, SNAP_KIND_NONE);
	snprintf(name, sizeof(name), "%.63s.web.default.svc.mesh.local.", longlabel);
	ck_assert_int_eq(lookup(name).kind, SNAP_KIND_NONE);
}
END_TEST

START_TEST(test_find_service)
{
	char big[80];

	ck_assert_ptr_eq(snapshot_find_service(snap, "default", "web"), svcs[WEB]);
	ck_assert_ptr_eq(snapshot_find_service(snap, "storage", "db"), svcs[DB]);
	ck_assert_ptr_null(snapshot_find_service(snap, "storage", "web"));
	ck_assert_ptr_null(snapshot_find_service(snap, "default", "nope"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_ptr_null(snapshot_find_service(snap, big, "web"));
	ck_assert_ptr_null(snapshot_find_service(snap, "default", big));
}
END_TEST

START_TEST(test_endpoints)
{
	struct ep_health h[4];
	char zone[8] = "zone-a";
	struct svc_live *live = svc_live_create();
	struct snap_policy pol = { .max_answers = 3 };

	for (int i = 0; i < 4; i++)
		h[i] = (struct ep_health){ .healthy = true, .load_pct = 100,
					   .healthy_since_ms = 1000u * (unsigned)i };
	h[1].load_pct = 40;
	h[2].healthy = false;
	web_eps[0].zone = zone;
	web_eps[3].ready = false;
	specs[WEB].slow_start_s = 30;
	struct snap_service *s = snap_service_create(&specs[WEB], h, live, &pol);
	ck_assert_ptr_nonnull(s);
	zone[0] = 'X';	/* the spec's strings are the caller's */

	ck_assert_str_eq(s->name, "web");
	ck_assert_str_eq(s->namespace, "default");
	ck_assert_uint_eq(s->n_eps, 4);
	for (uint32_t i = 0; i < 4; i++) {
		/* spec order, each with its own address and weights */
		ck_assert_int_eq(s->eps[i].family, web_eps[i].family);
		ck_assert_mem_eq(s->eps[i].addr, web_eps[i].addr, 16);
		ck_assert_uint_eq(s->eps[i].weight, web_eps[i].weight);
		ck_assert_uint_eq(s->eps[i].ramp_start_ms, 1000u * i);
	}
	ck_assert_uint_eq(s->eps[0].effective, 100);
	ck_assert_uint_eq(s->eps[1].effective, 20);	/* 50 x 40% */
	ck_assert_uint_eq(s->eps[1].load_pct, 40);
	ck_assert_str_eq(s->eps[0].zone, "zone-a");
	ck_assert_ptr_null(s->eps[1].zone);
	ck_assert_uint_eq(s->eps[0].flags & (SNAP_EP_READY | SNAP_EP_HEALTHY),
			  SNAP_EP_READY | SNAP_EP_HEALTHY);
	ck_assert_uint_eq(s->eps[2].flags & (SNAP_EP_READY | SNAP_EP_HEALTHY), SNAP_EP_READY);
	ck_assert_uint_eq(s->eps[3].flags & (SNAP_EP_READY | SNAP_EP_HEALTHY), 0);
	ck_assert_uint_eq(s->n_ready, 3);
	ck_assert_uint_eq(s->n_healthy, 2);
	ck_assert_uint_eq(s->n_eligible, 2);
	/* per-service settings */
	ck_assert_uint_eq(s->slow_start_ms, 30000);
	ck_assert_uint_eq(s->max_answers, 3);	/* the policy's */
	ck_assert_ptr_eq(s->live, live);
	ck_assert_uint_eq(live->refs, 2);
	ck_assert(!s->zones);
	snap_service_unref(s);
	ck_assert_uint_eq(live->refs, 1);

	/* the service's own max_answers, 0 included, wins over the policy's */
	specs[WEB].has_max_answers = true;
	specs[WEB].max_answers = 0;
	s = snap_service_create(&specs[WEB], NULL, NULL, &pol);
	ck_assert_uint_eq(s->max_answers, 0);
	ck_assert_ptr_null(s->live);
	/* without health, every ready endpoint is healthy at full load */
	ck_assert_uint_eq(s->n_healthy, 3);
	ck_assert_uint_eq(s->eps[1].effective, 50);
	snap_service_unref(s);
	svc_live_unref(live);
	web_eps[0].zone = NULL;
}
END_TEST

/* web with IPv4 endpoints in zones a, a, b and an IPv6 one in b. */
static struct snap_service *zoned(const char *node_zone, bool pref, uint8_t share)
{
	struct snap_policy pol = { .node_zone = node_zone, .zone_preference = pref,
				   .zone_min_share_pct = share };

	web_eps[1].weight = 100;
	web_eps[2] = th_ep("10.0.0.3", 100);
	web_eps[0].zone = web_eps[1].zone = "a";
	web_eps[2].zone = web_eps[3].zone = "b";
	struct snap_service *s = snap_service_create(&specs[WEB], NULL, NULL, &pol);
	ck_assert_ptr_nonnull(s);
	return s;
}

static unsigned local_mask(const struct snap_service *s)
{
	unsigned m = 0;

	for (uint32_t i = 0; i < s->n_eps; i++)
		m |= (s->eps[i].flags & SNAP_EP_LOCAL) ? 1u << i : 0;
	return m;
}

START_TEST(test_zones)
{
	/* 200 of 300 IPv4 weight in zone a; no IPv6 there */
	struct snap_service *s = zoned("a", true, 60);
	ck_assert(s->zones);
	ck_assert_uint_eq(local_mask(s), 0x3);
	ck_assert(s->use_local4);
	ck_assert(!s->use_local6);
	snap_service_unref(s);
	/* 67% < 70% */
	s = zoned("a", true, 70);
	ck_assert(!s->use_local4);
	snap_service_unref(s);
	/* zone b: 100 of 300 for IPv4, all of IPv6 */
	s = zoned("b", true, 30);
	ck_assert_uint_eq(local_mask(s), 0xc);
	ck_assert(s->use_local4 && s->use_local6);
	snap_service_unref(s);
	/* a hint for zone c counts as local there */
	char *hint[] = { "c" };
	web_eps[1].for_zones = hint;
	web_eps[1].n_for_zones = 1;
	s = zoned("c", true, 30);
	ck_assert_uint_eq(local_mask(s), 0x2);
	ck_assert(s->use_local4 && !s->use_local6);
	snap_service_unref(s);
	web_eps[1].for_zones = NULL;
	web_eps[1].n_for_zones = 0;
	/* preference off, or our zone unknown: no zones at all */
	s = zoned("a", false, 30);
	ck_assert(!s->zones && !s->use_local4);
	ck_assert_uint_eq(local_mask(s), 0);
	snap_service_unref(s);
	s = zoned(NULL, true, 30);
	ck_assert(!s->zones && !s->use_local4);
	ck_assert_uint_eq(local_mask(s), 0);
	snap_service_unref(s);
}
END_TEST

/* Every endpoint draining: the local share is counted in endpoints. */
START_TEST(test_zones_draining)
{
	web_eps[2] = th_ep("10.0.0.3", 0);
	web_eps[3] = th_ep("10.0.0.4", 0);
	web_eps[0].weight = web_eps[1].weight = 0;
	web_eps[0].zone = "a";
	web_eps[1].zone = web_eps[2].zone = web_eps[3].zone = "b";
	struct snap_policy pol = { .node_zone = "a", .zone_preference = true,
				   .zone_min_share_pct = 25 };
	struct snap_service *s = snap_service_create(&specs[WEB], NULL, NULL, &pol);
	ck_assert_uint_eq(s->n_eligible, 4);	/* all draining: all given out */
	ck_assert(s->use_local4);		/* 1 of 4 >= 25% */
	snap_service_unref(s);
	pol.zone_min_share_pct = 26;
	s = snap_service_create(&specs[WEB], NULL, NULL, &pol);
	ck_assert(!s->use_local4);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_refs)
{
	/* ours and the snapshot's */
	for (int i = 0; i < N_SVCS; i++)
		ck_assert_uint_eq(svcs[i]->refs, 2);
	struct snapshot *again = snapshot_create(&params, svcs, N_SVCS, 6, 1);
	ck_assert_uint_eq(svcs[WEB]->refs, 3);
	snapshot_delete(again);
	snapshot_delete(snap);
	snap = NULL;
	for (int i = 0; i < N_SVCS; i++)
		ck_assert_uint_eq(svcs[i]->refs, 1);
	/* services outlive the snapshots that held them */
	ck_assert_str_eq(svcs[WEB]->name, "web");
}
END_TEST

/*
 * A patched snapshot with web replaced: the new one finds the new object
 * and the old one the old, the namespace too, and the new one still works
 * after the old snapshot and the old object are freed (web is first in
 * the list, so the table's "default" entry pointed into the old web).
 */
START_TEST(test_update)
{
	struct snap_service *old = svcs[WEB];

	web_eps[0] = th_ep("10.0.0.99", 100);
	svcs[WEB] = snap_service_create(&specs[WEB], NULL, NULL, NULL);
	params.unsynced = true;
	struct snapshot *next = snapshot_update(snap, &params, svcs, N_SVCS, 6, 1700000001);
	ck_assert_ptr_nonnull(next);
	ck_assert_uint_eq(next->generation, 6);
	ck_assert_uint_eq(next->serial, 1700000001);
	ck_assert(next->unsynced);
	ck_assert(!snap->unsynced);
	ck_assert_ptr_eq(lookup_in(next, "web.default.svc.mesh.local.").svc, svcs[WEB]);
	ck_assert_ptr_eq(lookup_in(snap, "web.default.svc.mesh.local.").svc, old);
	ck_assert_int_eq(lookup_in(next, "10-0-0-99.web.default.svc.mesh.local.").kind,
			 SNAP_KIND_TARGET);
	ck_assert_int_eq(lookup_in(snap, "10-0-0-99.web.default.svc.mesh.local.").kind,
			 SNAP_KIND_NONE);
	ck_assert_ptr_eq(snapshot_find_service(next, "storage", "db"), svcs[DB]);
	ck_assert_uint_eq(svcs[DB]->refs, 3);	/* shared by both snapshots */

	snapshot_delete(snap);
	snap = next;
	snap_service_unref(old);	/* freed now */
	ck_assert_int_eq(lookup("default.svc.mesh.local.").kind, SNAP_KIND_EMPTY);
	ck_assert_ptr_eq(lookup("web.default.svc.mesh.local.").svc, svcs[WEB]);
	ck_assert_ptr_eq(lookup("api.default.svc.mesh.local.").svc, svcs[API]);
	ck_assert_ptr_eq(snapshot_find_service(snap, "default", "web"), svcs[WEB]);
	ck_assert_uint_eq(svcs[WEB]->refs, 2);
}
END_TEST

/* snapshot_update() takes unsynced and rev from its parameters and keeps
 * every other setting of the snapshot it patches (the header says so). */
START_TEST(test_update_settings)
{
	uint32_t ttl = snap->ttl_s, neg = snap->negative_ttl_s;
	uint16_t edns = snap->edns_buffer_size;

	params.ttl_s = ttl + 53;
	params.negative_ttl_s = neg + 6;
	params.edns_buffer_size = 4096;
	params.unsynced = !snap->unsynced;
	struct snapshot *next = snapshot_update(snap, &params, svcs, N_SVCS, 6, 2);
	ck_assert_uint_eq(next->ttl_s, ttl);
	ck_assert_uint_eq(next->negative_ttl_s, neg);
	ck_assert_uint_eq(next->edns_buffer_size, edns);
	ck_assert(next->unsynced == params.unsynced);
	ck_assert_uint_eq(next->generation, 6);
	snapshot_delete(next);
}
END_TEST

START_TEST(test_addr_key)
{
	char k[SNAP_ADDR_KEY];
	struct svc_endpoint e = th_ep("10.0.0.1", 0), f = th_ep("2001:db8::ff", 0);

	snapshot_addr_key(AF_INET, e.addr, k);
	ck_assert_int_eq(strcasecmp(k, "40a000001"), 0);
	snapshot_addr_key(AF_INET6, f.addr, k);
	ck_assert_int_eq(strcasecmp(k, "620010db80000000000000000000000ff"), 0);
	ck_assert_uint_eq(strlen(k), SNAP_ADDR_KEY - 1);
}
END_TEST

/* The PTR map: the first service on the address's line. */
START_TEST(test_find_address)
{
	struct strmap *rev = strmap_create();
	char k1[SNAP_ADDR_KEY], k2[SNAP_ADDR_KEY], k3[SNAP_ADDR_KEY], k4[SNAP_ADDR_KEY];
	uint32_t ep = 99;

	snapshot_addr_key(AF_INET6, web_eps[3].addr, k1);
	snapshot_addr_key(AF_INET6, db_eps[0].addr, k2);
	snapshot_addr_key(AF_INET, web_eps[0].addr, k3);
	snapshot_addr_key(AF_INET, web_eps[1].addr, k4);
	ck_assert_int_eq(strmap_put(rev, k1, "default/web\nstorage/db"), 0);
	ck_assert_int_eq(strmap_put(rev, k2, "storage/db"), 0);
	ck_assert_int_eq(strmap_put(rev, k3, "other/gone\ndefault/web"), 0);
	ck_assert_int_eq(strmap_put(rev, k4, "no slash"), 0);
	/* without a map: nothing */
	ck_assert_ptr_null(snapshot_find_address(snap, AF_INET6, web_eps[3].addr, &ep));
	snapshot_delete(snap);
	params.rev = rev;
	snap = snapshot_create(&params, svcs, N_SVCS, 6, 1);

	ck_assert_ptr_eq(snapshot_find_address(snap, AF_INET6, web_eps[3].addr, &ep), svcs[WEB]);
	ck_assert_uint_eq(ep, 3);
	ck_assert_ptr_eq(snapshot_find_address(snap, AF_INET6, db_eps[0].addr, &ep), svcs[DB]);
	ck_assert_uint_eq(ep, 0);
	/* the first claimant is not in this snapshot: no answer */
	ck_assert_ptr_null(snapshot_find_address(snap, AF_INET, web_eps[0].addr, &ep));
	ck_assert_ptr_null(snapshot_find_address(snap, AF_INET, web_eps[1].addr, &ep));
	/* an address nobody has, and one of the wrong family */
	ck_assert_ptr_null(snapshot_find_address(snap, AF_INET, (const uint8_t *)"\1\2\3\4", &ep));
	ck_assert_ptr_null(snapshot_find_address(snap, AF_INET, web_eps[3].addr, &ep));
	/* the map names a service for an address it does not have (yet) */
	ck_assert_int_eq(strmap_put(rev, k2, "default/web"), 0);
	ck_assert_ptr_null(snapshot_find_address(snap, AF_INET6, db_eps[0].addr, &ep));
	snapshot_delete(snap);
	snap = NULL;
	strmap_delete(rev);
}
END_TEST

Suite *snapshot_suite(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params);
	tcase_add_test(tc, test_params_edges);
	tcase_add_test(tc, test_lookup_kinds);
	tcase_add_test(tc, test_targets);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_find_service);
	tcase_add_test(tc, test_endpoints);
	tcase_add_test(tc, test_zones);
	tcase_add_test(tc, test_zones_draining);
	tcase_add_test(tc, test_refs);
	tcase_add_test(tc, test_update);
	tcase_add_test(tc, test_update_settings);
	tcase_add_test(tc, test_addr_key);
	tcase_add_test(tc, test_find_address);
	suite_add_tcase(s, tc);
	return s;
}
