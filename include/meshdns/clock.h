/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Monotonic milliseconds, cheap enough for once per packet batch (vDSO,
 * coarse clock: a few ms of resolution, which is all slow start and
 * on_demand probing need). Any thread.
 */
#ifndef MESHDNS_CLOCK_H
#define MESHDNS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#endif
