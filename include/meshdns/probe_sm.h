/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Pure parts of health probing: the rise/fall state machine, the
 * X-Mesh-Weight header parser, jittered intervals and the RTT average.
 * No I/O, no globals; any thread.
 */
#ifndef MESHDNS_PROBE_SM_H
#define MESHDNS_PROBE_SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/error.h"

struct probe_sm {
	bool healthy;
	uint16_t ok_run;	/* consecutive passes */
	uint16_t fail_run;	/* consecutive failures */
};

/** Start in the state the source reports. */
void probe_sm_init(struct probe_sm *sm, bool healthy);

/**
 * Count one probe result: @p rise consecutive passes make an unhealthy
 * endpoint healthy, @p fall consecutive failures make a healthy one
 * unhealthy (both at least 1).
 * @return true when the healthy state flipped
 */
bool probe_sm_result(struct probe_sm *sm, bool pass, uint16_t rise, uint16_t fall);

/**
 * Parse an X-Mesh-Weight header value: an integer 0..100, optionally
 * followed by '%', with surrounding blanks allowed.
 * @return 0 and *out, or MESHDNS_EINVAL (the caller keeps 100)
 */
int probe_parse_weight(const char *value, size_t len, uint8_t *out) MESHDNS_WUR;

/**
 * The delay to the next probe: @p interval_ms shortened by a random share
 * of up to @p jitter_pct percent (never lengthened, so that
 * interval x fall + timeout bounds the time to detect a failure).
 * @param rnd  a uniformly random 32-bit value
 */
uint32_t probe_next_delay_ms(uint32_t interval_ms, uint8_t jitter_pct, uint32_t rnd);

/** Exponentially weighted moving average of RTTs (alpha 1/4); first sample taken as is. */
double probe_rtt_ewma(double avg_ms, double sample_ms, bool first);

#endif
