/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * dns_answer() end to end on a registry built from a config: queries are
 * made with ldns and every reply is parsed back with ldns, so the wire
 * format is checked by an independent implementation.
 */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/config.h"
#include "meshdns/dns_answer.h"
#include "meshdns/params.h"
#include "meshdns/registry.h"
#include "suites.h"

static struct registry *reg;
static struct dns_answer_scratch scratch;
static uint8_t out[DNS_MAX_MSG];
static size_t out_len;
static struct dns_answer_info info;

static const char *base_conf =
	"{ \"listen\": [\"127.0.0.1:5300\", \"[::1]:5300\"],"
	"  \"ttl\": 7, \"negative_ttl\": 3,"
	"  \"services\": ["
	"  { \"name\": \"web\", \"namespace\": \"default\","
	"    \"ports\": [{\"name\": \"http\", \"port\": 8080},"
	"                {\"name\": \"metrics\", \"port\": 9090}],"
	"    \"endpoints\": [ {\"address\": \"10.0.0.1\"},"
	"                     {\"address\": \"10.0.0.2\", \"hostname\": \"web-b\", \"weight\": 50},"
	"                     {\"address\": \"fd00::1\"} ] },"
	"  { \"name\": \"db\", \"namespace\": \"storage\","
	"    \"ports\": [{\"port\": 5432}],"
	"    \"endpoints\": [ {\"address\": \"fd00::5\"} ] },"
	"  { \"name\": \"empty\", \"namespace\": \"default\" } ] }";

static void load(const char *text)
{
	struct config *cfg = NULL;
	struct config_errors errs = { 0 };
	struct sockaddr_storage ns[8];

	registry_delete(reg);
	ck_assert_msg(config_parse("t", text, strlen(text), &cfg, &errs) == 0,
		      "config_parse: %s", errs.text);
	free(errs.text);
	ck_assert_uint_le(cfg->n_listen, 8);
	struct snapshot_params p;
	params_snapshot(cfg, NULL, NULL, ns, &p);
	reg = registry_create(&p);
	ck_assert_ptr_nonnull(reg);
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, cfg->services, cfg->n_services), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	config_delete(cfg);
}

static void setup(void)
{
	sel_rng_seed(&scratch.rng, 42);
	scratch.now_ms = 1000000;
	load(base_conf);
}

static void teardown(void)
{
	registry_delete(reg);
	reg = NULL;
}

/* Ask; edns 0 = no OPT. Returns the parsed reply (caller frees). */
static ldns_pkt *ask_full(const char *name, ldns_rr_type type, uint16_t edns,
			  bool tcp, ldns_rr_class cls)
{
	ldns_pkt *q = NULL, *r = NULL;
	uint8_t *wire = NULL;
	size_t wlen = 0;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&q, name, type, cls, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(q, 4242);
	if (edns)
		ldns_pkt_set_edns_udp_size(q, edns);
	ck_assert_int_eq(ldns_pkt2wire(&wire, q, &wlen), LDNS_STATUS_OK);
	out_len = dns_answer(registry_snapshot(reg), wire, wlen, tcp, out,
			     sizeof(out), &scratch, &info);
	ck_assert_msg(out_len > 0, "dns_answer dropped a query for %s", name);
	ck_assert_msg(ldns_wire2pkt(&r, out, out_len) == LDNS_STATUS_OK,
		      "dns_answer: reply for %s does not parse", name);
	ck_assert_uint_eq(ldns_pkt_id(r), 4242);
	ck_assert(ldns_pkt_qr(r));
	ck_assert(ldns_pkt_rd(r));
	LDNS_FREE(wire);
	ldns_pkt_free(q);
	return r;
}

static ldns_pkt *ask(const char *name, ldns_rr_type type)
{
	return ask_full(name, type, 1232, false, LDNS_RR_CLASS_IN);
}

/* The rdata of answer @p i as text. */
static char *rdata(const ldns_rr_list *l, size_t i, size_t field)
{
	return ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(l, i), field));
}

static bool list_has(const ldns_rr_list *l, ldns_rr_type t, const char *owner,
		     const char *rd0)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *rr = ldns_rr_list_rr(l, i);
		if (ldns_rr_get_type(rr) != t)
			continue;
		char *o = ldns_rdf2str(ldns_rr_owner(rr));
		char *d = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		bool hit = strcmp(o, owner) == 0 && (!rd0 || strcmp(d, rd0) == 0);
		free(o);
		free(d);
		if (hit)
			return true;
	}
	return false;
}

static void expect_negative(ldns_pkt *r, ldns_pkt_rcode rcode)
{
	ck_assert_int_eq(ldns_pkt_get_rcode(r), rcode);
	ck_assert(ldns_pkt_aa(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 0);
	ck_assert_uint_eq(ldns_pkt_nscount(r), 1);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(r), 0);
	ck_assert_int_eq(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	ck_assert_uint_eq(ldns_rr_ttl(soa), 3);
	char *o = ldns_rdf2str(ldns_rr_owner(soa));
	ck_assert_str_eq(o, "mesh.local.");
	free(o);
	char *m = ldns_rdf2str(ldns_rr_rdf(soa, 6));
	ck_assert_str_eq(m, "3");
	free(m);
}

/* Ask, and expect a negative answer with @p rcode (see expect_negative). */
static void ask_negative(const char *name, ldns_rr_type type, ldns_pkt_rcode rcode)
{
	ldns_pkt *r = ask(name, type);

	expect_negative(r, rcode);
	ldns_pkt_free(r);
}

START_TEST(test_a)
{
	ldns_pkt *r = ask("web.default.svc.mesh.local.", LDNS_RR_TYPE_A);
	ldns_rr_list *an = ldns_pkt_answer(r);

	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	ck_assert(ldns_pkt_aa(r));
	ck_assert(!ldns_pkt_tc(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 2);
	ck_assert(list_has(an, LDNS_RR_TYPE_A, "web.default.svc.mesh.local.", "10.0.0.1"));
	ck_assert(list_has(an, LDNS_RR_TYPE_A, "web.default.svc.mesh.local.", "10.0.0.2"));
	ck_assert_uint_eq(ldns_rr_ttl(ldns_rr_list_rr(an, 0)), 7);
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(r), 1232);
	ldns_pkt_free(r);

	r = ask("web.default.svc.mesh.local.", LDNS_RR_TYPE_AAAA);
	ck_assert_uint_eq(ldns_pkt_ancount(r), 1);
	ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_AAAA,
			   "web.default.svc.mesh.local.", "fd00::1"));
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_case_echo)
{
	ldns_pkt *r = ask("WeB.DeFault.SVC.Mesh.LOCAL.", LDNS_RR_TYPE_A);
	char *q = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(r), 0)));

	ck_assert_str_eq(q, "WeB.DeFault.SVC.Mesh.LOCAL.");
	ck_assert_uint_eq(ldns_pkt_ancount(r), 2);
	free(q);
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_hosts)
{
	ldns_pkt *r = ask("10-0-0-1.web.default.svc.mesh.local.", LDNS_RR_TYPE_A);
	ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_A,
			   "10-0-0-1.web.default.svc.mesh.local.", "10.0.0.1"));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 1);
	ldns_pkt_free(r);

	r = ask("web-b.web.default.svc.mesh.local.", LDNS_RR_TYPE_A);
	ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_A,
			   "web-b.web.default.svc.mesh.local.", "10.0.0.2"));
	ldns_pkt_free(r);

	r = ask("fd00--1.web.default.svc.mesh.local.", LDNS_RR_TYPE_AAAA);
	ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_AAAA,
			   "fd00--1.web.default.svc.mesh.local.", "fd00::1"));
	ldns_pkt_free(r);

	/* the host exists but has no AAAA: NODATA */
	ask_negative("web-b.web.default.svc.mesh.local.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR);
}
END_TEST

START_TEST(test_srv_port)
{
	ldns_pkt *r = ask("_http._tcp.web.default.svc.mesh.local.", LDNS_RR_TYPE_SRV);
	ldns_rr_list *an = ldns_pkt_answer(r), *ad = ldns_pkt_additional(r);

	ck_assert_uint_eq(ldns_pkt_ancount(r), 3);
	for (size_t i = 0; i < 3; i++) {
		char *port = rdata(an, i, 2);
		ck_assert_str_eq(port, "8080");
		free(port);
	}
	ck_assert(list_has(an, LDNS_RR_TYPE_SRV, "_http._tcp.web.default.svc.mesh.local.", NULL));
	/* weights scaled to 65535 for the heaviest, ratios kept: web-b has
	 * weight 50 against 100; no zones configured: all priority 0 */
	unsigned seen = 0;
	for (size_t i = 0; i < 3; i++) {
		char *prio = rdata(an, i, 0), *w = rdata(an, i, 1), *t = rdata(an, i, 3);
		ck_assert_str_eq(prio, "0");
		if (strcmp(t, "web-b.web.default.svc.mesh.local.") == 0) {
			ck_assert_str_eq(w, "32767");
			seen |= 1;
		} else if (strcmp(t, "10-0-0-1.web.default.svc.mesh.local.") == 0) {
			ck_assert_str_eq(w, "65535");
			seen |= 2;
		} else {
			ck_assert_str_eq(t, "fd00--1.web.default.svc.mesh.local.");
			ck_assert_str_eq(w, "65535");
			seen |= 4;
		}
		free(prio);
		free(w);
		free(t);
	}
	ck_assert_uint_eq(seen, 7);
	/* additional: the three targets' addresses, then OPT (not in the list) */
	ck_assert_uint_eq(ldns_rr_list_rr_count(ad), 3);
	ck_assert(list_has(ad, LDNS_RR_TYPE_A, "10-0-0-1.web.default.svc.mesh.local.", "10.0.0.1"));
	ck_assert(list_has(ad, LDNS_RR_TYPE_A, "web-b.web.default.svc.mesh.local.", "10.0.0.2"));
	ck_assert(list_has(ad, LDNS_RR_TYPE_AAAA, "fd00--1.web.default.svc.mesh.local.", "fd00::1"));
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_srv_service)
{
	ldns_pkt *r = ask("web.default.svc.mesh.local.", LDNS_RR_TYPE_SRV);

	/* 3 targets x 2 named ports; each target's address once */
	ck_assert_uint_eq(ldns_pkt_ancount(r), 6);
	ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_additional(r)), 3);
	ldns_pkt_free(r);

	/* an unnamed port has no SRV names */
	ask_negative("db.storage.svc.mesh.local.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR);
	ask_negative("_metrics._udp.web.default.svc.mesh.local.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NXDOMAIN);
}
END_TEST

START_TEST(test_negative)
{
	static const struct { const char *name; ldns_rr_type t; ldns_pkt_rcode rc; } cases[] = {
		{ "nosuch.default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "foo.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "x.y.web.default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "a.b.c.web.default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "nons.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "web.nons.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "10-9-9-9.web.default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN },
		{ "web.default.svc.mesh.local.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR },
		{ "web.default.svc.mesh.local.", LDNS_RR_TYPE_MX, LDNS_RCODE_NOERROR },
		{ "svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR },
		{ "default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR },
		{ "storage.svc.mesh.local.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR },
		{ "_tcp.web.default.svc.mesh.local.", LDNS_RR_TYPE_SRV, LDNS_RCODE_NOERROR },
		{ "empty.default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR },
		{ "db.storage.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR },
		{ "mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR },
		{ "dns.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ldns_pkt *r = ask(cases[i].name, cases[i].t);
		ck_assert_msg(ldns_pkt_get_rcode(r) == cases[i].rc,
			      "dns_answer: %s rcode %d", cases[i].name,
			      ldns_pkt_get_rcode(r));
		expect_negative(r, cases[i].rc);
		ldns_pkt_free(r);
	}
}
END_TEST

START_TEST(test_refused)
{
	ldns_pkt *r = ask("example.com.", LDNS_RR_TYPE_A);

	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
	ck_assert(!ldns_pkt_aa(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r) + ldns_pkt_nscount(r), 0);
	ck_assert_uint_eq(ldns_pkt_qdcount(r), 1);
	ldns_pkt_free(r);

	/* a suffix that is not on a label boundary is not ours */
	r = ask("xmesh.local.", LDNS_RR_TYPE_A);
	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
	ldns_pkt_free(r);

	r = ask_full("web.default.svc.mesh.local.", LDNS_RR_TYPE_A, 0, false,
		     LDNS_RR_CLASS_CH);
	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
	ldns_pkt_free(r);

	r = ask_full("mesh.local.", LDNS_RR_TYPE_AXFR, 0, true, LDNS_RR_CLASS_IN);
	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_apex)
{
	ldns_pkt *r = ask("mesh.local.", LDNS_RR_TYPE_SOA);
	ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_answer(r), 0);

	ck_assert_uint_eq(ldns_pkt_ancount(r), 1);
	ck_assert_int_eq(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	char *mname = ldns_rdf2str(ldns_rr_rdf(soa, 0));
	char *rname = ldns_rdf2str(ldns_rr_rdf(soa, 1));
	ck_assert_str_eq(mname, "ns.dns.mesh.local.");
	ck_assert_str_eq(rname, "hostmaster.mesh.local.");
	ck_assert_uint_ne(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), 0);
	free(mname);
	free(rname);
	ldns_pkt_free(r);

	r = ask("mesh.local.", LDNS_RR_TYPE_NS);
	ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_NS, "mesh.local.",
			   "ns.dns.mesh.local."));
	ldns_pkt_free(r);

	r = ask("ns.dns.mesh.local.", LDNS_RR_TYPE_A);
	ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_A, "ns.dns.mesh.local.",
			   "127.0.0.1"));
	ldns_pkt_free(r);
	r = ask("ns.dns.mesh.local.", LDNS_RR_TYPE_AAAA);
	ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_AAAA, "ns.dns.mesh.local.",
			   "::1"));
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_any_minimal)
{
	ldns_pkt *r = ask("web.default.svc.mesh.local.", LDNS_RR_TYPE_ANY);
	ldns_rr_list *an = ldns_pkt_answer(r);

	ck_assert_uint_eq(ldns_pkt_ancount(r), 2);
	for (size_t i = 0; i < 2; i++)
		ck_assert_int_eq(ldns_rr_get_type(ldns_rr_list_rr(an, i)), LDNS_RR_TYPE_A);
	ldns_pkt_free(r);

	r = ask("db.storage.svc.mesh.local.", LDNS_RR_TYPE_ANY);
	ck_assert_uint_eq(ldns_pkt_ancount(r), 1);
	ck_assert_int_eq(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_answer(r), 0)),
			 LDNS_RR_TYPE_AAAA);
	ldns_pkt_free(r);
}
END_TEST

/* A service of @p n endpoints 10.1.x.y. */
static void load_big(unsigned n)
{
	size_t cap = 200 + n * 40, len = 0;
	char *text = malloc(cap);

	len += (size_t)snprintf(text + len, cap - len,
		"{\"services\": [{\"name\": \"big\", \"ports\": [{\"name\": \"http\", \"port\": 80}],"
		" \"endpoints\": [");
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s{\"address\": \"10.1.%u.%u\"}",
					i ? "," : "", i / 250, i % 250 + 1);
	snprintf(text + len, cap - len, "]}]}");
	load(text);
	free(text);
}

START_TEST(test_truncation)
{
	ldns_pkt *r;

	load_big(100);
	/* no EDNS: 512 bytes, TC, nothing partial */
	r = ask_full("big.default.svc.mesh.local.", LDNS_RR_TYPE_A, 0, false, LDNS_RR_CLASS_IN);
	ck_assert(ldns_pkt_tc(r));
	ck_assert_uint_le(out_len, 512);
	ck_assert_uint_eq(ldns_pkt_ancount(r), 0);
	ck_assert_uint_eq(ldns_pkt_qdcount(r), 1);
	ck_assert(info.truncated);
	ldns_pkt_free(r);

	/* EDNS 4096 from the client is capped by our 1232 */
	r = ask_full("big.default.svc.mesh.local.", LDNS_RR_TYPE_A, 4096, false, LDNS_RR_CLASS_IN);
	ck_assert(ldns_pkt_tc(r));
	ck_assert_uint_le(out_len, 1232);
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(r), 1232);
	ldns_pkt_free(r);

	/* TCP: everything */
	r = ask_full("big.default.svc.mesh.local.", LDNS_RR_TYPE_A, 1232, true, LDNS_RR_CLASS_IN);
	ck_assert(!ldns_pkt_tc(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 100);
	ldns_pkt_free(r);

	/* 50 endpoints: A fits in 1232 */
	load_big(50);
	r = ask("big.default.svc.mesh.local.", LDNS_RR_TYPE_A);
	ck_assert(!ldns_pkt_tc(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 50);
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_additional_trimmed)
{
	/* 30 SRV records fit in 1232 bytes, their 30 addresses do not: the
	 * additional section is cut at a record boundary, without TC */
	load_big(30);
	ldns_pkt *r = ask("_http._tcp.big.default.svc.mesh.local.", LDNS_RR_TYPE_SRV);
	size_t ad = ldns_rr_list_rr_count(ldns_pkt_additional(r));

	ck_assert(!ldns_pkt_tc(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 30);
	ck_assert_uint_gt(ad, 0);
	ck_assert_uint_lt(ad, 30);
	ck_assert_uint_le(out_len, 1232);
	ck_assert(ldns_pkt_edns(r));
	ldns_pkt_free(r);

	/* over TCP they all come */
	r = ask_full("_http._tcp.big.default.svc.mesh.local.", LDNS_RR_TYPE_SRV, 0, true,
		     LDNS_RR_CLASS_IN);
	ck_assert_uint_eq(ldns_rr_list_rr_count(ldns_pkt_additional(r)), 30);
	ldns_pkt_free(r);
}
END_TEST

static size_t raw(const uint8_t *pkt, size_t len)
{
	return dns_answer(registry_snapshot(reg), pkt, len, false, out, sizeof(out),
			  &scratch, &info);
}

START_TEST(test_errors)
{
	/* FORMERR keeps the ID */
	static const uint8_t two_q[] = { 0xab, 0xcd, 0x01, 0, 0, 2, 0, 0, 0, 0, 0, 0,
					 1, 'a', 0, 0, 1, 0, 1 };
	ck_assert_uint_eq(raw(two_q, sizeof(two_q)), 12);	/* header only */
	ck_assert_uint_eq(rd16(out), 0xabcd);
	ck_assert_uint_eq(out[3] & 0xf, DNS_RCODE_FORMERR);
	ck_assert(out[2] & 0x80);

	/* too short: dropped */
	ck_assert_uint_eq(raw(two_q, 11), 0);

	/* NOTIFY: NOTIMP */
	uint8_t notify[sizeof(two_q)];
	memcpy(notify, two_q, sizeof(notify));
	notify[2] = 0x20;
	notify[5] = 1;
	ck_assert_uint_gt(raw(notify, sizeof(notify)), 0);
	ck_assert_uint_eq(out[3] & 0xf, DNS_RCODE_NOTIMP);
	ck_assert_uint_eq(out[2] & 0x78, 0x20);	/* opcode echoed */

	/* EDNS version 1: BADVERS = 16, split between header and OPT */
	static const uint8_t v1[] = { 0, 7, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 1,
				      4, 'm', 'e', 's', 'h', 5, 'l', 'o', 'c', 'a', 'l', 0,
				      0, 1, 0, 1,
				      0, 0, 41, 4, 0xd0, 0, 1, 0, 0, 0, 0 };
	ldns_pkt *r = NULL;
	size_t n = raw(v1, sizeof(v1));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(ldns_wire2pkt(&r, out, n), LDNS_STATUS_OK);
	ck_assert_uint_eq(out[3] & 0xf, 0);
	ck_assert_uint_eq(ldns_pkt_edns_extended_rcode(r), 1);
	ck_assert_uint_eq(rd16(out + 10), 1);	/* the OPT RR */
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_garbage)
{
	/* random bytes never crash, never make a reply larger than 512 */
	uint8_t pkt[600];
	unsigned seed = 12345;

	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(pkt));
		for (size_t j = 0; j < len; j++)
			pkt[j] = (uint8_t)rand_r(&seed);
		if (len > 12 && (i & 1)) {
			pkt[2] &= 0x7f;	/* often a query header */
			pkt[4] = 0;
			pkt[5] = 1;
		}
		size_t n = raw(pkt, len);
		ck_assert_uint_le(n, 512);
		if (n)
			ck_assert_uint_eq(rd16(out), rd16(pkt));
	}
}
END_TEST

START_TEST(test_publish_change)
{
	const struct snapshot *before = registry_snapshot(reg);
	uint64_t gen = before->generation;
	struct svc_spec spec = { .name = "new", .namespace = "default" };

	ck_assert_int_eq(registry_set_service(reg, REGISTRY_SOURCE_STATIC, &spec), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	ck_assert_uint_eq(registry_snapshot(reg)->generation, gen + 1);
	ldns_pkt *r = ask("new.default.svc.mesh.local.", LDNS_RR_TYPE_A);
	expect_negative(r, LDNS_RCODE_NOERROR);
	ldns_pkt_free(r);

	ck_assert_int_eq(registry_remove_service(reg, "default", "web"), 0);
	ck_assert_int_eq(registry_remove_service(reg, "default", "web"), MESHDNS_ENOENT);
	ck_assert_int_eq(registry_publish(reg), 0);
	ask_negative("web.default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN);
	/* nothing changed: no new snapshot */
	gen = registry_snapshot(reg)->generation;
	ck_assert_int_eq(registry_publish(reg), 0);
	ck_assert_uint_eq(registry_snapshot(reg)->generation, gen);
}
END_TEST

START_TEST(test_publish_update)
{
	/* the same services, new contents: the copied-and-patched table must
	 * find them, and the namespace, after the old objects are gone */
	struct svc_endpoint ep = { .family = AF_INET, .weight = 100, .ready = true };
	struct svc_spec spec = { .name = "web", .namespace = "default",
				 .endpoints = &ep, .n_endpoints = 1 };
	char want[32];

	for (int round = 1; round <= 3; round++) {
		ep.addr[0] = 10;
		ep.addr[3] = (uint8_t)(100 + round);
		ck_assert_int_eq(registry_set_service(reg, REGISTRY_SOURCE_STATIC, &spec), 0);
		ck_assert_int_eq(registry_publish(reg), 0);
		ldns_pkt *r = ask("web.default.svc.mesh.local.", LDNS_RR_TYPE_A);
		snprintf(want, sizeof(want), "10.0.0.%d", 100 + round);
		ck_assert_uint_eq(ldns_pkt_ancount(r), 1);
		ck_assert(list_has(ldns_pkt_answer(r), LDNS_RR_TYPE_A,
				   "web.default.svc.mesh.local.", want));
		ldns_pkt_free(r);
		ask_negative("default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR);
		ask_negative("empty.default.svc.mesh.local.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR);
	}
	/* health flips go the same way */
	struct ep_health h = { .healthy = false, .probed = true, .load_pct = 100 };
	ck_assert_int_eq(registry_set_health(reg, "default", "web", 0, AF_INET, ep.addr, &h), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	ldns_pkt *r = ask("web.default.svc.mesh.local.", LDNS_RR_TYPE_A);
	expect_negative(r, LDNS_RCODE_NOERROR);
	ldns_pkt_free(r);
}
END_TEST

/* dns_answer() on raw wire, for replies that may be empty (deferred). */
static size_t answer_raw(const char *name, ldns_rr_type type)
{
	ldns_pkt *q = NULL;
	uint8_t *wire = NULL;
	size_t wlen = 0;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt2wire(&wire, q, &wlen), LDNS_STATUS_OK);
	size_t n = dns_answer(registry_snapshot(reg), wire, wlen, false, out, sizeof(out),
			      &scratch, &info);
	LDNS_FREE(wire);
	ldns_pkt_free(q);
	return n;
}

static size_t fake_facts(void *arg, const struct snap_service *svc, uint32_t ep,
			 char *o, size_t len)
{
	return (size_t)snprintf(o, len, "ep=%u", ep);
}

/* A worker thread answers from the snapshot alone and defers the rest. */
START_TEST(test_worker_defer)
{
	scratch.worker = true;
	scratch.forwarding = true;
	/* mesh names, the apex, NXDOMAIN: answered by the worker */
	ck_assert_uint_gt(answer_raw("web.default.svc.mesh.local.", LDNS_RR_TYPE_A), 0);
	ck_assert(!info.defer);
	ck_assert_uint_eq(info.rcode, LDNS_RCODE_NOERROR);
	ck_assert_uint_gt(answer_raw("nope.default.svc.mesh.local.", LDNS_RR_TYPE_A), 0);
	ck_assert(!info.defer);
	ck_assert_uint_eq(info.rcode, LDNS_RCODE_NXDOMAIN);
	/* search-path expansions are answered from the snapshot too */
	ck_assert_uint_gt(answer_raw("web.default.svc.mesh.local.default.svc.mesh.local.",
				     LDNS_RR_TYPE_A), 0);
	ck_assert(!info.defer);
	/* the reverse map, the prober's facts and the forwarder are not the
	 * snapshot's: deferred, nothing written */
	ck_assert_uint_eq(answer_raw("1.0.0.10.in-addr.arpa.", LDNS_RR_TYPE_PTR), 0);
	ck_assert(info.defer);
	ck_assert_uint_eq(answer_raw("_status.web.default.svc.mesh.local.", LDNS_RR_TYPE_TXT), 0);
	ck_assert(info.defer);
	ck_assert_uint_eq(answer_raw("example.org.", LDNS_RR_TYPE_A), 0);
	ck_assert(info.defer && info.forward);
	/* the loop thread answers the same queries itself */
	scratch.worker = false;
	scratch.facts = fake_facts;
	ck_assert_uint_gt(answer_raw("1.0.0.10.in-addr.arpa.", LDNS_RR_TYPE_PTR), 0);
	ck_assert(!info.defer);
	ck_assert_uint_gt(answer_raw("_status.web.default.svc.mesh.local.", LDNS_RR_TYPE_TXT), 0);
	ck_assert(!info.defer);
	ck_assert_uint_eq(answer_raw("example.org.", LDNS_RR_TYPE_A), 0);
	ck_assert(info.forward && !info.defer);
	scratch.facts = NULL;
	scratch.forwarding = false;
}
END_TEST

static struct snapshot *retired_snap;
static void keep_retired(void *arg, struct snapshot *old)
{
	ck_assert_ptr_null(retired_snap);
	retired_snap = old;
}

/* With a retire callback the old snapshot outlives the publish, whole. */
START_TEST(test_retire)
{
	const struct snapshot *before = registry_snapshot(reg);
	struct svc_spec spec = { .name = "web", .namespace = "default" };

	registry_set_retire(reg, keep_retired, NULL);
	ck_assert_int_eq(registry_set_service(reg, REGISTRY_SOURCE_STATIC, &spec), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	ck_assert_ptr_eq(retired_snap, before);
	ck_assert_ptr_ne(registry_snapshot(reg), before);
	/* a reader that still holds the old one gets the old answers */
	uint8_t q[64];
	ldns_pkt *qp = NULL;
	uint8_t *wire = NULL;
	size_t wlen = 0;
	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&qp, "web.default.svc.mesh.local.",
						    LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0),
			 LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt2wire(&wire, qp, &wlen), LDNS_STATUS_OK);
	ck_assert_uint_le(wlen, sizeof(q));
	memcpy(q, wire, wlen);
	size_t n = dns_answer(retired_snap, q, wlen, false, out, sizeof(out), &scratch, &info);
	ldns_pkt *r = NULL;
	ck_assert_int_eq(ldns_wire2pkt(&r, out, n), LDNS_STATUS_OK);
	ck_assert_uint_eq(ldns_pkt_ancount(r), 2);	/* 10.0.0.1, 10.0.0.2 */
	ldns_pkt_free(r);
	/* and the current one the new answer */
	n = dns_answer(registry_snapshot(reg), q, wlen, false, out, sizeof(out), &scratch, &info);
	ck_assert_int_eq(ldns_wire2pkt(&r, out, n), LDNS_STATUS_OK);
	ck_assert_uint_eq(ldns_pkt_ancount(r), 0);
	ldns_pkt_free(r);
	LDNS_FREE(wire);
	ldns_pkt_free(qp);
	snapshot_delete(retired_snap);
	retired_snap = NULL;
	registry_set_retire(reg, NULL, NULL);
}
END_TEST

/* The PTR owner of an address two services share, as they come and go. */
static char *ptr_of(const char *rev)
{
	ldns_pkt *r = ask(rev, LDNS_RR_TYPE_PTR);
	char *t = ldns_pkt_ancount(r) ? rdata(ldns_pkt_answer(r), 0, 0) : strdup("-");
	ldns_pkt_free(r);
	return t;
}

START_TEST(test_ptr_shared_address)
{
	struct svc_endpoint ep = { .family = AF_INET, .weight = 100, .ready = true,
				   .addr = { 10, 0, 0, 1 } };
	struct svc_endpoint eps2[2] = { ep, ep };
	struct svc_spec a = { .name = "web2", .namespace = "default",
			      .endpoints = &ep, .n_endpoints = 1 };
	struct svc_spec b = { .name = "web3", .namespace = "default",
			      .endpoints = eps2, .n_endpoints = 2 };
	const char *rev = "1.0.0.10.in-addr.arpa.";
	char *t;

	eps2[1].addr[3] = 7;
	/* web (from the config) has 10.0.0.1 first; web2 and web3 share it */
	ck_assert_int_eq(registry_set_service(reg, REGISTRY_SOURCE_STATIC, &a), 0);
	ck_assert_int_eq(registry_set_service(reg, REGISTRY_SOURCE_STATIC, &b), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	t = ptr_of(rev);
	ck_assert_str_eq(t, "10-0-0-1.web.default.svc.mesh.local.");
	free(t);
	/* a change to web2 that keeps the address keeps its place in line */
	ep.weight = 50;
	ck_assert_int_eq(registry_set_service(reg, REGISTRY_SOURCE_STATIC, &a), 0);
	/* the first claimant goes: the next one answers */
	ck_assert_int_eq(registry_remove_service(reg, "default", "web"), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	t = ptr_of(rev);
	ck_assert_str_eq(t, "10-0-0-1.web2.default.svc.mesh.local.");
	free(t);
	/* web2 drops the address: web3 has it */
	ep.addr[3] = 9;
	ck_assert_int_eq(registry_set_service(reg, REGISTRY_SOURCE_STATIC, &a), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	t = ptr_of(rev);
	ck_assert_str_eq(t, "10-0-0-1.web3.default.svc.mesh.local.");
	free(t);
	t = ptr_of("9.0.0.10.in-addr.arpa.");
	ck_assert_str_eq(t, "10-0-0-9.web2.default.svc.mesh.local.");
	free(t);
	/* and when nobody has it, no PTR of ours */
	ck_assert_int_eq(registry_remove_service(reg, "default", "web3"), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	ldns_pkt *r = ask(rev, LDNS_RR_TYPE_PTR);
	ck_assert_uint_eq(ldns_pkt_ancount(r), 0);
	ldns_pkt_free(r);
}
END_TEST

Suite *answer_suite(void)
{
	Suite *s = suite_create("dns_answer");
	TCase *tc = tcase_create("answer");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_a);
	tcase_add_test(tc, test_case_echo);
	tcase_add_test(tc, test_hosts);
	tcase_add_test(tc, test_srv_port);
	tcase_add_test(tc, test_srv_service);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_apex);
	tcase_add_test(tc, test_any_minimal);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_additional_trimmed);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_publish_change);
	tcase_add_test(tc, test_publish_update);
	tcase_add_test(tc, test_worker_defer);
	tcase_add_test(tc, test_retire);
	tcase_add_test(tc, test_ptr_shared_address);
	suite_add_tcase(s, tc);
	return s;
}
