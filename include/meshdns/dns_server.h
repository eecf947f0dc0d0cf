/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * DNS over UDP and TCP on the libevent loop: sockets, connection limits and
 * idle timeouts. Answers come from dns_answer() over the registry's current
 * snapshot, through serve_query() for every transport. Called on the loop
 * thread only; with threads > 1 it runs worker threads of its own for UDP.
 * The code is in src/net/ (server_int.h lists its files).
 */
#ifndef MESHDNS_DNS_SERVER_H
#define MESHDNS_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/config.h"
#include "meshdns/error.h"
#include "meshdns/registry.h"

struct event_base;
struct dns_server;
struct snap_service;

/** Counters; read with dns_server_stats(). */
/* Query types counted on their own; the rest is "other". */
enum dns_stat_qtype {
	DNS_STAT_A = 0,
	DNS_STAT_AAAA,
	DNS_STAT_SRV,
	DNS_STAT_TXT,
	DNS_STAT_SOA,
	DNS_STAT_NS,
	DNS_STAT_PTR,
	DNS_STAT_ANY,
	DNS_STAT_OTHER,
	DNS_STAT_QTYPES
};

/* Answer latency buckets (upper bounds in microseconds), then +Inf. */
#define DNS_LAT_BUCKETS 10
extern const uint32_t dns_lat_bounds_us[DNS_LAT_BUCKETS];

struct dns_stats {
	uint64_t queries_udp;
	uint64_t queries_tcp;
	uint64_t qtype[DNS_STAT_QTYPES];
	uint64_t lat[DNS_LAT_BUCKETS + 1];	/* cumulative in the output only */
	uint64_t lat_sum_ns;
	uint64_t rcode[24];		/* by (extended) rcode, 23 = other */
	uint64_t dropped;		/* unreadable header or QR set */
	uint64_t formerr;
	uint64_t truncated;
	uint64_t tcp_accepted;
	uint64_t tcp_rejected;		/* over tcp_max_connections */
	uint64_t tcp_timeouts;
	uint64_t send_errors;
	uint64_t refused_clients;	/* outside the allow list */
	uint64_t rate_limited;		/* UDP responses limited (dropped or slipped) */
	uint64_t rate_limit_slipped;	/* of those, sent truncated */
	uint64_t worker_cache_hits;	/* forwarded names answered by a worker's cache */
	uint64_t udp_naps;		/* coalescing naps (udp_coalesce_us) */
};

/** Response rate limiting (see rrl.h): the whole server's limits. */
struct dns_rrl_params {
	uint32_t rate;			/* responses/s per client prefix, 0 off */
	uint32_t slip;
	uint8_t ipv4_prefix, ipv6_prefix;
	bool exempt_loopback;
};

/**
 * What the server is told (params_dns_server() in src/ops/params.c builds
 * it from the config). Pointers are copied from or read during the call
 * only.
 */
struct dns_server_params {
	/* fixed at create: a change needs a restart */
	const struct config_listen *listen;
	size_t n_listen;
	unsigned threads;		/* UDP worker threads; 0 or 1: none */
	uint16_t edns_size;		/* our UDP payload size */
	/* dns_server_reconfigure() applies these */
	const struct config_prefix *allow;	/* clients answered; others REFUSED */
	size_t n_allow;
	uint32_t tcp_max_connections;
	uint32_t tcp_idle_timeout_ms;
	uint32_t udp_coalesce_us;
	struct dns_rrl_params rrl;
};

/**
 * Create the server and bind every listen address of @p p (UDP and
 * TCP). Fails as a whole if any address cannot be bound.
 * @param reg  not owned; must outlive the server
 * @return NULL on failure (logged, naming the address)
 */
struct dns_server *dns_server_create(struct event_base *base,
				     const struct dns_server_params *p,
				     struct registry *reg);

/**
 * Start answering UDP on the worker threads (threads > 1), once the
 * forwarder is set: until then their sockets only queue queries. Does
 * nothing without workers or when they run. @return 0 or MESHDNS_EINVAL
 */
int dns_server_start(struct dns_server *srv) MESHDNS_WUR;

/** Close every socket and connection. NULL is fine. */
void dns_server_delete(struct dns_server *srv);

/** Apply the settings of @p p that a reload may change (see above). */
void dns_server_reconfigure(struct dns_server *srv, const struct dns_server_params *p);

/**
 * Does another process already serve one of the @p n addresses
 * (a predecessor during a rolling update)? Reads /proc/net/udp{,6}.
 */
bool dns_server_addresses_in_use(const struct config_listen *listen, size_t n);

/**
 * Has a successor (another process) bound every one of our UDP addresses
 * with SO_REUSEPORT? Reads /proc/net/udp{,6}.
 */
bool dns_server_successor_ready(const struct dns_server *srv);

/**
 * Zero-downtime handover: steer our reuseport groups to the successor's
 * sockets (a one-instruction classic BPF program), answer what is queued
 * here, then stop listening as dns_server_stop_listening() does.
 */
void dns_server_handover(struct dns_server *srv);

/**
 * Stop accepting: answer the queued UDP queries and close the UDP sockets
 * and TCP listeners; open TCP connections close once their answers are
 * written.
 */
void dns_server_stop_listening(struct dns_server *srv);

/** TCP connections with answers still being written. */
size_t dns_server_busy_connections(const struct dns_server *srv);

struct fwd_params;
struct forwarder;

/**
 * Forward names outside the mesh (and not our PTRs) through a new
 * forwarder with these parameters. @return 0 or MESHDNS_ENOMEM
 */
int dns_server_set_forwarder(struct dns_server *srv, const struct fwd_params *p)
	MESHDNS_WUR;

/** The forwarder, or NULL. */
const struct forwarder *dns_server_forwarder(const struct dns_server *srv);

/** Set the TXT _status fact writer (see dns_facts_cb). */
void dns_server_set_facts(struct dns_server *srv,
			  size_t (*cb)(void *arg, const struct snap_service *svc,
				       uint32_t ep, char *out, size_t len),
			  void *arg);

/** Worker threads answering UDP (0: the loop thread does). */
unsigned dns_server_threads(const struct dns_server *srv);

/** UDP queries answered by thread @p t (0: the loop thread, 1..: workers). */
uint64_t dns_server_thread_queries(const struct dns_server *srv, unsigned t);

/** Current counters (the sum over threads). */
const struct dns_stats *dns_server_stats(const struct dns_server *srv);

#endif
