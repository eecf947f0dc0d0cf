/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Test helpers shared by the unit suites: endpoints and socket addresses
 * from text, queries built with ldns (an independent encoder) then parsed
 * with dns_query_parse(), and running a libevent loop until something
 * happened. They fail the running test on error.
 */
#ifndef MESHDNS_TEST_HELPERS_H
#define MESHDNS_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshdns/dns_msg.h"
#include "meshdns/service.h"

/** A ready endpoint at @p addr ("10.0.0.1" or "fd00::1") with @p weight. */
struct svc_endpoint th_ep(const char *addr, uint32_t weight);

/** @p addr ("127.0.0.1" or "::1") and @p port as a socket address. */
struct sockaddr_storage th_sockaddr(const char *addr, uint16_t port, socklen_t *len);

/** A query on the wire and parsed; q.pkt points into wire: keep it in place. */
struct th_query {
	uint8_t wire[DNS_HDR_LEN + DNS_MAX_NAME + 1 + 4 + 11];
	size_t len;
	struct dns_query q;
};

/**
 * Build NAME TYPE IN with RD and @p id; EDNS (1232) when @p edns, with
 * the DO bit when @p do_bit.
 */
void th_query(struct th_query *tq, const char *name, uint16_t type, bool edns,
	      bool do_bit, uint16_t id);

struct event_base;

/**
 * Run @p base until *@p count reaches @p want (NULL: never) or @p max_ms
 * pass, whichever is first.
 */
void th_run_until(struct event_base *base, const unsigned *count, unsigned want,
		  unsigned max_ms);

#endif
