/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * DNS query handling end to end: bytes in, reply bytes out, over UDP and
 * TCP, against a fixed registry (probed, draining, zones, big service).
 * The reply must fit the limit and echo the ID; an upstream response in
 * the same bytes also goes through the cache.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meshdns/cache.h"
#include "meshdns/config.h"
#include "meshdns/dns_answer.h"
#include "meshdns/registry.h"

static struct registry *reg;
static struct dns_answer_scratch scratch;
static struct cache *cache;
static uint8_t out[DNS_MAX_MSG];

static const char conf[] =
	"{ \"node\": {\"zone\": \"a\"}, \"max_answers\": 2, \"services\": ["
	" {\"name\": \"web\", \"ports\": [{\"name\": \"http\", \"port\": 80}, {\"name\": \"x\", \"port\": 81, \"protocol\": \"udp\"}],"
	"  \"endpoints\": [{\"address\": \"10.0.0.1\", \"zone\": \"a\"}, {\"address\": \"10.0.0.2\", \"weight\": 0},"
	"   {\"address\": \"fd00::1\", \"hostname\": \"h\"}, {\"address\": \"10.0.0.3\", \"hostname\": \"h\", \"zone\": \"b\"}]},"
	" {\"name\": \"empty\", \"namespace\": \"ns\", \"panic_threshold_pct\": 50}] }";

static void init(void)
{
	struct config *cfg = NULL;
	struct config_errors errs = { 0 };

	if (config_parse("fuzz", conf, sizeof(conf) - 1, &cfg, &errs) < 0)
		abort();
	free(errs.text);
	struct snapshot_params p = {
		.domain = "mesh.local", .ttl_s = 5, .negative_ttl_s = 5,
		.edns_buffer_size = 1232, .node_name = "node",
		.policy = { .node_zone = "a", .zone_preference = true, .zone_min_share_pct = 30 },
	};
	reg = registry_create(&p);
	if (!reg || registry_replace_all(reg, REGISTRY_SOURCE_STATIC, cfg->services,
					 cfg->n_services) < 0 || registry_publish(reg) < 0)
		abort();
	config_delete(cfg);
	sel_rng_seed(&scratch.rng, 1);
	struct cache_params cp = { .max_entries = 64, .max_ttl_s = 3600, .neg_max_ttl_s = 900,
				   .stale_s = 60 };
	cache = cache_create(&cp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_answer_info info;
	struct dns_query q;

	if (!reg)
		init();
	for (int tcp = 0; tcp < 2; tcp++) {
		scratch.forwarding = tcp;
		size_t n = dns_answer(registry_snapshot(reg), data, size, tcp, out, sizeof(out),
				      &scratch, &info);
		if (n && (n < 12 || memcmp(out, data, 2) != 0))
			abort();	/* every reply echoes the ID */
		if (!tcp && n > 1232)
			abort();	/* never beyond the UDP limit */
	}
	/* as a worker thread: what it answers is the same; what it defers
	 * (PTR, _status, forwarded names) writes nothing */
	scratch.worker = true;
	scratch.forwarding = true;
	size_t wn = dns_answer(registry_snapshot(reg), data, size, false, out, sizeof(out),
			       &scratch, &info);
	scratch.worker = false;
	if (info.defer && wn)
		abort();
	if (wn && (wn < 12 || memcmp(out, data, 2) != 0 || wn > 1232))
		abort();
	/* the same bytes as an upstream's response to a fixed question */
	static const uint8_t qwire[] = { 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0,
					 3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1 };
	if (dns_query_parse(&q, qwire, sizeof(qwire)) == DNS_PARSE_OK) {
		bool stale;
		(void)cache_insert(cache, &q, data, size, 1000);
		size_t n = cache_relay(&q, data, size, &q, out, 512, 1232);
		if (n > 512)
			abort();
		n = cache_lookup(cache, &q, 2000, false, out, 512, 1232, &stale);
		if (n > 512)
			abort();
	}
	return 0;
}
