/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Pure: one query's bytes plus a snapshot in, the reply's bytes out. No
 * I/O, no allocation, no locks; scratch space comes from the caller (one
 * per thread). Truncation, EDNS and error replies are all decided here.
 */
#ifndef MESHDNS_DNS_ANSWER_H
#define MESHDNS_DNS_ANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/dns_msg.h"
#include "meshdns/select.h"
#include "meshdns/snapshot.h"

#define DNS_ANSWER_MAX_RECORDS SELECT_MAX

/**
 * Per-thread state for dns_answer(): scratch space, the random state
 * (seed it once with sel_rng_seed()) and the time, which the caller sets
 * (monotonic ms; slow start reads it).
 */
/**
 * Writes one endpoint's facts ("key=value ...") for TXT _status; the
 * daemon's adds what the prober knows. Returns the length written.
 */
typedef size_t (*dns_facts_cb)(void *arg, const struct snap_service *svc, uint32_t ep,
			       char *out, size_t len);

struct dns_answer_scratch {
	uint64_t now_ms;
	dns_facts_cb facts;		/* NULL: _status answers NODATA */
	void *facts_arg;
	bool forwarding;		/* names outside the mesh go upstream */
	bool refuse;			/* this client is not allowed: REFUSED */
	bool worker;			/* a worker thread: what needs the loop
					 * thread's state (_status facts, PTR,
					 * forwarding) is deferred to it */
	struct dns_query q;		/* info->forward: the parsed query */
	struct sel_rng rng;
	struct sel_scratch sel;
	uint32_t pick[SELECT_MAX];
	uint16_t prio[SELECT_MAX];
	uint16_t weight[SELECT_MAX];
	uint32_t target[DNS_ANSWER_MAX_RECORDS];
	uint16_t offset[DNS_ANSWER_MAX_RECORDS];
};

/** What happened, for counters and logs. */
struct dns_answer_info {
	enum dns_parse_result parse;
	uint8_t rcode;		/* full (extended) rcode */
	bool truncated;		/* TC set */
	bool answered;		/* false: dropped */
	bool forward;		/* not ours: hand the query to the forwarder */
	bool defer;		/* scratch->worker: the loop thread answers */
	uint16_t qtype;
};

/**
 * Answer one query.
 * @param snap     current snapshot (must not be NULL)
 * @param pkt,len  the query as received
 * @param tcp      received over TCP (no size limit but 65535)
 * @param out      reply buffer, at least DNS_MAX_MSG bytes for TCP, at
 *                 least snap->edns_buffer_size (and 512) for UDP
 * @param scratch  caller's per-thread scratch
 * @return reply length; 0 when the packet must be dropped, or, with
 *         info->forward set, when the forwarder must answer it
 */
size_t dns_answer(const struct snapshot *snap, const uint8_t *pkt, size_t len,
		  bool tcp, uint8_t *out, size_t out_cap,
		  struct dns_answer_scratch *scratch, struct dns_answer_info *info);

#endif
