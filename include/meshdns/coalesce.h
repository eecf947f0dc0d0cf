/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * UDP coalescing: when to nap after a wakeup that found a partial batch,
 * so that the next read finds several queries instead of one.
 *
 * Under moderate load (queries tens of microseconds apart) the wakeup
 * costs a server more than the query it brings: the scheduler, the
 * interrupt, and on a VM the exits behind them. A nap costs about as much
 * as a wakeup, so it pays only when it gathers several queries, and it
 * makes each of them wait up to its length. The operator grants a latency
 * budget (udp_coalesce_us); within it, this controller naps only
 *  - when the arrival rate of the last window promises at least
 *    COALESCE_MIN_QUERIES during the nap (at low rates: never), and
 *  - when napping measurably costs less CPU per query than not: it
 *    measures the thread's CPU time per query in each mode, window by
 *    window, keeps the cheaper mode and now and then tries the other
 *    again (more rarely while it keeps losing), and
 *  - when the naps bring new queries, not only the next ones of clients
 *    that keep a few queries in flight and wait for each answer: those
 *    send again what was answered before the nap, and naps would only
 *    slow them down. An open load (many independent clients) brings
 *    more.
 * A nap lasts the budget, or the time a full batch takes to arrive at the
 * current rate if that is shorter. A nap that brings almost nothing turns
 * naps off for the rest of the window.
 *
 * Pure logic: time and CPU time are passed in. One per thread.
 */
#ifndef MESHDNS_COALESCE_H
#define MESHDNS_COALESCE_H

#include <stdbool.h>
#include <stdint.h>

#define COALESCE_WINDOW_NS	(50 * 1000000ull)	/* one measurement */
#define COALESCE_MIN_QUERIES	4	/* a nap must promise this many */
#define COALESCE_MIN_SAMPLE	200	/* queries for a window's cost to count */
#define COALESCE_PROBE_MIN	4	/* windows between tries of the other mode */
#define COALESCE_PROBE_MAX	64

struct coalesce {
	uint64_t win_start_ns;		/* the current window began */
	uint64_t win_cpu_ns;		/* the thread's CPU time then */
	uint32_t win_queries;		/* read in it so far */
	uint32_t rate_qps;		/* the last window's arrival rate */
	uint32_t nap_before;		/* queries answered before this window's naps */
	uint32_t nap_after;		/* and read after them */
	uint32_t cost_ns[2];		/* CPU ns per query without/with naps; 0: unknown */
	bool napping;			/* the current window's mode */
	bool probing;			/* it is a try of the other mode */
	bool off;			/* a nap brought too little: none until the window ends */
	uint32_t since_probe;		/* windows since the last try */
	uint32_t probe_every;		/* windows between tries */
};

/** Start; the first window only measures the rate (the thread's CPU time
 * is not known yet). */
void coalesce_init(struct coalesce *c, uint64_t now_ns);

/** Count @p n queries read. */
static inline void coalesce_count(struct coalesce *c, unsigned n)
{
	c->win_queries += n;
}

/** Has the current window ended at @p now_ns? */
static inline bool coalesce_window_due(const struct coalesce *c, uint64_t now_ns)
{
	return now_ns - c->win_start_ns >= COALESCE_WINDOW_NS;
}

/**
 * End the window at @p now_ns, the thread having used @p cpu_ns of CPU
 * time in all so far, and choose the next window's mode for a budget of
 * @p budget_us.
 */
void coalesce_window_end(struct coalesce *c, uint64_t now_ns, uint64_t cpu_ns,
			 uint32_t budget_us);

/**
 * After a partial batch: how long to nap before reading again, within
 * @p budget_us, where a full read is @p batch queries (0: do not nap,
 * wait for the socket).
 */
uint32_t coalesce_nap_us(const struct coalesce *c, uint32_t budget_us, unsigned batch);

/** The reads after a nap found @p got queries; @p before were read in
 * the same wakeup before it. */
void coalesce_nap_done(struct coalesce *c, unsigned before, unsigned got);

#endif
