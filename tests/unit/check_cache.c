/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The answer cache with a fake clock: responses built with ldns go in,
 * replies come out and are parsed back with ldns: TTL ageing, caps and
 * floors, RFC 2308 negative TTLs, what is not cached, LRU eviction,
 * serve-stale with EDE 3, the client's ID and case, and TC when a cached
 * answer does not fit.
 */
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/cache.h"
#include "suites.h"

static struct cache *c;
static uint8_t qbuf[512], rbuf[4096], out[4096];
static size_t qlen, rlen;
static struct dns_query q;

static void setup_cache(uint32_t max, uint32_t min_ttl, uint32_t max_ttl, uint32_t stale)
{
	struct cache_params p = { .max_entries = max, .min_ttl_s = min_ttl,
				  .max_ttl_s = max_ttl, .neg_max_ttl_s = 900, .stale_s = stale };
	cache_delete(c);
	c = cache_create(&p);
	ck_assert_ptr_nonnull(c);
}

static void teardown(void)
{
	cache_delete(c);
	c = NULL;
}

/* A query for NAME TYPE (EDNS when edns) into qbuf/q. */
static void make_query(const char *name, ldns_rr_type t, bool edns, uint16_t id)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&p, name, t, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	if (edns)
		ldns_pkt_set_edns_udp_size(p, 1232);
	ck_assert_int_eq(ldns_pkt2wire(&w, p, &qlen), LDNS_STATUS_OK);
	memcpy(qbuf, w, qlen);
	free(w);
	ldns_pkt_free(p);
	ck_assert_int_eq(dns_query_parse(&q, qbuf, qlen), DNS_PARSE_OK);
}

/* A response for the current query with these RRs (text) into rbuf. */
static void make_resp(ldns_pkt_rcode rcode, const char *const *an, const char *const *ns,
		      bool opt)
{
	ldns_pkt *p = ldns_pkt_new(), *qp = NULL;
	uint8_t *w = NULL;
	ldns_rr *rr = NULL;

	ck_assert_int_eq(ldns_wire2pkt(&qp, qbuf, qlen), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 999);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION,
			 ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(qp), 0)));
	ldns_pkt_free(qp);
	for (int i = 0; an && an[i]; i++) {
		ck_assert_int_eq(ldns_rr_new_frm_str(&rr, an[i], 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr);
	}
	for (int i = 0; ns && ns[i]; i++) {
		ck_assert_int_eq(ldns_rr_new_frm_str(&rr, ns[i], 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
	}
	if (opt)
		ldns_pkt_set_edns_udp_size(p, 4096);
	ck_assert_int_eq(ldns_pkt2wire(&w, p, &rlen), LDNS_STATUS_OK);
	memcpy(rbuf, w, rlen);
	free(w);
	ldns_pkt_free(p);
}

static ldns_pkt *lookup(uint64_t now_ms, bool stale, size_t limit, bool *was_stale)
{
	ldns_pkt *r = NULL;
	size_t n = cache_lookup(c, &q, now_ms, stale, out, limit, 1232, was_stale);

	if (!n)
		return NULL;
	ck_assert_int_eq(ldns_wire2pkt(&r, out, n), LDNS_STATUS_OK);
	return r;
}

static uint32_t first_ttl(ldns_pkt *r, ldns_pkt_section s)
{
	ldns_rr_list *l = ldns_pkt_get_section_clone(r, s);
	uint32_t t = ldns_rr_ttl(ldns_rr_list_rr(l, 0));

	ldns_rr_list_deep_free(l);
	return t;
}

START_TEST(test_positive)
{
	static const char *const an[] = { "www.example.test. 300 IN A 192.0.2.1",
					   "www.example.test. 200 IN A 192.0.2.2", NULL };
	bool st;

	setup_cache(10, 0, 3600, 0);
	make_query("Www.Example.Test.", LDNS_RR_TYPE_A, true, 7);
	make_resp(LDNS_RCODE_NOERROR, an, NULL, true);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 1000), 0);

	/* another client, another ID and case, 50 s later */
	make_query("WWW.example.TEST.", LDNS_RR_TYPE_A, true, 4321);
	ldns_pkt *r = lookup(51000, false, 1232, &st);
	ck_assert_ptr_nonnull(r);
	ck_assert(!st);
	ck_assert_uint_eq(ldns_pkt_id(r), 4321);
	ck_assert(ldns_pkt_qr(r) && ldns_pkt_ra(r) && !ldns_pkt_aa(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 2);
	ck_assert_uint_eq(first_ttl(r, LDNS_SECTION_ANSWER), 250);
	char *qn = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(r), 0)));
	ck_assert_str_eq(qn, "WWW.example.TEST.");
	free(qn);
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(r), 1232);	/* our OPT, not theirs */
	ldns_pkt_free(r);

	/* the entry lives as long as the smallest TTL: 200 s */
	ck_assert_ptr_null(lookup(201001, false, 1232, &st));
	ck_assert_uint_eq(cache_stats(c)->hits, 1);
	ck_assert_uint_eq(cache_stats(c)->misses, 1);

	/* no EDNS from the client: no OPT in the reply */
	make_query("www.example.test.", LDNS_RR_TYPE_A, false, 1);
	make_resp(LDNS_RCODE_NOERROR, an, NULL, true);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), 0);
	r = lookup(0, false, 512, &st);
	ck_assert(!ldns_pkt_edns(r));
	ldns_pkt_free(r);
	/* other type, other entry */
	make_query("www.example.test.", LDNS_RR_TYPE_AAAA, false, 1);
	ck_assert_ptr_null(lookup(0, false, 512, &st));
}
END_TEST

START_TEST(test_caps)
{
	static const char *const big[] = { "a.test. 86400 IN A 192.0.2.1", NULL };
	static const char *const tiny[] = { "b.test. 2 IN A 192.0.2.2", NULL };
	bool st;

	setup_cache(10, 10, 600, 0);
	make_query("a.test.", LDNS_RR_TYPE_A, false, 1);
	make_resp(LDNS_RCODE_NOERROR, big, NULL, false);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), 0);
	ldns_pkt *r = lookup(599000, false, 512, &st);
	ck_assert_ptr_nonnull(r);
	ldns_pkt_free(r);
	ck_assert_ptr_null(lookup(600000, false, 512, &st));	/* max_ttl 600 */

	make_query("b.test.", LDNS_RR_TYPE_A, false, 1);
	make_resp(LDNS_RCODE_NOERROR, tiny, NULL, false);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), 0);
	r = lookup(5000, false, 512, &st);	/* min_ttl 10 keeps it */
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(first_ttl(r, LDNS_SECTION_ANSWER), 0);	/* never below 0 */
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_negative)
{
	static const char *const soa[] = {
		"test. 300 IN SOA ns.test. h.test. 1 3600 600 86400 60", NULL };
	bool st;

	setup_cache(10, 0, 3600, 0);
	make_query("nope.test.", LDNS_RR_TYPE_A, false, 1);
	make_resp(LDNS_RCODE_NXDOMAIN, NULL, soa, false);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), 0);
	ldns_pkt *r = lookup(10000, false, 512, &st);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NXDOMAIN);
	ck_assert_uint_eq(first_ttl(r, LDNS_SECTION_AUTHORITY), 290);
	ldns_pkt_free(r);
	/* negative TTL = min(SOA TTL 300, minimum 60) */
	ck_assert_ptr_null(lookup(60000, false, 512, &st));

	/* NODATA without SOA: not cached (RFC 2308) */
	make_query("nosoa.test.", LDNS_RR_TYPE_A, false, 1);
	make_resp(LDNS_RCODE_NOERROR, NULL, NULL, false);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), MESHDNS_EINVAL);
	/* SERVFAIL: not cached */
	make_resp(LDNS_RCODE_SERVFAIL, NULL, NULL, false);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), MESHDNS_EINVAL);
	/* a response to another question: refused */
	make_resp(LDNS_RCODE_NOERROR, soa, NULL, false);
	make_query("other.test.", LDNS_RR_TYPE_A, false, 1);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), MESHDNS_EINVAL);
	/* garbage */
	ck_assert_int_eq(cache_insert(c, &q, (const uint8_t *)"garbage", 7, 0), MESHDNS_EINVAL);
	ck_assert_uint_ge(cache_stats(c)->uncacheable, 4);
}
END_TEST

START_TEST(test_lru)
{
	char name[64], rr[128];
	bool st;

	setup_cache(3, 0, 3600, 0);
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "n%d.test.", i);
		snprintf(rr, sizeof(rr), "n%d.test. 100 IN A 192.0.2.%d", i, i + 1);
		const char *an[] = { rr, NULL };
		make_query(name, LDNS_RR_TYPE_A, false, 1);
		make_resp(LDNS_RCODE_NOERROR, an, NULL, false);
		ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), 0);
		if (i == 2) {
			/* touch n0: n1 becomes the least recently used */
			make_query("n0.test.", LDNS_RR_TYPE_A, false, 1);
			ldns_pkt_free(lookup(0, false, 512, &st));
		}
	}
	ck_assert_uint_eq(cache_stats(c)->entries, 3);
	ck_assert_uint_eq(cache_stats(c)->evictions, 1);
	make_query("n1.test.", LDNS_RR_TYPE_A, false, 1);
	ck_assert_ptr_null(lookup(0, false, 512, &st));
	make_query("n0.test.", LDNS_RR_TYPE_A, false, 1);
	ldns_pkt *r = lookup(0, false, 512, &st);
	ck_assert_ptr_nonnull(r);
	ldns_pkt_free(r);
}
END_TEST

START_TEST(test_stale)
{
	static const char *const an[] = { "s.test. 5 IN A 192.0.2.9", NULL };
	bool st;

	setup_cache(10, 0, 3600, 60);
	make_query("s.test.", LDNS_RR_TYPE_A, true, 1);
	make_resp(LDNS_RCODE_NOERROR, an, NULL, false);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), 0);
	/* fresh: a stale-only lookup says no */
	ck_assert_ptr_null(lookup(1000, true, 1232, &st));
	/* expired: a normal lookup misses, a stale one answers with TTL 30, EDE 3 */
	ck_assert_ptr_null(lookup(10000, false, 1232, &st));
	size_t n = cache_lookup(c, &q, 10000, true, out, 1232, 1232, &st);
	ck_assert_uint_gt(n, 0);
	ck_assert(st);
	ldns_pkt *r = NULL;
	ck_assert_int_eq(ldns_wire2pkt(&r, out, n), LDNS_STATUS_OK);
	ck_assert_uint_eq(first_ttl(r, LDNS_SECTION_ANSWER), 30);
	ldns_pkt_free(r);
	/* EDE option 15, info code 3 at the end of the OPT RR */
	ck_assert_mem_eq(out + n - 18, "\x00\x0f\x00\x0e\x00\x03stale answer", 18);
	/* beyond stale_s: gone */
	ck_assert_uint_eq(cache_lookup(c, &q, 66000, true, out, 1232, 1232, &st), 0);
	ck_assert_uint_eq(cache_stats(c)->entries, 0);
}
END_TEST

START_TEST(test_too_big)
{
	const char *an[40];
	char rrs[40][96];
	bool st;

	for (int i = 0; i < 39; i++) {
		snprintf(rrs[i], sizeof(rrs[i]), "big.test. 60 IN AAAA 2001:db8::%x", i + 1);
		an[i] = rrs[i];
	}
	an[39] = NULL;
	setup_cache(10, 0, 3600, 0);
	make_query("big.test.", LDNS_RR_TYPE_AAAA, false, 1);
	make_resp(LDNS_RCODE_NOERROR, an, NULL, false);
	ck_assert_int_eq(cache_insert(c, &q, rbuf, rlen, 0), 0);
	/* 39 x 28 bytes > 512: TC with the question only */
	ldns_pkt *r = lookup(0, false, 512, &st);
	ck_assert(ldns_pkt_tc(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 0);
	ck_assert_uint_eq(ldns_pkt_qdcount(r), 1);
	ldns_pkt_free(r);
	/* over TCP all of it */
	r = lookup(0, false, 65535, &st);
	ck_assert(!ldns_pkt_tc(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 39);
	ldns_pkt_free(r);
}
END_TEST

Suite *cache_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("cache");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_positive);
	tcase_add_test(tc, test_caps);
	tcase_add_test(tc, test_negative);
	tcase_add_test(tc, test_lru);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_too_big);
	suite_add_tcase(s, tc);
	return s;
}
