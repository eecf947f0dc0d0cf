/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The UDP coalescing controller (see coalesce.h).
 */
#include "config.h"

#include "meshdns/coalesce.h"

void coalesce_init(struct coalesce *c, uint64_t now_ns)
{
	*c = (struct coalesce){
		.win_start_ns = now_ns, .win_cpu_ns = UINT64_MAX,
		.probe_every = COALESCE_PROBE_MIN,
	};
}

/*
 * Nap only when both costs are known and napping is at least a tenth
 * cheaper: window costs are noisy, and when it hardly saves CPU it is
 * not worth the latency.
 */
static bool cheaper(const struct coalesce *c, bool cur)
{
	uint64_t off = c->cost_ns[0], on = c->cost_ns[1];

	if (!off || !on)
		return cur;
	return on * 10 <= off * 9;
}

void coalesce_window_end(struct coalesce *c, uint64_t now_ns, uint64_t cpu_ns,
			 uint32_t budget_us)
{
	uint64_t dt = now_ns - c->win_start_ns;
	uint64_t n = c->win_queries;
	uint64_t rate = dt ? n * 1000000000u / dt : 0;
	bool mode = c->napping;

	c->rate_qps = rate > UINT32_MAX ? UINT32_MAX : (uint32_t)rate;
	if (n >= COALESCE_MIN_SAMPLE && cpu_ns >= c->win_cpu_ns) {
		uint64_t cost = (cpu_ns - c->win_cpu_ns) / n;
		uint32_t *m = &c->cost_ns[mode];
		cost = cost > UINT32_MAX ? UINT32_MAX : cost ? cost : 1;
		/* a running average, but a verdict (below) is not averaged */
		*m = *m && *m != UINT32_MAX ? (uint32_t)((3 * (uint64_t)*m + cost) / 4)
					    : (uint32_t)cost;
		/* Clients that wait for each answer only send again what we
		 * answered before the nap: naps lose, whatever the CPU says,
		 * as they only slow those clients down. An open load (many
		 * independent clients) brings more. */
		if (mode && c->nap_before && c->nap_after * 4 < c->nap_before * 5)
			*m = UINT32_MAX;
	}
	c->nap_before = c->nap_after = 0;
	c->win_start_ns = now_ns;
	c->win_cpu_ns = cpu_ns;
	c->win_queries = 0;
	c->off = false;

	if (!budget_us || (uint64_t)c->rate_qps * budget_us < COALESCE_MIN_QUERIES * 1000000ull) {
		/* nothing to gather: no naps, nothing to try */
		c->napping = c->probing = false;
		c->since_probe = 0;
		return;
	}
	bool tried = c->probing;
	bool chosen = tried ? !c->napping : c->napping;
	bool pick = cheaper(c, chosen);
	if (tried || pick != chosen) {
		/* a try decided, or the running costs changed their mind: try
		 * the other mode again soon if the choice changed, later if
		 * it held */
		c->probe_every = pick != chosen ? COALESCE_PROBE_MIN :
				 c->probe_every * 2 <= COALESCE_PROBE_MAX ? c->probe_every * 2 :
				 COALESCE_PROBE_MAX;
		c->since_probe = 0;
		c->probing = false;
		chosen = pick;
	}
	if (!tried && (!c->cost_ns[!chosen] || ++c->since_probe >= c->probe_every)) {
		c->probing = true;
		c->since_probe = 0;
	}
	c->napping = c->probing ? !chosen : chosen;
}

uint32_t coalesce_nap_us(const struct coalesce *c, uint32_t budget_us, unsigned batch)
{
	if (!budget_us || !c->napping || c->off || !c->rate_qps)
		return 0;
	uint64_t fill_us = (uint64_t)batch * 1000000u / c->rate_qps;
	return fill_us < budget_us ? (uint32_t)fill_us : budget_us;
}

void coalesce_nap_done(struct coalesce *c, unsigned before, unsigned got)
{
	c->nap_before += before;
	c->nap_after += got;
	if (got < COALESCE_MIN_QUERIES / 2)
		c->off = true;
}
