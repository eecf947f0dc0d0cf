/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Forwarding names outside the mesh to upstream servers, with the answer
 * cache in front. Non-blocking on the libevent loop: UDP with a random
 * 16-bit ID per query, replies accepted only from an upstream that was
 * asked and only for the question asked; TCP when an upstream truncates;
 * identical queries in flight share one upstream query; a bound on queries
 * in flight; upstreams that stop answering are skipped until a health
 * query (". NS") gets an answer. When every upstream fails, expired cache
 * entries are served (RFC 8767) with EDE 3. Loop thread only.
 */
#ifndef MESHDNS_FORWARD_H
#define MESHDNS_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "meshdns/cache.h"
#include "meshdns/dns_msg.h"

struct event_base;
struct forwarder;

enum fwd_policy {
	FWD_POLICY_SEQUENTIAL = 0,	/* in the order given */
	FWD_POLICY_RANDOM,
	FWD_POLICY_FASTEST,		/* lowest smoothed RTT */
};

struct fwd_upstream_addr {
	struct sockaddr_storage addr;
	socklen_t len;
	char text[64];
};

/* Upstream queries in flight at most: one 16-bit ID each, one kept free. */
#define FWD_MAX_IN_FLIGHT	65535u

struct fwd_params {
	const struct fwd_upstream_addr *upstreams;
	size_t n_upstreams;
	uint32_t timeout_ms;		/* per try */
	enum fwd_policy policy;
	uint32_t max_in_flight;		/* at most FWD_MAX_IN_FLIGHT */
	uint16_t edns_size;		/* what we advertise to clients */
	struct cache_params cache;
	bool cache_enabled;
};

/** Where a reply goes: a UDP client (socket, address, the destination
 *  address it used) or a TCP connection (by id: it may be gone). */
struct fwd_reply_to {
	bool tcp;
	int fd;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint8_t ctl[64];		/* IP_PKTINFO cmsg to answer from */
	size_t ctl_len;
	uint64_t conn_id;
};

/** Sends @p msg to @p to (the DNS server's job). @p fresh: an upstream's
 * answer relayed (not SERVFAIL, not a stale answer from the cache). */
typedef void (*fwd_send_cb)(void *arg, const struct fwd_reply_to *to,
			    const uint8_t *msg, size_t len, bool fresh);

struct fwd_stats {
	uint64_t queries;		/* asked of the forwarder */
	uint64_t cache_hits;
	uint64_t upstream_queries;
	uint64_t coalesced;
	uint64_t timeouts;
	uint64_t tcp_retries;
	uint64_t servfail;
	uint64_t stale;
	uint64_t dropped_replies;	/* unmatched or spoofed */
	uint64_t over_limit;
};

/** @return NULL on failure (logged) */
struct forwarder *forwarder_create(struct event_base *base, const struct fwd_params *p,
				   fwd_send_cb send, void *arg);

/** NULL is fine. */
void forwarder_delete(struct forwarder *f);

/**
 * Answer @p q (a parsed client query; its packet is copied). A cache hit is
 * written to @p out and its length returned, for the caller to send;
 * otherwise 0 is returned and the reply goes later through the send
 * callback (an upstream answer, SERVFAIL or a stale answer).
 * @param limit  the client's size limit (UDP payload or 65535 for TCP)
 */
size_t forwarder_query(struct forwarder *f, const struct dns_query *q,
		       const struct fwd_reply_to *to, size_t limit, uint64_t now_ms,
		       uint8_t *out, size_t out_cap);

const struct fwd_stats *forwarder_stats(const struct forwarder *f);
const struct cache_stats *forwarder_cache_stats(const struct forwarder *f);

/** Parse "nameserver" lines of a resolv.conf into @p out (port 53). */
size_t fwd_parse_resolv_conf(const char *text, struct fwd_upstream_addr *out, size_t max);

#endif
