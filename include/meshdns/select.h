/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The selector: pure functions that turn a snapshot's service into the
 * records of one answer. Weighted random order without replacement
 * (Efraimidis-Spirakis with exponential keys), slow-start ramps, zone
 * preference and SRV weights. No I/O, no allocation, no globals: the
 * caller passes the random state, the time and the scratch space.
 */
#ifndef MESHDNS_SELECT_H
#define MESHDNS_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "meshdns/snapshot.h"

/** Most addresses or SRV targets one answer is built from. */
#define SELECT_MAX 4096

/** Random state, one per thread, seeded once (no syscall per query). */
struct sel_rng {
	uint64_t s[2];
};

/** Seed from a 64-bit value (tests) or from getrandom (daemon). */
void sel_rng_seed(struct sel_rng *r, uint64_t seed);

/** Next 64 random bits (xoroshiro128+). */
uint64_t sel_rng_next(struct sel_rng *r);

/** Scratch space for one selection. */
struct sel_scratch {
	double key[SELECT_MAX];
	uint32_t idx[SELECT_MAX];
};

/**
 * An endpoint's weight for this query: its effective weight, ramped by slow
 * start (10% to 100% over the service's window after it became healthy),
 * and 1 for every candidate when all are draining (weight 0).
 */
uint32_t select_weight(const struct snap_service *s, const struct snap_ep *e,
		       uint64_t now_ms);

/**
 * Choose and order the addresses of one family for an A or AAAA answer:
 * eligible endpoints, only the local zone's when the service prefers it,
 * in weighted random order without replacement, at most @p k of them
 * (0 = all, capped at SELECT_MAX).
 * @param out  receives endpoint indexes, in answer order
 * @return how many were written
 */
size_t select_addresses(const struct snap_service *s, int family, uint64_t now_ms,
			size_t k, struct sel_rng *rng, struct sel_scratch *sc,
			uint32_t *out);

/** How many addresses select_addresses() with k = 0 would give (no ordering). */
size_t select_count(const struct snap_service *s, int family);

/**
 * Order SRV targets: priority (0 local zone, 10 other zones, when the
 * service knows zones) then weighted random order.
 * @param out       target indexes
 * @param prio      their SRV priorities
 * @param weight    their SRV weights: effective weights scaled into
 *                  1..65535 keeping ratios, 0 only for draining targets
 * @return how many targets were written
 */
size_t select_srv(const struct snap_service *s, uint64_t now_ms, struct sel_rng *rng,
		  struct sel_scratch *sc, uint32_t *out, uint16_t *prio,
		  uint16_t *weight);

/** SRV priority for targets outside the local zone. */
#define SELECT_SRV_PRIO_REMOTE 10

#endif
