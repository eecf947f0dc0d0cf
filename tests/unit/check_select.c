/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The selector as a pure function: exact output against a naive reference
 * implementation of Efraimidis-Spirakis fed the same random stream, the
 * distribution of first and second positions, zones, limits, draining,
 * slow start, SRV priorities and weights, and large inputs.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/select.h"
#include "meshdns/snapshot.h"
#include "suites.h"

#define MAX_EPS 10000

static struct svc_endpoint eps[MAX_EPS];
static struct ep_health health[MAX_EPS];
static struct svc_spec spec;
static struct sel_scratch sc;
static uint32_t out[SELECT_MAX];

static void setup(void)
{
	memset(eps, 0, sizeof(eps));
	memset(&spec, 0, sizeof(spec));
	spec.name = "web";
	spec.namespace = "default";
	spec.endpoints = eps;
}

/* n IPv4 endpoints 10.0.x.y with the given weights (NULL: 100 each). */
static void make(size_t n, const uint32_t *w)
{
	for (size_t i = 0; i < n; i++) {
		eps[i].family = AF_INET;
		eps[i].addr[0] = 10;
		eps[i].addr[2] = (uint8_t)(i >> 8);
		eps[i].addr[3] = (uint8_t)i;
		eps[i].weight = w ? w[i] : 100;
		eps[i].ready = true;
		eps[i].zone = NULL;
		health[i] = (struct ep_health){ .healthy = true, .load_pct = 100 };
	}
	spec.n_endpoints = n;
}

static struct snap_service *build(const char *zone)
{
	struct snap_policy pol = { .node_zone = zone, .zone_preference = true,
				   .zone_min_share_pct = 30 };
	struct snap_service *s = snap_service_create(&spec, health, NULL, &pol);

	ck_assert_ptr_nonnull(s);
	return s;
}

static int cmp_key(const void *a, const void *b)
{
	const double *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Naive reference: one key per candidate in endpoint order, full sort. */
static size_t reference(const struct snap_service *s, uint64_t seed, size_t k,
			uint32_t *ref)
{
	struct sel_rng r;
	double (*pairs)[2] = calloc(s->n_eps, sizeof(*pairs));
	size_t n = 0;

	sel_rng_seed(&r, seed);
	for (uint32_t i = 0; i < s->n_eps; i++) {
		if (!(s->eps[i].flags & SNAP_EP_ELIGIBLE))
			continue;
		double u = (double)((sel_rng_next(&r) >> 11) + 1) * 0x1.0p-53;
		pairs[n][0] = -log(u) / s->eps[i].effective;
		pairs[n][1] = i;
		n++;
	}
	qsort(pairs, n, sizeof(*pairs), cmp_key);
	if (k && k < n)
		n = k;
	for (size_t i = 0; i < n; i++)
		ref[i] = (uint32_t)pairs[i][1];
	free(pairs);
	return n;
}

START_TEST(test_exact_against_reference)
{
	static const uint32_t w[] = { 10, 30, 60, 1, 500, 77, 100, 2 };
	uint32_t ref[16];

	make(8, w);
	struct snap_service *s = build(NULL);
	for (uint64_t seed = 1; seed < 200; seed++) {
		for (size_t k = 0; k <= 8; k += 3) {
			struct sel_rng r;
			sel_rng_seed(&r, seed);
			size_t n = select_addresses(s, AF_INET, 0, k, &r, &sc, out);
			size_t m = reference(s, seed, k, ref);
			ck_assert_uint_eq(n, m);
			for (size_t i = 0; i < n; i++)
				ck_assert_msg(out[i] == ref[i],
					      "select_addresses seed %llu k %zu pos %zu: %u != %u",
					      (unsigned long long)seed, k, i, out[i], ref[i]);
		}
	}
	snap_service_unref(s);
}
END_TEST

START_TEST(test_one_endpoint)
{
	make(1, NULL);
	struct snap_service *s = build(NULL);
	struct sel_rng r;

	sel_rng_seed(&r, 7);
	ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 1);
	ck_assert_uint_eq(out[0], 0);
	/* no AAAA candidates */
	ck_assert_uint_eq(select_addresses(s, AF_INET6, 0, 0, &r, &sc, out), 0);
	snap_service_unref(s);
}
END_TEST

/* Chi-square of counts against expected shares, k - 1 degrees of freedom. */
static double chi2(const unsigned *count, const double *share, size_t k, unsigned total)
{
	double x = 0;

	for (size_t i = 0; i < k; i++) {
		double e = share[i] * total;
		x += (count[i] - e) * (count[i] - e) / e;
	}
	return x;
}

START_TEST(test_first_position_follows_weights)
{
	static const uint32_t w[] = { 10, 30, 60 };
	static const double share[] = { 0.1, 0.3, 0.6 };
	unsigned first[3] = { 0 }, second_after0[3] = { 0 }, n_after0 = 0;
	struct sel_rng r;

	make(3, w);
	struct snap_service *s = build(NULL);
	sel_rng_seed(&r, 2026);
	for (unsigned i = 0; i < 100000; i++) {
		ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 3);
		first[out[0]]++;
		if (out[0] == 0) {
			second_after0[out[1]]++;
			n_after0++;
		}
	}
	/* 2 degrees of freedom, p = 0.001: 13.82 */
	ck_assert_msg(chi2(first, share, 3, 100000) < 13.82,
		      "first positions %u %u %u", first[0], first[1], first[2]);
	/* without replacement: after 0, 1 and 2 share 30:60 */
	static const double cond[] = { 1.0 / 3, 2.0 / 3 };
	unsigned c2[2] = { second_after0[1], second_after0[2] };
	ck_assert_uint_eq(second_after0[0], 0);
	ck_assert_msg(chi2(c2, cond, 2, n_after0) < 10.83, "second positions %u %u", c2[0], c2[1]);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_limit)
{
	make(50, NULL);
	struct snap_service *s = build(NULL);
	struct sel_rng r;
	unsigned hit[50] = { 0 };

	sel_rng_seed(&r, 3);
	for (int i = 0; i < 5000; i++) {
		ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 1, &r, &sc, out), 1);
		hit[out[0]]++;
	}
	/* equal weights: everyone gets picked first sometimes */
	for (int i = 0; i < 50; i++)
		ck_assert_uint_gt(hit[i], 40);
	/* k larger than n: all, each once */
	ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 80, &r, &sc, out), 50);
	unsigned seen[50] = { 0 };
	for (int i = 0; i < 50; i++)
		seen[out[i]]++;
	for (int i = 0; i < 50; i++)
		ck_assert_uint_eq(seen[i], 1);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_draining)
{
	static const uint32_t w[] = { 100, 0, 100 };
	struct sel_rng r;

	make(3, w);
	struct snap_service *s = build(NULL);
	sel_rng_seed(&r, 5);
	for (int i = 0; i < 200; i++) {
		size_t n = select_addresses(s, AF_INET, 0, 0, &r, &sc, out);
		ck_assert_uint_eq(n, 2);
		ck_assert(out[0] != 1 && out[1] != 1);
	}
	snap_service_unref(s);

	/* all draining: they are given out, evenly */
	static const uint32_t z[] = { 0, 0, 0 };
	unsigned first[3] = { 0 };
	make(3, z);
	s = build(NULL);
	for (int i = 0; i < 3000; i++) {
		ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 3);
		first[out[0]]++;
	}
	for (int i = 0; i < 3; i++)
		ck_assert_uint_gt(first[i], 800);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_zones)
{
	struct sel_rng r;

	make(4, NULL);
	eps[0].zone = "a";
	eps[1].zone = "a";
	eps[2].zone = "b";
	eps[3].zone = "b";
	struct snap_service *s = build("a");
	ck_assert(s->use_local4);
	sel_rng_seed(&r, 9);
	for (int i = 0; i < 100; i++) {
		ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 2);
		ck_assert_uint_lt(out[0], 2);
		ck_assert_uint_lt(out[1], 2);
	}
	snap_service_unref(s);

	/* the local share falls below 30%: all zones */
	eps[0].weight = 10;
	eps[1].weight = 10;
	s = build("a");
	ck_assert(!s->use_local4);
	ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 4);
	snap_service_unref(s);

	/* local endpoints unhealthy: all zones */
	eps[0].weight = eps[1].weight = 100;
	health[0].healthy = health[1].healthy = false;
	s = build("a");
	ck_assert(!s->use_local4);
	ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 2);
	snap_service_unref(s);

	/* everything in another zone */
	health[0].healthy = health[1].healthy = true;
	s = build("c");
	ck_assert(!s->use_local4);
	ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 4);
	snap_service_unref(s);

	/* hints: an endpoint in zone b hinted for zone c counts as local
	 * there; with weight 300 of 600 it holds 50% >= 30% */
	char *hint[] = { "c" };
	eps[2].for_zones = hint;
	eps[2].n_for_zones = 1;
	eps[2].weight = 300;
	s = build("c");
	ck_assert(s->use_local4);
	ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 0, &r, &sc, out), 1);
	ck_assert_uint_eq(out[0], 2);
	snap_service_unref(s);
	eps[2].for_zones = NULL;
	eps[2].n_for_zones = 0;
}
END_TEST

START_TEST(test_slow_start)
{
	static const uint32_t w[] = { 100, 100 };
	make(2, w);
	spec.slow_start_s = 10;
	health[1].healthy_since_ms = 50000;	/* became healthy at 50 s */
	struct snap_service *s = build(NULL);

	ck_assert_uint_eq(select_weight(s, &s->eps[0], 55000), 100);	/* no ramp */
	ck_assert_uint_eq(select_weight(s, &s->eps[1], 50000), 10);	/* starts at 10% */
	ck_assert_uint_eq(select_weight(s, &s->eps[1], 55000), 55);	/* halfway */
	ck_assert_uint_eq(select_weight(s, &s->eps[1], 60000), 100);	/* done */
	ck_assert_uint_eq(select_weight(s, &s->eps[1], 90000), 100);

	/* at 10% the fresh one is first about 10/110 of the time */
	struct sel_rng r;
	unsigned fresh = 0;
	sel_rng_seed(&r, 11);
	for (int i = 0; i < 20000; i++) {
		select_addresses(s, AF_INET, 50000, 1, &r, &sc, out);
		fresh += out[0] == 1;
	}
	ck_assert_msg(fresh > 1500 && fresh < 2150, "fresh first %u of 20000", fresh);
	snap_service_unref(s);
	spec.slow_start_s = 0;
}
END_TEST

START_TEST(test_srv)
{
	static const uint32_t w[] = { 100, 50, 300, 0 };
	uint16_t prio[SELECT_MAX], weight[SELECT_MAX];
	struct sel_rng r;

	make(4, w);
	eps[0].zone = "a";
	eps[1].zone = "b";
	eps[2].zone = "a";
	eps[3].zone = "b";
	struct snap_service *s = build("a");
	sel_rng_seed(&r, 13);
	size_t n = select_srv(s, 0, &r, &sc, out, prio, weight);
	ck_assert_uint_eq(n, 3);	/* the draining one is not eligible */
	/* local zone first with priority 0, then the others with 10 */
	ck_assert_uint_eq(prio[0], 0);
	ck_assert_uint_eq(prio[1], 0);
	ck_assert_uint_eq(prio[2], 10);
	ck_assert_uint_eq(out[2], 1);
	for (size_t i = 0; i < n; i++) {
		uint32_t ep = (uint32_t)s->targets[out[i]].ep4;
		/* scaled: the heaviest (300) is 65535, ratios kept */
		ck_assert_uint_eq(weight[i], (uint32_t)((uint64_t)w[ep] * 65535 / 300));
	}
	snap_service_unref(s);

	/* no zone known: one priority class */
	s = build(NULL);
	n = select_srv(s, 0, &r, &sc, out, prio, weight);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(prio[i], 0);
	snap_service_unref(s);

	/* only draining left: weight 0 */
	static const uint32_t z[] = { 0, 0, 0, 0 };
	make(4, z);
	s = build(NULL);
	n = select_srv(s, 0, &r, &sc, out, prio, weight);
	ck_assert_uint_eq(n, 4);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(weight[i], 0);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_srv_tiny_weight)
{
	/* a weight tiny next to the heaviest still gets 1, not 0 */
	static const uint32_t w[] = { 10000, 1 };
	uint16_t prio[SELECT_MAX], weight[SELECT_MAX];
	struct sel_rng r;

	make(2, w);
	struct snap_service *s = build(NULL);
	sel_rng_seed(&r, 1);
	ck_assert_uint_eq(select_srv(s, 0, &r, &sc, out, prio, weight), 2);
	for (int i = 0; i < 2; i++)
		ck_assert_uint_eq(weight[i], s->targets[out[i]].ep4 == 0 ? 65535 : 6);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_large)
{
	struct sel_rng r;
	uint32_t w[MAX_EPS];

	/* 10,000 endpoints at the largest weight: sums far past 32 bits */
	for (int i = 0; i < MAX_EPS; i++)
		w[i] = SVC_MAX_WEIGHT;
	make(MAX_EPS, w);
	struct snap_service *s = build(NULL);
	sel_rng_seed(&r, 17);
	ck_assert_uint_eq(select_addresses(s, AF_INET, 0, 1, &r, &sc, out), 1);
	ck_assert_uint_lt(out[0], MAX_EPS);
	/* all of them: capped at SELECT_MAX, no duplicates */
	size_t n = select_addresses(s, AF_INET, 0, 0, &r, &sc, out);
	ck_assert_uint_eq(n, SELECT_MAX);
	static unsigned char seen[MAX_EPS];
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(seen[out[i]], 0);
		seen[out[i]] = 1;
	}
	snap_service_unref(s);
}
END_TEST

START_TEST(test_rng)
{
	struct sel_rng a, b;

	sel_rng_seed(&a, 99);
	sel_rng_seed(&b, 99);
	for (int i = 0; i < 100; i++)
		ck_assert_uint_eq(sel_rng_next(&a), sel_rng_next(&b));
	sel_rng_seed(&b, 100);
	ck_assert_uint_ne(sel_rng_next(&a), sel_rng_next(&b));
	/* bits are balanced */
	unsigned ones = 0;
	for (int i = 0; i < 1000; i++)
		ones += (unsigned)__builtin_popcountll(sel_rng_next(&a));
	ck_assert(ones > 31000 && ones < 33000);
}
END_TEST

Suite *select_suite(void)
{
	Suite *s = suite_create("select");
	TCase *tc = tcase_create("select");

	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_exact_against_reference);
	tcase_add_test(tc, test_one_endpoint);
	tcase_add_test(tc, test_first_position_follows_weights);
	tcase_add_test(tc, test_limit);
	tcase_add_test(tc, test_draining);
	tcase_add_test(tc, test_zones);
	tcase_add_test(tc, test_slow_start);
	tcase_add_test(tc, test_srv);
	tcase_add_test(tc, test_srv_tiny_weight);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_rng);
	suite_add_tcase(s, tc);
	return s;
}
