/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Response rate limiting (see header). A bucket is found by hashing the
 * client prefix; a bucket held by another prefix is taken over when it has
 * been quiet for a second, else shared (limiting errs towards strictness).
 */
#include "config.h"

#include <netinet/in.h>
#include <string.h>

#include "meshdns/rrl.h"

void rrl_init(struct rrl *r, uint32_t rate, uint32_t slip, uint8_t v4_prefix,
	      uint8_t v6_prefix, bool exempt_loopback)
{
	memset(r, 0, sizeof(*r));
	r->rate = rate;
	r->slip = slip;
	r->v4_prefix = v4_prefix > 32 ? 32 : v4_prefix;
	r->v6_prefix = v6_prefix > 64 ? 64 : v6_prefix;
	r->exempt_loopback = exempt_loopback;
}

static void prefix_key(const uint8_t *addr, size_t bits, uint8_t family, uint8_t key[9])
{
	memset(key, 0, 9);
	key[0] = family;
	for (size_t i = 0; i < bits / 8; i++)
		key[1 + i] = addr[i];
	if (bits % 8)
		key[1 + bits / 8] = (uint8_t)(addr[bits / 8] & (0xff << (8 - bits % 8)));
}

enum rrl_verdict rrl_check(struct rrl *r, const struct sockaddr_storage *client,
			   uint64_t now_ms)
{
	uint8_t key[9];

	if (!r->rate)
		return RRL_SEND;
	if (client->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)client;
		const uint8_t *a = (const uint8_t *)&sin->sin_addr;
		if (r->exempt_loopback && a[0] == 127)
			return RRL_SEND;
		prefix_key(a, r->v4_prefix, 4, key);
	} else if (client->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)client;
		if (r->exempt_loopback && IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return RRL_SEND;
		prefix_key((const uint8_t *)&sin6->sin6_addr, r->v6_prefix, 6, key);
	} else {
		return RRL_SEND;
	}
	uint32_t h = 2166136261u;
	for (int i = 0; i < 9; i++)
		h = (h ^ key[i]) * 16777619u;
	struct rrl_bucket *b = &r->b[(h ^ (h >> 15)) % RRL_BUCKETS];
	uint32_t burst = r->rate * 1000;
	if (memcmp(b->key, key, 9) != 0) {
		if (b->last_ms && now_ms - b->last_ms < 1000) {
			/* busy with another prefix: share it */
		} else {
			memcpy(b->key, key, 9);
			b->tokens_milli = burst;
			b->limited = 0;
			b->last_ms = now_ms;
		}
	}
	uint64_t add = (now_ms - b->last_ms) * r->rate;	/* milli-tokens */
	b->tokens_milli = add >= burst - b->tokens_milli ? burst
						: b->tokens_milli + (uint32_t)add;
	b->last_ms = now_ms;
	if (b->tokens_milli >= 1000) {
		b->tokens_milli -= 1000;
		b->limited = 0;
		return RRL_SEND;
	}
	/* counters: one writer (this thread), read by /metrics on another */
	__atomic_store_n(&r->limited, r->limited + 1, __ATOMIC_RELAXED);
	if (r->slip && ++b->limited % r->slip == 0) {
		__atomic_store_n(&r->slipped, r->slipped + 1, __ATOMIC_RELAXED);
		return RRL_SLIP;
	}
	return RRL_DROP;
}
