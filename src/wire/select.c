/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Weighted random order without replacement: every candidate i draws the
 * key -ln(U_i) / w_i (an exponential variable of rate w_i) and candidates
 * are taken by increasing key. The first one is i with probability
 * w_i / sum(w) exactly, and each later position again follows the weights
 * of those left (Efraimidis-Spirakis). Only the k smallest keys are kept,
 * in a bounded max-heap: O(n log k) per answer, no allocation.
 */
#include "config.h"

#include <math.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "meshdns/select.h"

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void sel_rng_seed(struct sel_rng *r, uint64_t seed)
{
	r->s[0] = splitmix(&seed);
	r->s[1] = splitmix(&seed);
	if (!r->s[0] && !r->s[1])
		r->s[1] = 1;
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sel_rng_next(struct sel_rng *r)
{
	uint64_t s0 = r->s[0], s1 = r->s[1], out = s0 + s1;

	s1 ^= s0;
	r->s[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
	r->s[1] = rotl(s1, 37);
	return out;
}

/* Exponential(1) variable: -ln(U), U uniform in (0, 1]. */
static double exp_draw(struct sel_rng *r)
{
	double u = (double)((sel_rng_next(r) >> 11) + 1) * 0x1.0p-53;

	return -log(u);
}

uint32_t select_weight(const struct snap_service *s, const struct snap_ep *e,
		       uint64_t now_ms)
{
	uint64_t w = e->effective;

	if (w && s->slow_start_ms && e->ramp_start_ms &&
	    now_ms < e->ramp_start_ms + s->slow_start_ms) {
		uint64_t el = now_ms > e->ramp_start_ms ? now_ms - e->ramp_start_ms : 0;
		/* linear from 10% to 100% of the effective weight */
		w = w * (100 * (uint64_t)s->slow_start_ms / 10 + 90 * el) /
		    (100 * (uint64_t)s->slow_start_ms);
		if (!w)
			w = 1;
	}
	return (uint32_t)w;
}

/* Max-heap on key of the k best (smallest) candidates. */
struct heap {
	double *key;
	uint32_t *idx;
	size_t n, cap;
};

static void heap_swap(struct heap *h, size_t a, size_t b)
{
	double k = h->key[a];
	uint32_t i = h->idx[a];

	h->key[a] = h->key[b];
	h->idx[a] = h->idx[b];
	h->key[b] = k;
	h->idx[b] = i;
}

static void sift_down(struct heap *h, size_t i, size_t n)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && h->key[l] > h->key[m])
			m = l;
		if (r < n && h->key[r] > h->key[m])
			m = r;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

static void heap_offer(struct heap *h, double key, uint32_t idx)
{
	if (h->n < h->cap) {
		size_t i = h->n++;
		h->key[i] = key;
		h->idx[i] = idx;
		while (i > 0 && h->key[(i - 1) / 2] < h->key[i]) {
			heap_swap(h, i, (i - 1) / 2);
			i = (i - 1) / 2;
		}
	} else if (key < h->key[0]) {
		h->key[0] = key;
		h->idx[0] = idx;
		sift_down(h, 0, h->n);
	}
}

/* Heap sort in place: ascending keys. */
static void heap_sort(struct heap *h)
{
	for (size_t n = h->n; n > 1; n--) {
		heap_swap(h, 0, n - 1);
		sift_down(h, 0, n - 1);
	}
}

static bool addr_candidate(const struct snap_service *s, const struct snap_ep *e,
			   int family, bool local_only)
{
	return e->family == family && (e->flags & SNAP_EP_ELIGIBLE) &&
	       (!local_only || (e->flags & SNAP_EP_LOCAL));
}

size_t select_count(const struct snap_service *s, int family)
{
	bool local = family == AF_INET ? s->use_local4 : s->use_local6;
	size_t n = 0;

	for (uint32_t i = 0; i < s->n_eps; i++)
		n += addr_candidate(s, &s->eps[i], family, local);
	return n;
}

size_t select_addresses(const struct snap_service *s, int family, uint64_t now_ms,
			size_t k, struct sel_rng *rng, struct sel_scratch *sc,
			uint32_t *out)
{
	bool local = family == AF_INET ? s->use_local4 : s->use_local6;
	bool uniform = true;
	struct heap h = { sc->key, sc->idx, 0, k && k < SELECT_MAX ? k : SELECT_MAX };

	for (uint32_t i = 0; i < s->n_eps && uniform; i++) {
		if (addr_candidate(s, &s->eps[i], family, local) && s->eps[i].effective)
			uniform = false;
	}
	for (uint32_t i = 0; i < s->n_eps; i++) {
		const struct snap_ep *e = &s->eps[i];
		if (!addr_candidate(s, e, family, local))
			continue;
		/* all draining: they share equally */
		uint32_t w = uniform ? 1 : select_weight(s, e, now_ms);
		if (!w)
			continue;
		heap_offer(&h, exp_draw(rng) / w, i);
	}
	heap_sort(&h);
	memcpy(out, h.idx, h.n * sizeof(*out));
	return h.n;
}

/* The endpoint that speaks for a target: its eligible v4, else v6. */
static const struct snap_ep *target_ep(const struct snap_service *s,
				       const struct snap_target *t)
{
	if (t->ep4 >= 0 && (s->eps[t->ep4].flags & SNAP_EP_ELIGIBLE))
		return &s->eps[t->ep4];
	if (t->ep6 >= 0 && (s->eps[t->ep6].flags & SNAP_EP_ELIGIBLE))
		return &s->eps[t->ep6];
	return NULL;
}

/* One priority class of targets, in weighted order, appended at out[n]. */
static size_t srv_class(const struct snap_service *s, uint64_t now_ms, bool local,
			struct sel_rng *rng, struct sel_scratch *sc, uint32_t *out,
			size_t n)
{
	struct heap h = { sc->key, sc->idx, 0, SELECT_MAX - n };

	for (uint32_t i = 0; i < s->n_targets; i++) {
		const struct snap_ep *e = target_ep(s, &s->targets[i]);
		if (!e || (s->zones && ((e->flags & SNAP_EP_LOCAL) != 0) != local))
			continue;
		uint32_t w = select_weight(s, e, now_ms);
		/* draining targets go last within their class */
		heap_offer(&h, w ? exp_draw(rng) / w : INFINITY, i);
	}
	heap_sort(&h);
	memcpy(out + n, h.idx, h.n * sizeof(*out));
	return n + h.n;
}

size_t select_srv(const struct snap_service *s, uint64_t now_ms, struct sel_rng *rng,
		  struct sel_scratch *sc, uint32_t *out, uint16_t *prio,
		  uint16_t *weight)
{
	size_t n = srv_class(s, now_ms, true, rng, sc, out, 0);
	size_t n_local = n;
	uint32_t max_w = 0;

	if (s->zones)
		n = srv_class(s, now_ms, false, rng, sc, out, n);
	for (size_t i = 0; i < n; i++) {
		uint32_t w = select_weight(s, target_ep(s, &s->targets[out[i]]), now_ms);
		if (w > max_w)
			max_w = w;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t w = select_weight(s, target_ep(s, &s->targets[out[i]]), now_ms);
		prio[i] = s->zones && i >= n_local ? SELECT_SRV_PRIO_REMOTE : 0;
		/* scale so the largest is 65535; ratios kept, never 0 unless draining */
		weight[i] = w ? (uint16_t)(w * 65535 / max_w ? w * 65535 / max_w : 1) : 0;
	}
	return n;
}
