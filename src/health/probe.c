/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Probe scheduling: per-target timers with jitter, the global in-flight
 * cap with a FIFO of waiting targets, rise/fall, and on_demand activation.
 * The next probe is due one (jittered) interval after the previous one was
 * due, not after it finished, so slow probes do not make the schedule
 * drift; lateness is measured against that due time.
 */
#include "config.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meshdns/log.h"
#include "probe_int.h"

#define SWEEP_MS	1000
#define REPORT_S	10
#define FIRST_SPREAD_MS	100	/* new targets start within this window */
#define START_GAP_US	200	/* a mass start runs at most 5,000 first probes/s */
/*
 * HTTP targets are spread over several curl multi handles of at most this
 * many targets each. libcurl 7.88 scans its whole connection cache in
 * curl_multi_remove_handle() after every transfer that left a connection
 * behind (to close CONNECT_ONLY ones), so one multi with 5,000 kept-alive
 * connections costs O(n) per probe; shards keep that scan short while
 * every target keeps its connection alive between probes.
 */
#define CURL_SHARD_TARGETS 128

struct probe_svc {
	struct probe_svc *hnext;	/* hash chain */
	uint32_t hash;
	char *ns;
	char *name;
	struct svc_probe conf;		/* own copy of the strings */
	uint16_t port;
	bool on_demand;
	bool active;
	uint64_t last_query_us;
	struct svc_live *live;		/* one reference */
	struct probe_target **targets;
	size_t n_targets;
};

struct curl_shard {
	struct curl_ev *ce;
	uint32_t n_targets;
};

struct prober {
	struct event_base *base;
	struct registry *reg;
	struct curl_shard *shards;
	uint32_t n_shards;
	struct prober_params params;
	struct probe_svc **table;	/* chained hash of services */
	uint32_t table_mask;
	uint32_t n_svcs;
	struct probe_target *q_head, *q_tail;
	struct event *sweep;
	uint64_t rng;
	uint64_t last_report_us;
	uint64_t last_report_started;
	uint64_t start_slot_us;		/* paces first probes of a mass start */
	uint64_t late_prev[1001];	/* histogram at the last report */
	struct prober_stats stats;
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64*: jitter needs spread, not secrecy */
static uint32_t rnd(struct prober *pr)
{
	pr->rng ^= pr->rng >> 12;
	pr->rng ^= pr->rng << 25;
	pr->rng ^= pr->rng >> 27;
	return (uint32_t)((pr->rng * 2685821657736338717ull) >> 32);
}

static uint32_t hash_key(const char *ns, const char *name)
{
	uint32_t h = 2166136261u;

	for (const char *p = ns; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ '/') * 16777619u;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h;
}

static struct probe_svc **svc_slot(struct prober *pr, const char *ns,
				   const char *name)
{
	uint32_t h = hash_key(ns, name);
	struct probe_svc **p = &pr->table[h & pr->table_mask];

	for (; *p; p = &(*p)->hnext) {
		if ((*p)->hash == h && strcmp((*p)->ns, ns) == 0 &&
		    strcmp((*p)->name, name) == 0)
			break;
	}
	return p;
}

/* ------------------------------------------------------------ accessors */

const struct svc_probe *probe_target_conf(const struct probe_target *t)
{
	return &t->svc->conf;
}

uint16_t probe_target_port(const struct probe_target *t)
{
	return t->svc->port;
}

struct curl_ev *probe_target_curl(const struct probe_target *t)
{
	return t->curl;
}

/* The least loaded shard, a new one when all are full. */
static struct curl_ev *shard_take(struct prober *pr)
{
	struct curl_shard *best = NULL;

	for (uint32_t i = 0; i < pr->n_shards; i++) {
		if (pr->shards[i].n_targets < CURL_SHARD_TARGETS &&
		    (!best || pr->shards[i].n_targets < best->n_targets))
			best = &pr->shards[i];
	}
	if (!best) {
		struct curl_shard *s = realloc(pr->shards, (pr->n_shards + 1) * sizeof(*s));
		if (!s)
			return NULL;
		pr->shards = s;
		best = &s[pr->n_shards];
		best->ce = curl_ev_create(pr->base, CURL_SHARD_TARGETS + 8);
		best->n_targets = 0;
		if (!best->ce)
			return NULL;
		pr->n_shards++;
	}
	best->n_targets++;
	return best->ce;
}

static void shard_give(struct prober *pr, struct curl_ev *ce)
{
	for (uint32_t i = 0; i < pr->n_shards; i++) {
		if (pr->shards[i].ce == ce) {
			pr->shards[i].n_targets--;
			return;
		}
	}
}

struct event_base *probe_target_base(const struct probe_target *t)
{
	return t->pr->base;
}

static const struct probe_ops *ops_of(const struct probe_svc *s)
{
	return s->conf.type == SVC_PROBE_TCP ? &probe_tcp_ops : &probe_http_ops;
}

/* ------------------------------------------------------------ scheduling */

static void queue_remove(struct prober *pr, struct probe_target *t)
{
	if (!t->queued)
		return;
	if (t->q_prev)
		t->q_prev->q_next = t->q_next;
	else
		pr->q_head = t->q_next;
	if (t->q_next)
		t->q_next->q_prev = t->q_prev;
	else
		pr->q_tail = t->q_prev;
	t->q_prev = t->q_next = NULL;
	t->queued = false;
}

static void queue_push(struct prober *pr, struct probe_target *t)
{
	t->queued = true;
	t->q_next = NULL;
	t->q_prev = pr->q_tail;
	if (pr->q_tail)
		pr->q_tail->q_next = t;
	else
		pr->q_head = t;
	pr->q_tail = t;
	pr->stats.queued++;
}

static void schedule_at(struct probe_target *t, uint64_t due_us)
{
	uint64_t now = now_us();
	uint64_t delay = due_us > now ? due_us - now : 0;
	struct timeval tv = { (time_t)(delay / 1000000u), (suseconds_t)(delay % 1000000u) };

	t->due_us = due_us;
	evtimer_add(t->timer, &tv);
}

static void schedule_next(struct probe_target *t)
{
	const struct svc_probe *c = &t->svc->conf;
	uint64_t due = t->due_us + (uint64_t)probe_next_delay_ms(c->interval_ms,
								 c->jitter_pct,
								 rnd(t->pr)) * 1000u;
	uint64_t now = now_us();

	/* fell more than a whole interval behind: restart from now */
	if (due + (uint64_t)c->interval_ms * 1000u < now)
		due = now;
	schedule_at(t, due);
}

static void start_probe(struct probe_target *t)
{
	struct prober *pr = t->pr;
	uint64_t now = now_us();
	uint64_t late_ms = now > t->due_us ? (now - t->due_us) / 1000u : 0;

	pr->stats.late_ms[late_ms < 1000 ? late_ms : 1000]++;
	pr->stats.started++;
	t->started_us = now;
	t->running = true;
	pr->stats.in_flight++;
	if (ops_of(t->svc)->start(t) < 0) {
		t->running = false;
		pr->stats.in_flight--;
		pr->stats.failed++;
		schedule_next(t);
	}
}

static void drain_queue(struct prober *pr)
{
	while (pr->q_head && pr->stats.in_flight < pr->params.max_in_flight) {
		struct probe_target *t = pr->q_head;
		queue_remove(pr, t);
		start_probe(t);
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_target *t = arg;
	struct prober *pr = t->pr;

	if (t->running || t->queued)
		return;		/* still busy from last time: skip a beat */
	if (pr->stats.in_flight >= pr->params.max_in_flight) {
		queue_push(pr, t);
		return;
	}
	start_probe(t);
}

static void report_health(struct probe_target *t)
{
	struct ep_health h = {
		.healthy = t->sm.healthy, .probed = t->probed, .load_pct = t->load_pct,
	};

	(void)registry_set_health(t->pr->reg, t->svc->ns, t->svc->name, t->ep_index,
				  t->family, t->addr, &h);
}

static const char *result_name(enum probe_result r)
{
	static const char *const names[] = {
		"pass", "bad-status", "connect-failed", "timeout", "error",
	};
	return r <= PROBE_FAIL_OTHER ? names[r] : "?";
}

void probe_done(struct probe_target *t, enum probe_result res, int load_pct)
{
	struct prober *pr = t->pr;
	struct probe_svc *s = t->svc;
	bool pass = res == PROBE_PASS;
	uint8_t load = t->load_pct;
	char addr[INET6_ADDRSTRLEN];

	t->running = false;
	t->last = (uint8_t)(res + 1);
	pr->stats.in_flight--;
	if (pass)
		pr->stats.passed++;
	else
		pr->stats.failed++;
	if (res == PROBE_FAIL_TIMEOUT)
		pr->stats.timeouts++;
	t->rtt_ms = probe_rtt_ewma(t->rtt_ms, (double)(now_us() - t->started_us) / 1000.0,
				   !t->probed);
	if (pass) {
		if (load_pct >= 0) {
			load = (uint8_t)load_pct;
		} else if (load_pct == -2) {
			pr->stats.bad_weight++;
			load = 100;
			if (!t->warned_weight) {
				inet_ntop(t->family, t->addr, addr, sizeof(addr));
				log_warn("probe %s.%s %s: bad X-Mesh-Weight header, using 100",
					 s->name, s->ns, addr);
				t->warned_weight = true;
			}
		} else {
			load = 100;
		}
	}
	bool first = !t->probed;
	bool flipped = probe_sm_result(&t->sm, pass, s->conf.rise, s->conf.fall);
	t->probed = true;
	if (flipped) {
		pr->stats.transitions++;
		inet_ntop(t->family, t->addr, addr, sizeof(addr));
		log_info("probe %s.%s %s port %u: %s (%s)", s->name, s->ns, addr, s->port,
			 t->sm.healthy ? "healthy" : "unhealthy", result_name(res));
	} else if (!pass && log_enabled(LOG_LEVEL_DEBUG)) {
		inet_ntop(t->family, t->addr, addr, sizeof(addr));
		log_debug("probe %s.%s %s port %u: %s (%u in a row)", s->name, s->ns, addr,
			  s->port, result_name(res), t->sm.fail_run);
	}
	if (flipped || first || load != t->load_pct) {
		t->load_pct = load;
		report_health(t);
	}
	if (s->active)
		schedule_next(t);
	drain_queue(pr);
}

/* ------------------------------------------------------------ targets */

static void target_stop(struct probe_target *t)
{
	struct prober *pr = t->pr;

	evtimer_del(t->timer);
	queue_remove(pr, t);
	if (t->running) {
		ops_of(t->svc)->cancel(t);
		t->running = false;
		pr->stats.in_flight--;
	}
}

static void target_free(struct probe_target *t)
{
	if (!t)
		return;
	target_stop(t);
	ops_of(t->svc)->release(t);
	if (t->curl)
		shard_give(t->pr, t->curl);
	event_free(t->timer);
	free(t);
}

static struct probe_target *target_new(struct prober *pr, struct probe_svc *s,
				       const struct svc_endpoint *ep, size_t idx)
{
	struct probe_target *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->pr = pr;
	t->svc = s;
	t->ep_index = idx;
	t->family = ep->family;
	memcpy(t->addr, ep->addr, sizeof(t->addr));
	t->load_pct = 100;
	t->fd = -1;
	t->weight_hdr = -1;
	/* static: healthy until proven otherwise; Kubernetes: readiness */
	probe_sm_init(&t->sm, true);
	t->timer = evtimer_new(pr->base, timer_cb, t);
	if (!t->timer) {
		free(t);
		return NULL;
	}
	if (s->conf.type != SVC_PROBE_TCP) {
		t->curl = shard_take(pr);
		if (!t->curl) {
			event_free(t->timer);
			free(t);
			return NULL;
		}
	}
	return t;
}

static void activate(struct prober *pr, struct probe_svc *s)
{
	uint64_t now = now_us();

	if (!s->active)
		pr->stats.active_targets += (uint32_t)s->n_targets;
	s->active = true;
	for (size_t i = 0; i < s->n_targets; i++) {
		struct probe_target *t = s->targets[i];
		if (evtimer_pending(t->timer, NULL) || t->running || t->queued)
			continue;
		/* one new endpoint is probed at once; thousands (a start, a
		 * relist) are paced so that they never fire in lockstep */
		uint64_t base = pr->start_slot_us > now ? pr->start_slot_us : now;
		pr->start_slot_us = base + START_GAP_US;
		schedule_at(t, base + (uint64_t)(rnd(pr) % (FIRST_SPREAD_MS * 1000)));
	}
}

/* Back to the source's word: health unknown, load 100. */
static void deactivate(struct prober *pr, struct probe_svc *s)
{
	if (s->active)
		pr->stats.active_targets -= (uint32_t)s->n_targets;
	s->active = false;
	for (size_t i = 0; i < s->n_targets; i++) {
		struct probe_target *t = s->targets[i];
		target_stop(t);
		probe_sm_init(&t->sm, true);
		t->probed = false;
		t->load_pct = 100;
		report_health(t);
	}
}

static void svc_free(struct prober *pr, struct probe_svc *s)
{
	for (size_t i = 0; i < s->n_targets; i++)
		target_free(s->targets[i]);
	pr->stats.targets -= (uint32_t)s->n_targets;
	if (s->active)
		pr->stats.active_targets -= (uint32_t)s->n_targets;
	free(s->targets);
	free(s->conf.path);
	free(s->conf.host);
	free(s->ns);
	free(s->name);
	svc_live_unref(s->live);
	free(s);
}

static void svc_remove(struct prober *pr, const char *ns, const char *name)
{
	struct probe_svc **slot = svc_slot(pr, ns, name);
	struct probe_svc *s = *slot;

	if (!s)
		return;
	*slot = s->hnext;
	pr->n_svcs--;
	svc_free(pr, s);
}

static bool same_ep(const struct probe_target *t, const struct svc_endpoint *ep)
{
	return t->family == ep->family && memcmp(t->addr, ep->addr, 16) == 0;
}

/* Sync targets with the spec: keep state of unchanged endpoints. */
static int svc_sync(struct prober *pr, struct probe_svc *s, const struct svc_spec *spec)
{
	struct probe_target **nt = calloc(spec->n_endpoints ? spec->n_endpoints : 1,
					  sizeof(*nt));
	size_t kept = 0;

	if (!nt)
		return MESHDNS_ENOMEM;
	for (size_t i = 0; i < spec->n_endpoints; i++) {
		const struct svc_endpoint *ep = &spec->endpoints[i];
		for (size_t j = 0; j < s->n_targets; j++) {
			if (s->targets[j] && same_ep(s->targets[j], ep)) {
				nt[i] = s->targets[j];
				s->targets[j] = NULL;
				nt[i]->ep_index = i;
				kept++;
				break;
			}
		}
		if (!nt[i] && !(nt[i] = target_new(pr, s, ep, i))) {
			for (size_t k = 0; k < i; k++)
				target_free(nt[k]);
			free(nt);
			return MESHDNS_ENOMEM;
		}
	}
	for (size_t j = 0; j < s->n_targets; j++)
		target_free(s->targets[j]);
	pr->stats.targets += (uint32_t)spec->n_endpoints;
	pr->stats.targets -= (uint32_t)s->n_targets;
	if (s->active) {
		pr->stats.active_targets += (uint32_t)spec->n_endpoints;
		pr->stats.active_targets -= (uint32_t)s->n_targets;
	}
	free(s->targets);
	s->targets = nt;
	s->n_targets = spec->n_endpoints;
	if (s->active)
		activate(pr, s);	/* starts the new ones */
	return 0;
}

static void observe(void *arg, const struct svc_spec *spec, struct svc_live *live)
{
	struct prober *pr = arg;
	struct probe_svc **slot, *s;
	enum svc_probe_mode mode;

	slot = svc_slot(pr, spec->namespace, spec->name);
	s = *slot;
	if (!live) {
		svc_remove(pr, spec->namespace, spec->name);	/* service gone */
		return;
	}
	if (s && (spec->probe.type == SVC_PROBE_NONE ||
		  !svc_probe_equal(&s->conf, &spec->probe) ||
		  s->port != svc_probe_port(spec))) {
		/* no probe any more, or a new way to probe: forget the old
		 * results (answers follow the source until new ones come) */
		deactivate(pr, s);
		svc_remove(pr, spec->namespace, spec->name);
		s = NULL;
		slot = svc_slot(pr, spec->namespace, spec->name);
	}
	if (spec->probe.type == SVC_PROBE_NONE)
		return;
	mode = spec->probe_mode ? spec->probe_mode : pr->params.default_mode;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			goto nomem;
		s->ns = strdup(spec->namespace);
		s->name = strdup(spec->name);
		s->conf = spec->probe;
		s->conf.path = spec->probe.path ? strdup(spec->probe.path) : NULL;
		s->conf.host = spec->probe.host ? strdup(spec->probe.host) : NULL;
		s->port = svc_probe_port(spec);
		s->hash = hash_key(spec->namespace, spec->name);
		svc_live_ref(live);
		s->live = live;
		if (!s->ns || !s->name || (spec->probe.path && !s->conf.path) ||
		    (spec->probe.host && !s->conf.host)) {
			svc_free(pr, s);
			goto nomem;
		}
		*slot = s;
		pr->n_svcs++;
	}
	if (svc_sync(pr, s, spec) < 0)
		goto nomem;
	bool was = s->on_demand;
	s->on_demand = mode == SVC_PROBE_MODE_ON_DEMAND;
	if (!s->on_demand && !s->active)
		activate(pr, s);
	else if (s->on_demand && !was && s->active)
		s->last_query_us = now_us();	/* the idle clock starts now */
	return;
nomem:
	log_err("probe %s.%s: out of memory; its endpoints keep their last health",
		spec->name, spec->namespace);
}

/* ------------------------------------------------------------ sweep */

/* Debug summary of the last window (the benchmark reads these lines). */
static void report(struct prober *pr, uint64_t now)
{
	struct prober_stats *st = &pr->stats;
	struct prober_stats win;
	double secs = (double)(now - pr->last_report_us) / 1e6;

	if (st->started == pr->last_report_started || secs <= 0)
		return;
	for (unsigned i = 0; i <= 1000; i++) {
		win.late_ms[i] = st->late_ms[i] - pr->late_prev[i];
		pr->late_prev[i] = st->late_ms[i];
	}
	log_debug("probes: %.0f/s, %u targets (%u active), %u in flight, "
		  "passed %llu failed %llu timeouts %llu, lateness p50 %u ms p99 %u ms max %u ms",
		  (double)(st->started - pr->last_report_started) / secs, st->targets,
		  st->active_targets, st->in_flight, (unsigned long long)st->passed,
		  (unsigned long long)st->failed, (unsigned long long)st->timeouts,
		  prober_late_percentile(&win, 50), prober_late_percentile(&win, 99),
		  prober_late_percentile(&win, 100));
	pr->last_report_started = st->started;
	pr->last_report_us = now;
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct prober *pr = arg;
	uint64_t now = now_us();
	uint64_t idle_us = (uint64_t)pr->params.idle_s * 1000000u;

	for (uint32_t b = 0; b <= pr->table_mask; b++) {
		for (struct probe_svc *s = pr->table[b]; s; s = s->hnext) {
			if (!s->on_demand)
				continue;
			if (__atomic_load_n(&s->live->queried, __ATOMIC_RELAXED)) {
				__atomic_store_n(&s->live->queried, 0, __ATOMIC_RELAXED);
				s->last_query_us = now;
				if (!s->active) {
					log_debug("probe %s.%s: asked for, probing %zu endpoints",
						  s->name, s->ns, s->n_targets);
					activate(pr, s);
				}
			} else if (s->active && now - s->last_query_us > idle_us) {
				log_debug("probe %s.%s: idle, probing stops", s->name, s->ns);
				deactivate(pr, s);
			}
		}
	}
	if (now - pr->last_report_us >= REPORT_S * 1000000u)
		report(pr, now);
}

/* ------------------------------------------------------------ lifecycle */

struct prober *prober_create(struct event_base *base, struct registry *reg,
			     const struct prober_params *p)
{
	struct prober *pr = calloc(1, sizeof(*pr));
	struct timeval tv = { SWEEP_MS / 1000, (SWEEP_MS % 1000) * 1000 };

	if (!pr)
		return NULL;
	pr->base = base;
	pr->reg = reg;
	pr->params = *p;
	pr->table_mask = 4095;
	pr->table = calloc(pr->table_mask + 1, sizeof(*pr->table));
	pr->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, pr);
	pr->rng = now_us() ^ ((uint64_t)(uintptr_t)pr << 16) ^ 0x9e3779b97f4a7c15ull;
	pr->last_report_us = now_us();
	if (!pr->table || !pr->sweep || event_add(pr->sweep, &tv) < 0) {
		prober_delete(pr);
		return NULL;
	}
	registry_set_observer(reg, observe, pr);
	return pr;
}

void prober_delete(struct prober *pr)
{
	if (!pr)
		return;
	if (pr->reg)
		registry_set_observer(pr->reg, NULL, NULL);
	if (pr->table) {
		for (uint32_t b = 0; b <= pr->table_mask; b++) {
			while (pr->table[b]) {
				struct probe_svc *s = pr->table[b];
				pr->table[b] = s->hnext;
				svc_free(pr, s);
			}
		}
	}
	free(pr->table);
	if (pr->sweep)
		event_free(pr->sweep);
	for (uint32_t i = 0; i < pr->n_shards; i++)
		curl_ev_delete(pr->shards[i].ce);
	free(pr->shards);
	free(pr);
}

void prober_reconfigure(struct prober *pr, const struct prober_params *p)
{
	pr->params = *p;
	drain_queue(pr);
}

int prober_endpoint_info(const struct prober *pr, const char *ns, const char *name,
			 int family, const uint8_t *addr, struct probe_info *out)
{
	struct probe_svc *s = *svc_slot((struct prober *)pr, ns, name);

	memset(out, 0, sizeof(*out));
	if (!s)
		return MESHDNS_ENOENT;
	for (size_t i = 0; i < s->n_targets; i++) {
		const struct probe_target *t = s->targets[i];
		if (t->family != family || memcmp(t->addr, addr, family == AF_INET ? 4 : 16))
			continue;
		out->probing = s->active;
		out->probed = t->probed;
		out->healthy = t->sm.healthy;
		out->last = t->last ? result_name((enum probe_result)(t->last - 1)) : "-";
		out->rtt_ms = t->rtt_ms;
		out->load_pct = t->load_pct;
		out->ok_run = t->sm.ok_run;
		out->fail_run = t->sm.fail_run;
		out->type = svc_probe_type_name(s->conf.type);
		return 0;
	}
	return MESHDNS_ENOENT;
}

const struct prober_stats *prober_stats(const struct prober *pr)
{
	return &pr->stats;
}

uint32_t prober_late_percentile(const struct prober_stats *st, double pct)
{
	uint64_t total = 0, acc = 0;

	for (unsigned i = 0; i <= 1000; i++)
		total += st->late_ms[i];
	if (!total)
		return 0;
	uint64_t want = (uint64_t)((double)total * pct / 100.0 + 0.999999);
	for (unsigned i = 0; i <= 1000; i++) {
		acc += st->late_ms[i];
		if (acc >= want)
			return i;
	}
	return 1000;
}
