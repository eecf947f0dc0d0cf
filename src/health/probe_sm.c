/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Probe state machine and parsers (see header). Pure.
 */
#include "config.h"

#include "meshdns/probe_sm.h"

void probe_sm_init(struct probe_sm *sm, bool healthy)
{
	sm->healthy = healthy;
	sm->ok_run = 0;
	sm->fail_run = 0;
}

bool probe_sm_result(struct probe_sm *sm, bool pass, uint16_t rise, uint16_t fall)
{
	if (rise < 1)
		rise = 1;
	if (fall < 1)
		fall = 1;
	if (pass) {
		sm->fail_run = 0;
		if (sm->ok_run < UINT16_MAX)
			sm->ok_run++;
		if (!sm->healthy && sm->ok_run >= rise) {
			sm->healthy = true;
			return true;
		}
	} else {
		sm->ok_run = 0;
		if (sm->fail_run < UINT16_MAX)
			sm->fail_run++;
		if (sm->healthy && sm->fail_run >= fall) {
			sm->healthy = false;
			return true;
		}
	}
	return false;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int probe_parse_weight(const char *v, size_t len, uint8_t *out)
{
	size_t i = 0;
	unsigned n = 0, digits = 0;

	while (i < len && blank(v[i]))
		i++;
	while (len > i && blank(v[len - 1]))
		len--;
	if (len > i && v[len - 1] == '%')
		len--;
	for (; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return MESHDNS_EINVAL;
		n = n * 10 + (unsigned)(v[i] - '0');
		if (++digits > 3 || n > 100)
			return MESHDNS_EINVAL;
	}
	if (!digits)
		return MESHDNS_EINVAL;
	*out = (uint8_t)n;
	return 0;
}

uint32_t probe_next_delay_ms(uint32_t interval_ms, uint8_t jitter_pct, uint32_t rnd)
{
	uint64_t span = (uint64_t)interval_ms * (jitter_pct > 100 ? 100 : jitter_pct) / 100;

	if (span == 0)
		return interval_ms;
	return interval_ms - (uint32_t)(rnd % (span + 1));
}

double probe_rtt_ewma(double avg_ms, double sample_ms, bool first)
{
	if (first)
		return sample_ms;
	return avg_ms + (sample_ms - avg_ms) / 4.0;
}
