/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The answer cache for forwarded names: whole upstream responses keyed by
 * (name, type, class, DO), stored without their OPT record, with the
 * offsets of every TTL so that a hit is a copy plus TTL rewrites (no
 * allocation). Positive TTL = smallest TTL of the answer records;
 * negative TTL (RFC 2308) = min(SOA TTL, SOA minimum). TTLs are capped and
 * floored, entries are evicted least recently used, and expired entries are
 * kept for stale_s to serve when every upstream fails (RFC 8767).
 * Time is passed in. Loop thread only.
 */
#ifndef MESHDNS_CACHE_H
#define MESHDNS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/dns_msg.h"
#include "meshdns/error.h"

struct cache;

struct cache_params {
	uint32_t max_entries;
	uint32_t min_ttl_s;
	uint32_t max_ttl_s;
	uint32_t neg_max_ttl_s;		/* cap for negative answers */
	uint32_t stale_s;		/* 0: no serve-stale */
};

struct cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t stale_hits;
	uint64_t inserts;
	uint64_t evictions;
	uint64_t uncacheable;
	uint32_t entries;
};

/** @return a cache or NULL */
struct cache *cache_create(const struct cache_params *p);

/** NULL is fine. */
void cache_delete(struct cache *c);

/**
 * Store an upstream response to @p q (a parsed query). Responses that are
 * not NOERROR/NXDOMAIN, truncated, or larger than 16 KiB are not stored.
 * @return 0, MESHDNS_EINVAL (not cacheable) or MESHDNS_ENOMEM
 */
int cache_insert(struct cache *c, const struct dns_query *q, const uint8_t *resp,
		 size_t len, uint64_t now_ms);

/**
 * Answer @p q from the cache: the stored response with the query's ID,
 * flags and question case, TTLs decremented by the entry's age, an OPT
 * record when the query had one, and TC with an empty answer when it does
 * not fit @p limit.
 * @param stale  accept an expired entry still within stale_s (TTLs become
 *               30 s and *was_stale is set)
 * @return reply length, 0 on a miss
 */
size_t cache_lookup(struct cache *c, const struct dns_query *q, uint64_t now_ms,
		    bool stale, uint8_t *out, size_t limit, uint16_t edns_size,
		    bool *was_stale);

/**
 * Relay a response to query @p asked (what was sent upstream) as the reply
 * to @p client: same reshaping as cache_lookup(), nothing stored.
 * @return reply length, 0 if the response is malformed or not for @p asked
 */
size_t cache_relay(const struct dns_query *asked, const uint8_t *resp, size_t len,
		   const struct dns_query *client, uint8_t *out, size_t limit,
		   uint16_t edns_size);

const struct cache_stats *cache_stats(const struct cache *c);

#endif
