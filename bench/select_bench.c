/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Micro-benchmark (not a test): the selector's cost per answer for
 * services of 3, 30 and 300 endpoints, alone and inside a whole
 * dns_answer() of an A query. Build: make bench/select_bench; run it
 * pinned: taskset -c 1 ./bench/select_bench
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meshdns/dns_answer.h"
#include "meshdns/registry.h"
#include "meshdns/select.h"

static struct dns_answer_scratch scratch;
static uint8_t out[DNS_MAX_MSG];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct registry *make(size_t n)
{
	struct svc_endpoint *eps = calloc(n, sizeof(*eps));
	struct svc_spec spec = { .name = "web", .namespace = "default",
				 .endpoints = eps, .n_endpoints = n };
	struct snapshot_params p = { .domain = "mesh.local", .ttl_s = 5,
				     .negative_ttl_s = 5, .edns_buffer_size = 65535 };
	struct registry *r = registry_create(&p);

	for (size_t i = 0; i < n; i++) {
		eps[i].family = AF_INET;
		eps[i].addr[0] = 10;
		eps[i].addr[2] = (uint8_t)(i >> 8);
		eps[i].addr[3] = (uint8_t)i;
		eps[i].weight = (uint32_t)(1 + i % 100);
		eps[i].ready = true;
	}
	if (!r || registry_set_service(r, REGISTRY_SOURCE_STATIC, &spec) < 0 || registry_publish(r) < 0) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
	free(eps);
	return r;
}

int main(void)
{
	static const size_t sizes[] = { 3, 30, 300 };
	static const uint8_t query[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
		3, 'w', 'e', 'b', 7, 'd', 'e', 'f', 'a', 'u', 'l', 't', 3, 's', 'v', 'c',
		4, 'm', 'e', 's', 'h', 5, 'l', 'o', 'c', 'a', 'l', 0, 0, 1, 0, 1,
		0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0,	/* EDNS 1232 */
	};

	sel_rng_seed(&scratch.rng, 1);
	printf("%-10s %14s %14s %16s %16s\n", "endpoints", "select all", "select 1",
	       "A answer UDP", "A answer TCP");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct registry *r = make(sizes[s]);
		const struct snap_service *svc =
			snapshot_find_service(registry_snapshot(r), "default", "web");
		long iters = (long)(20000000 / (sizes[s] + 10));
		volatile size_t sink = 0;
		double t0, t1, t2, t3, t4;
		struct dns_answer_info info;

		t0 = now_s();
		for (long i = 0; i < iters; i++)
			sink += select_addresses(svc, AF_INET, 0, 0, &scratch.rng,
						 &scratch.sel, scratch.pick);
		t1 = now_s();
		for (long i = 0; i < iters; i++)
			sink += select_addresses(svc, AF_INET, 0, 1, &scratch.rng,
						 &scratch.sel, scratch.pick);
		t2 = now_s();
		for (long i = 0; i < iters; i++)
			sink += dns_answer(registry_snapshot(r), query, sizeof(query), true,
					   out, sizeof(out), &scratch, &info);
		t3 = now_s();
		for (long i = 0; i < iters; i++)
			sink += dns_answer(registry_snapshot(r), query, sizeof(query), false,
					   out, sizeof(out), &scratch, &info);
		t4 = now_s();
		printf("%-10zu %11.0f ns %11.0f ns %13.0f ns %13.0f ns%s\n", sizes[s],
		       (t1 - t0) / iters * 1e9, (t2 - t1) / iters * 1e9,
		       (t4 - t3) / iters * 1e9, (t3 - t2) / iters * 1e9,
		       info.truncated ? "  (UDP: TC)" : "");
		registry_delete(r);
	}
	return 0;
}
