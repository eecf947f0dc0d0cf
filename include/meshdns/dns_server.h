/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * DNS over UDP and TCP on the libevent loop: sockets, connection limits and
 * idle timeouts. Answers come from dns_answer() over the registry's current
 * snapshot. Loop thread only.
 */
#ifndef MESHDNS_DNS_SERVER_H
#define MESHDNS_DNS_SERVER_H

#include <stdint.h>

#include "meshdns/config.h"
#include "meshdns/error.h"
#include "meshdns/registry.h"

struct event_base;
struct dns_server;

/** Counters; read with dns_server_stats(). */
struct dns_stats {
	uint64_t queries_udp;
	uint64_t queries_tcp;
	uint64_t rcode[24];		/* by (extended) rcode, 23 = other */
	uint64_t dropped;		/* unreadable header or QR set */
	uint64_t formerr;
	uint64_t truncated;
	uint64_t tcp_accepted;
	uint64_t tcp_rejected;		/* over tcp_max_connections */
	uint64_t tcp_timeouts;
	uint64_t send_errors;
};

/**
 * Create the server and bind every listen address of @p cfg (UDP and
 * TCP). Fails as a whole if any address cannot be bound.
 * @param reg  not owned; must outlive the server
 * @return NULL on failure (logged, naming the address)
 */
struct dns_server *dns_server_create(struct event_base *base,
				     const struct config *cfg,
				     struct registry *reg);

/** Close every socket and connection. NULL is fine. */
void dns_server_delete(struct dns_server *srv);

/** Apply settings that can change on reload (TCP limits). */
void dns_server_reconfigure(struct dns_server *srv, const struct config *cfg);

/** Current counters. */
const struct dns_stats *dns_server_stats(const struct dns_server *srv);

#endif
