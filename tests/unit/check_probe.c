/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Probe logic without sockets: rise/fall, X-Mesh-Weight parsing, jittered
 * delays, the RTT average, and how health, load and the panic threshold
 * decide which endpoints a snapshot gives out.
 */
#include <arpa/inet.h>
#include <string.h>

#include "meshdns/probe_sm.h"
#include "meshdns/rrl.h"
#include "meshdns/snapshot.h"
#include "suites.h"

START_TEST(test_rise_fall)
{
	struct probe_sm sm;

	probe_sm_init(&sm, true);
	/* fall = 3: two failures keep it healthy, the third flips it */
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	ck_assert(sm.healthy);
	ck_assert(probe_sm_result(&sm, false, 2, 3));
	ck_assert(!sm.healthy);
	/* more failures: no new transition */
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	/* rise = 2: one pass is not enough, a failure resets the run */
	ck_assert(!probe_sm_result(&sm, true, 2, 3));
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	ck_assert(!probe_sm_result(&sm, true, 2, 3));
	ck_assert(!sm.healthy);
	ck_assert(probe_sm_result(&sm, true, 2, 3));
	ck_assert(sm.healthy);
	/* a pass between failures resets the failure run */
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	ck_assert(!probe_sm_result(&sm, true, 2, 3));
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	ck_assert(!probe_sm_result(&sm, false, 2, 3));
	ck_assert(sm.healthy);
}
END_TEST

START_TEST(test_rise_fall_one)
{
	struct probe_sm sm;

	probe_sm_init(&sm, false);
	ck_assert(probe_sm_result(&sm, true, 1, 1));
	ck_assert(probe_sm_result(&sm, false, 1, 1));
	/* 0 is treated as 1 */
	ck_assert(probe_sm_result(&sm, true, 0, 0));
	/* counters saturate instead of wrapping */
	for (int i = 0; i < 70000; i++)
		probe_sm_result(&sm, true, 1, 1);
	ck_assert_uint_eq(sm.ok_run, UINT16_MAX);
	ck_assert(sm.healthy);
}
END_TEST

static int weight(const char *s, uint8_t *out)
{
	return probe_parse_weight(s, strlen(s), out);
}

START_TEST(test_weight_header)
{
	uint8_t w = 77;

	ck_assert_int_eq(weight("0", &w), 0);
	ck_assert_uint_eq(w, 0);
	ck_assert_int_eq(weight(" 40\r\n", &w), 0);
	ck_assert_uint_eq(w, 40);
	ck_assert_int_eq(weight("100%", &w), 0);
	ck_assert_uint_eq(w, 100);
	ck_assert_int_eq(weight("\t7 ", &w), 0);
	ck_assert_uint_eq(w, 7);
	w = 55;
	static const char *const bad[] = {
		"", " ", "101", "-1", "abc", "4 0", "1000", "0x10", "50.5", "%",
		"99999999999999999999", "drain", "+5",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(weight(bad[i], &w) == MESHDNS_EINVAL,
			      "probe_parse_weight accepted '%s'", bad[i]);
	ck_assert_uint_eq(w, 55);	/* untouched on error */
	/* not NUL-terminated: only len counts */
	ck_assert_int_eq(probe_parse_weight("12345", 2, &w), 0);
	ck_assert_uint_eq(w, 12);
}
END_TEST

START_TEST(test_jitter)
{
	/* never longer than the interval, never shorter than the jitter allows */
	for (uint32_t r = 0; r < 100000; r += 7) {
		uint32_t d = probe_next_delay_ms(2000, 10, r * 2654435761u);
		ck_assert_uint_le(d, 2000);
		ck_assert_uint_ge(d, 1800);
	}
	ck_assert_uint_eq(probe_next_delay_ms(2000, 0, 12345), 2000);
	ck_assert_uint_eq(probe_next_delay_ms(1000, 10, 0), 1000);
	ck_assert_uint_eq(probe_next_delay_ms(1000, 10, 100), 900);
	/* the spread is used: not all equal */
	ck_assert_uint_ne(probe_next_delay_ms(1000, 10, 1), probe_next_delay_ms(1000, 10, 2));
}
END_TEST

START_TEST(test_ewma)
{
	double a = probe_rtt_ewma(123, 8, true);

	ck_assert(a == 8);
	a = probe_rtt_ewma(a, 16, false);
	ck_assert(a == 10);
	for (int i = 0; i < 100; i++)
		a = probe_rtt_ewma(a, 2, false);
	ck_assert(a > 1.99 && a < 2.01);
}
END_TEST

/* ---------------------------------------------------- answer eligibility */

static struct svc_endpoint eps[4];
static struct ep_health health[4];
static struct svc_spec spec;

static void setup(void)
{
	memset(eps, 0, sizeof(eps));
	for (int i = 0; i < 4; i++) {
		eps[i].family = AF_INET;
		eps[i].addr[0] = 10;
		eps[i].addr[3] = (uint8_t)(i + 1);
		eps[i].weight = 100;
		eps[i].ready = true;
		health[i] = (struct ep_health){ .healthy = true, .load_pct = 100 };
	}
	memset(&spec, 0, sizeof(spec));
	spec.name = "web";
	spec.namespace = "default";
	spec.endpoints = eps;
	spec.n_endpoints = 4;
}

static unsigned eligible_mask(void)
{
	struct snap_service *s = snap_service_create(&spec, health, NULL, NULL);
	unsigned m = 0;

	ck_assert_ptr_nonnull(s);
	for (uint32_t i = 0; i < s->n_eps; i++)
		if (s->eps[i].flags & SNAP_EP_ELIGIBLE)
			m |= 1u << i;
	snap_service_unref(s);
	return m;
}

START_TEST(test_eligible_healthy_only)
{
	ck_assert_uint_eq(eligible_mask(), 0xf);
	health[1].healthy = false;
	health[3].healthy = false;
	ck_assert_uint_eq(eligible_mask(), 0x5);
	/* not ready at the source: never, whatever the probe says */
	eps[0].ready = false;
	ck_assert_uint_eq(eligible_mask(), 0x4);
}
END_TEST

START_TEST(test_eligible_none_healthy)
{
	for (int i = 0; i < 4; i++)
		health[i].healthy = false;
	/* panic off: an empty answer */
	ck_assert_uint_eq(eligible_mask(), 0);
}
END_TEST

START_TEST(test_drain)
{
	health[0].load_pct = 0;
	health[2].load_pct = 0;
	ck_assert_uint_eq(eligible_mask(), 0xa);
	/* a base weight of 0 drains as well */
	eps[1].weight = 0;
	ck_assert_uint_eq(eligible_mask(), 0x8);
	/* only draining ones left healthy: they are given out */
	health[3].healthy = false;
	ck_assert_uint_eq(eligible_mask(), 0x7);
	struct snap_service *s = snap_service_create(&spec, health, NULL, NULL);
	ck_assert(s->eps[0].flags & SNAP_EP_DRAINING);
	ck_assert_uint_eq(s->eps[3].effective, 100);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_load_scales_weight)
{
	health[0].load_pct = 40;
	eps[0].weight = 250;
	struct snap_service *s = snap_service_create(&spec, health, NULL, NULL);
	ck_assert_uint_eq(s->eps[0].effective, 100);
	ck_assert_uint_eq(s->eps[0].load_pct, 40);
	snap_service_unref(s);
}
END_TEST

START_TEST(test_panic)
{
	spec.panic_threshold_pct = 50;
	health[0].healthy = false;
	health[1].healthy = false;
	/* 2 of 4 healthy = 50%: not below the threshold */
	ck_assert_uint_eq(eligible_mask(), 0xc);
	health[2].healthy = false;
	/* 25% < 50%: every ready endpoint */
	ck_assert_uint_eq(eligible_mask(), 0xf);
	struct snap_service *s = snap_service_create(&spec, health, NULL, NULL);
	ck_assert(s->panic);
	ck_assert_uint_eq(s->n_healthy, 1);
	snap_service_unref(s);
	/* panic still leaves out what the source says is not ready */
	eps[1].ready = false;
	ck_assert_uint_eq(eligible_mask(), 0xd);
	/* all down with panic on: all ready ones */
	health[3].healthy = false;
	ck_assert_uint_eq(eligible_mask(), 0xd);
}
END_TEST

START_TEST(test_rrl)
{
	static struct rrl r;
	struct sockaddr_storage a, b, lo;
	struct sockaddr_in *sa = (struct sockaddr_in *)&a, *sb = (struct sockaddr_in *)&b;
	unsigned sent = 0, slipped = 0, dropped = 0;

	memset(&a, 0, sizeof(a));
	sa->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.10", &sa->sin_addr);
	b = a;
	inet_pton(AF_INET, "192.0.2.99", &sb->sin_addr);	/* same /24 */
	lo = a;
	inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&lo)->sin_addr);
	rrl_init(&r, 10, 2, 24, 56, true);
	/* 100 responses in one instant: a burst of 10, then half slip */
	for (int i = 0; i < 100; i++) {
		enum rrl_verdict v = rrl_check(&r, i % 2 ? &a : &b, 1000);
		sent += v == RRL_SEND;
		slipped += v == RRL_SLIP;
		dropped += v == RRL_DROP;
	}
	ck_assert_uint_eq(sent, 10);
	ck_assert_uint_eq(slipped, 45);
	ck_assert_uint_eq(dropped, 45);
	ck_assert_uint_eq(r.limited, 90);
	/* half a second later: 5 more tokens */
	sent = 0;
	for (int i = 0; i < 20; i++)
		sent += rrl_check(&r, &a, 1500) == RRL_SEND;
	ck_assert_uint_eq(sent, 5);
	/* another prefix has its own bucket; loopback is exempt */
	sa->sin_addr.s_addr ^= htonl(0x100);
	ck_assert_int_eq(rrl_check(&r, &a, 1500), RRL_SEND);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(rrl_check(&r, &lo, 1500), RRL_SEND);
	/* rate 0: off */
	rrl_init(&r, 0, 2, 24, 56, false);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(rrl_check(&r, &b, 1000), RRL_SEND);
}
END_TEST

Suite *probe_suite(void)
{
	Suite *s = suite_create("probe");
	TCase *tc = tcase_create("state");
	TCase *te = tcase_create("eligible");

	tcase_add_test(tc, test_rise_fall);
	tcase_add_test(tc, test_rise_fall_one);
	tcase_add_test(tc, test_weight_header);
	tcase_add_test(tc, test_jitter);
	tcase_add_test(tc, test_ewma);
	tcase_add_test(tc, test_rrl);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(te, setup, NULL);
	tcase_add_test(te, test_eligible_healthy_only);
	tcase_add_test(te, test_eligible_none_healthy);
	tcase_add_test(te, test_drain);
	tcase_add_test(te, test_load_scales_weight);
	tcase_add_test(te, test_panic);
	suite_add_tcase(s, te);
	return s;
}
