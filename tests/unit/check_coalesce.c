/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The UDP coalescing controller, fed with simulated windows: an arrival
 * rate, a CPU cost per query in each mode, and what the naps bring.
 */
#include "meshdns/coalesce.h"
#include "suites.h"

#define BATCH 32

/* One simulated load: the server's cost per query without and with naps,
 * and per nap the queries read before it and after it. */
struct load {
	uint32_t rate_qps;
	uint32_t cost_off_ns, cost_on_ns;
	unsigned before, after;
};

struct sim {
	struct coalesce c;
	uint64_t now, cpu;
	unsigned nap_windows;	/* windows that napped */
	unsigned naps;
};

static void sim_init(struct sim *s)
{
	*s = (struct sim){ .now = 1000000000ull };
	coalesce_init(&s->c, s->now);
}

/* Run @p windows windows of @p l with budget @p budget_us. */
static void run(struct sim *s, const struct load *l, uint32_t budget_us, unsigned windows)
{
	for (unsigned w = 0; w < windows; w++) {
		uint64_t n = (uint64_t)l->rate_qps * COALESCE_WINDOW_NS / 1000000000u;
		bool napped = false;
		/* a partial batch now and then asks whether to nap */
		for (uint64_t got = 0; got < n; got += l->before + l->after) {
			coalesce_count(&s->c, l->before);
			if (coalesce_nap_us(&s->c, budget_us, BATCH)) {
				napped = true;
				s->naps++;
				coalesce_nap_done(&s->c, l->before, l->after);
			}
			coalesce_count(&s->c, l->after);
		}
		s->nap_windows += napped;
		s->cpu += n * (napped ? l->cost_on_ns : l->cost_off_ns);
		s->now += COALESCE_WINDOW_NS;
		coalesce_window_end(&s->c, s->now, s->cpu, budget_us);
	}
}

/* Windows that napped out of @p windows, after 20 of learning the load. */
static unsigned settled(struct sim *s, const struct load *l, unsigned windows)
{
	sim_init(s);
	run(s, l, 300, 20);
	s->nap_windows = 0;
	run(s, l, 300, windows);
	return s->nap_windows;
}

/* Open load at 20k qps where naps save a third: they win, and the other
 * mode is tried again only now and then. */
START_TEST(test_open_load_naps)
{
	struct sim s;
	const struct load l = { 20000, 12000, 8000, 3, 6 };
	unsigned n = settled(&s, &l, 200);

	ck_assert_uint_ge(n, 190);
	ck_assert_uint_lt(n, 200);	/* the other mode is tried */
	ck_assert(s.c.napping);
	ck_assert_uint_eq(s.c.probe_every, COALESCE_PROBE_MAX);
	/* a nap: the budget, as a full batch takes 1.6 ms at this rate */
	ck_assert_uint_eq(coalesce_nap_us(&s.c, 300, BATCH), 300);
}
END_TEST

/* Naps that cost more CPU lose (tries back off to the slowest pace); so do
 * naps that save under a tenth (not worth the latency), and naps for
 * clients that wait for each answer, which bring back only what was
 * answered, even if they look cheaper. */
START_TEST(test_naps_lose)
{
	static const struct load loads[] = {
		{ 20000, 8000, 9000, 3, 6 },	/* costlier */
		{ 20000, 10000, 9500, 3, 6 },	/* 5% cheaper */
		{ 30000, 9000, 6000, 8, 8 },	/* closed loop */
	};
	struct sim s;

	for (size_t i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
		ck_assert_uint_le(settled(&s, &loads[i], 200), 200 / COALESCE_PROBE_MAX + 1);
		ck_assert(!s.c.napping || s.c.probing);
		ck_assert_uint_eq(s.c.probe_every, COALESCE_PROBE_MAX);
	}
}
END_TEST

/* One window where naps brought back only what was answered (a sender
 * that stalled) is a verdict for that window, not for good: naps win
 * again once they gather. */
START_TEST(test_closed_verdict_recovers)
{
	struct sim s;
	const struct load open = { 20000, 12000, 8000, 3, 6 };
	const struct load stalled = { 20000, 12000, 8000, 8, 6 };

	sim_init(&s);
	run(&s, &open, 300, 20);
	ck_assert(s.c.napping);
	run(&s, &stalled, 300, 1);
	ck_assert(!s.c.napping);
	run(&s, &open, 300, 2 * COALESCE_PROBE_MIN + 2);
	s.nap_windows = 0;
	run(&s, &open, 300, 20);
	ck_assert_uint_ge(s.nap_windows, 18);
}
END_TEST

/* Below COALESCE_MIN_QUERIES per budget: never, and nothing is tried. */
START_TEST(test_low_rate_never)
{
	struct sim s;
	const struct load l = { 10000, 20000, 1000, 1, 6 };

	sim_init(&s);
	run(&s, &l, 300, 200);	/* 3 queries per 300 us */
	ck_assert_uint_eq(s.naps, 0);
	run(&s, &l, 0, 50);	/* budget 0: off */
	ck_assert_uint_eq(s.naps, 0);
	run(&s, &l, 1000, 20);	/* 10 per 1000 us: worth a try */
	ck_assert_uint_gt(s.naps, 0);
}
END_TEST

/* A nap that brings almost nothing stops naps until the window ends; the
 * nap is as long as a full batch takes to arrive when that is shorter. */
START_TEST(test_bad_nap_and_length)
{
	struct sim s;
	const struct load l = { 200000, 5000, 2000, 3, 20 };

	sim_init(&s);
	run(&s, &l, 300, 20);
	ck_assert(s.c.napping);
	ck_assert_uint_eq(coalesce_nap_us(&s.c, 300, BATCH), BATCH * 1000000u / s.c.rate_qps);
	ck_assert_uint_lt(BATCH * 1000000u / s.c.rate_qps, 300);
	for (int i = 0; i < 10; i++)
		coalesce_nap_done(&s.c, 3, 20);
	ck_assert_uint_gt(coalesce_nap_us(&s.c, 300, BATCH), 0);
	coalesce_nap_done(&s.c, 5, 1);
	ck_assert_uint_eq(coalesce_nap_us(&s.c, 300, BATCH), 0);
	s.now += COALESCE_WINDOW_NS;
	s.cpu += 10000 * 2000;
	coalesce_count(&s.c, 10000);
	coalesce_window_end(&s.c, s.now, s.cpu, 300);
	ck_assert_uint_gt(coalesce_nap_us(&s.c, 300, BATCH), 0);
}
END_TEST

/* The first window measures the rate only: the CPU time before it (start-up)
 * must not count as a cost. */
START_TEST(test_first_window_not_costed)
{
	struct coalesce c;

	coalesce_init(&c, 0);
	coalesce_count(&c, 1000);
	coalesce_window_end(&c, COALESCE_WINDOW_NS, 5000000000ull, 300);
	ck_assert_uint_eq(c.cost_ns[0], 0);
	ck_assert_uint_eq(c.rate_qps, 20000);
}
END_TEST

Suite *coalesce_suite(void)
{
	Suite *s = suite_create("coalesce");
	TCase *tc = tcase_create("controller");

	tcase_add_test(tc, test_open_load_naps);
	tcase_add_test(tc, test_naps_lose);
	tcase_add_test(tc, test_closed_verdict_recovers);
	tcase_add_test(tc, test_low_rate_never);
	tcase_add_test(tc, test_bad_nap_and_length);
	tcase_add_test(tc, test_first_window_not_costed);
	suite_add_tcase(s, tc);
	return s;
}
