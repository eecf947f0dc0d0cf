/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Response rate limiting for UDP, per client prefix (/24 for IPv4, /56 for
 * IPv6 by default), as BIND and NSD do: a token bucket per prefix; over the
 * rate, responses are dropped, except every slip-th one, which goes out
 * truncated so that a real client retries over TCP (a spoofed victim
 * gets almost nothing). A fixed table, no allocation per query; time is
 * passed in. One instance per thread.
 */
#ifndef MESHDNS_RRL_H
#define MESHDNS_RRL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define RRL_BUCKETS 4096

enum rrl_verdict {
	RRL_SEND = 0,
	RRL_SLIP,		/* send a truncated, empty reply */
	RRL_DROP,
};

struct rrl_bucket {
	uint8_t key[9];		/* family + prefix bytes (at most 8: /56 or less) */
	uint32_t tokens_milli;	/* tokens x 1000 */
	uint64_t last_ms;
	uint32_t limited;	/* responses limited in a row, for slip */
};

struct rrl {
	uint32_t rate;		/* responses per second per prefix; 0: off */
	uint32_t slip;		/* every slip-th limited response: TC; 0 never */
	uint8_t v4_prefix, v6_prefix;
	bool exempt_loopback;
	uint64_t limited;	/* counters */
	uint64_t slipped;
	struct rrl_bucket b[RRL_BUCKETS];
};

/** Set the parameters and clear the table. */
void rrl_init(struct rrl *r, uint32_t rate, uint32_t slip, uint8_t v4_prefix,
	      uint8_t v6_prefix, bool exempt_loopback);

/** Decide for one response to @p client at @p now_ms. */
enum rrl_verdict rrl_check(struct rrl *r, const struct sockaddr_storage *client,
			   uint64_t now_ms);

#endif
