/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Micro-benchmark (not a test): what one change costs at scale. A registry
 * of 10,000 services x 10 endpoints (100,000 endpoints); then, 1,000
 * times, one endpoint of one service changes (set_service + publish), and
 * separately one endpoint's health flips (set_health + publish). Reports
 * the loop time per change. Build: make bench; run: ./bench/churn_bench
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meshdns/registry.h"

#define SERVICES 10000
#define EPS 10
#define ROUNDS 1000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make(struct svc_spec *s, struct svc_endpoint *eps, char *name, unsigned i,
		 unsigned salt)
{
	snprintf(name, 32, "svc-%u", i);
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->namespace = "bench";
	s->endpoints = eps;
	s->n_endpoints = EPS;
	for (unsigned j = 0; j < EPS; j++) {
		memset(&eps[j], 0, sizeof(eps[j]));
		eps[j].family = AF_INET;
		eps[j].addr[0] = 10;
		eps[j].addr[1] = (uint8_t)(i >> 8);
		eps[j].addr[2] = (uint8_t)i;
		eps[j].addr[3] = (uint8_t)(j + (j == 0 ? salt % 200 : 0));
		eps[j].weight = 100;
		eps[j].ready = true;
	}
}

int main(void)
{
	struct snapshot_params p = { .domain = "mesh.local", .ttl_s = 5, .negative_ttl_s = 5,
				     .edns_buffer_size = 1232 };
	struct registry *r = registry_create(&p);
	struct svc_endpoint eps[EPS];
	struct svc_spec s;
	char name[32];
	double t0, t1;

	if (!r)
		return 1;
	t0 = now_s();
	for (unsigned i = 0; i < SERVICES; i++) {
		make(&s, eps, name, i, 0);
		if (registry_set_service(r, REGISTRY_SOURCE_STATIC, &s) < 0)
			return 1;
	}
	if (registry_publish(r) < 0)
		return 1;
	t1 = now_s();
	printf("load %d services x %d endpoints: %.1f ms\n", SERVICES, EPS, (t1 - t0) * 1e3);

	t0 = now_s();
	for (unsigned k = 0; k < ROUNDS; k++) {
		unsigned i = (k * 7919) % SERVICES;
		make(&s, eps, name, i, k + 1);	/* one endpoint's address changes */
		if (registry_set_service(r, REGISTRY_SOURCE_STATIC, &s) < 0 ||
		    registry_publish(r) < 0)
			return 1;
	}
	t1 = now_s();
	printf("one endpoint changed + publish: %.1f us per change\n",
	       (t1 - t0) / ROUNDS * 1e6);

	t0 = now_s();
	for (unsigned k = 0; k < ROUNDS; k++) {
		unsigned i = (k * 104729) % SERVICES;
		uint8_t addr[4] = { 10, (uint8_t)(i >> 8), (uint8_t)i, 5 };
		struct ep_health h = { .healthy = k % 2, .probed = true, .load_pct = 100 };
		snprintf(name, sizeof(name), "svc-%u", i);
		if (registry_set_health(r, "bench", name, 5, AF_INET, addr, &h) < 0 ||
		    registry_publish(r) < 0)
			return 1;
	}
	t1 = now_s();
	printf("one endpoint's health flipped + publish: %.1f us per change\n",
	       (t1 - t0) / ROUNDS * 1e6);
	registry_delete(r);
	return 0;
}
