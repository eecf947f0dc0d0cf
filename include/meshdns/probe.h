/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Active health probing. The prober observes the registry: every service
 * with a probe gets one target per endpoint, each with its own jittered
 * timer on the loop; results go through the rise/fall state machine and
 * back into the registry as health and load. A global cap bounds probes in
 * flight; on_demand services are probed only while someone asks for them.
 * Loop thread only.
 */
#ifndef MESHDNS_PROBE_H
#define MESHDNS_PROBE_H

#include <stdint.h>

#include "meshdns/registry.h"

struct event_base;
struct prober;

struct prober_params {
	uint32_t max_in_flight;
	uint32_t idle_s;		/* on_demand: stop after this long unasked */
	enum svc_probe_mode default_mode;	/* for SVC_PROBE_MODE_DEFAULT */
};

/** Counters since start. */
struct prober_stats {
	uint64_t started;
	uint64_t passed;
	uint64_t failed;
	uint64_t timeouts;
	uint64_t bad_weight;		/* unparsable X-Mesh-Weight headers */
	uint64_t queued;		/* had to wait for the in-flight cap */
	uint64_t transitions;		/* healthy <-> unhealthy */
	uint32_t in_flight;
	uint32_t targets;
	uint32_t active_targets;
	/* start lateness against the schedule, 1 ms buckets, last = more */
	uint64_t late_ms[1001];
};

/** What the prober knows of one endpoint (for /debug and TXT _status). */
struct probe_info {
	bool probing;			/* a probe is configured and active */
	bool probed;			/* at least one result */
	bool healthy;
	const char *last;		/* "pass", "timeout", ... or "-" */
	double rtt_ms;			/* EWMA */
	uint8_t load_pct;
	uint16_t ok_run, fail_run;
	const char *type;		/* "http", "tcp", ... */
};

/**
 * Look up an endpoint. @return 0 or MESHDNS_ENOENT (not probed at all).
 */
int prober_endpoint_info(const struct prober *pr, const char *ns, const char *name,
			 int family, const uint8_t *addr, struct probe_info *out);

/**
 * Create the prober and register it as the registry's observer, so
 * services set afterwards are probed.
 * @return NULL on failure
 */
struct prober *prober_create(struct event_base *base, struct registry *reg,
			     const struct prober_params *p);

/** Stop every probe and free. NULL is fine. */
void prober_delete(struct prober *pr);

/** Change the in-flight cap, idle time and default mode (reload). */
void prober_reconfigure(struct prober *pr, const struct prober_params *p);

/** Current counters. */
const struct prober_stats *prober_stats(const struct prober *pr);

/**
 * The lateness percentile @p pct (0..100) in ms from @p st's histogram.
 */
uint32_t prober_late_percentile(const struct prober_stats *st, double pct);

#endif
