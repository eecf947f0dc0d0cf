/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Private to the probe modules: the target object and the ops table each
 * probe type (probe_http.c, probe_tcp.c) implements.
 */
#ifndef MESHDNS_PROBE_INT_H
#define MESHDNS_PROBE_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "meshdns/curl_ev.h"
#include "meshdns/probe.h"
#include "meshdns/probe_sm.h"

struct event;
struct probe_svc;
struct probe_target;

/** How a probe ended. */
enum probe_result {
	PROBE_PASS = 0,
	PROBE_FAIL_STATUS,	/* HTTP status outside the expected range */
	PROBE_FAIL_CONNECT,	/* refused, reset, unreachable */
	PROBE_FAIL_TIMEOUT,
	PROBE_FAIL_OTHER,
};

struct probe_ops {
	/** Start a probe of @p t; report with probe_done(). @return 0 or
	 *  an error (then probe_done() is not called). */
	int (*start)(struct probe_target *t);
	/** Abort a running probe without reporting. */
	void (*cancel)(struct probe_target *t);
	/** Free per-target resources (not running). */
	void (*release)(struct probe_target *t);
};

extern const struct probe_ops probe_http_ops;
extern const struct probe_ops probe_tcp_ops;

struct probe_target {
	struct prober *pr;
	struct probe_svc *svc;
	size_t ep_index;		/* hint: index in the registry's spec */
	int family;
	uint8_t addr[16];
	struct probe_sm sm;
	bool probed;
	uint8_t load_pct;
	double rtt_ms;
	uint64_t due_us;		/* when the current/next probe is due */
	uint64_t started_us;
	struct event *timer;
	bool running;			/* in flight */
	bool queued;			/* waiting for the in-flight cap */
	bool warned_weight;
	uint8_t last;			/* enum probe_result + 1, 0 = none */
	struct probe_target *q_prev, *q_next;
	/* http */
	struct curl_ev *curl;		/* the shard whose connection cache it uses */
	CURL *easy;
	struct curl_slist *headers;
	size_t body_bytes;
	bool body_capped;
	int weight_hdr;			/* -1 none, -2 bad, else 0..100 */
	/* tcp */
	int fd;
	int sync_err;
	struct event *io;
};

/** What a probe target's module needs from its service. */
const struct svc_probe *probe_target_conf(const struct probe_target *t);
uint16_t probe_target_port(const struct probe_target *t);
struct curl_ev *probe_target_curl(const struct probe_target *t);
struct event_base *probe_target_base(const struct probe_target *t);

/**
 * Report the end of a probe. @p load_pct: 0..100 from X-Mesh-Weight, or
 * -1 for none/not applicable, -2 for a bad header value.
 */
void probe_done(struct probe_target *t, enum probe_result res, int load_pct);

#endif
