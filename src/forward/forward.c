/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The forwarder (see header). Pending upstream queries are indexed by
 * their 16-bit ID (one table slot each) and by question, for coalescing.
 * A reply is matched on ID, source address and question before anything
 * is believed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "meshdns/clock.h"
#include "meshdns/forward.h"
#include "meshdns/log.h"
#include "meshdns/select.h"

#define MAX_WAITERS	64
#define KEY_BUCKETS	1024
#define DOWN_AFTER	2		/* timeouts in a row */
#define HEALTH_MS	500
#define UPSTREAM_EDNS	1232
#define EDE_NO_REACH	22

struct fwd_waiter {
	struct fwd_waiter *next;
	struct fwd_reply_to to;
	size_t limit;
	struct dns_query q;		/* q.pkt points at pkt */
	uint8_t pkt[DNS_HDR_LEN + DNS_MAX_NAME + 1 + 4];
};

struct pending {
	struct forwarder *f;
	struct pending *knext;
	uint32_t khash;
	uint16_t id;
	bool probe;			/* health query, no waiters */
	struct dns_query asked;		/* asked.pkt points at wire */
	uint8_t wire[DNS_HDR_LEN + DNS_MAX_NAME + 1 + 4 + 11];
	size_t wire_len;
	struct fwd_waiter *waiters;
	unsigned n_waiters;
	int up;				/* upstream asked last */
	uint32_t tried;			/* bitmask of upstreams asked */
	unsigned tries;
	uint64_t sent_us;
	struct event *timer;
	struct bufferevent *tcp;
};

struct upstream {
	struct fwd_upstream_addr a;
	unsigned fails;
	bool down;
	double srtt_ms;
	uint64_t next_probe_ms;
};

struct forwarder {
	struct event_base *base;
	struct upstream *up;
	size_t n_up;
	enum fwd_policy policy;
	uint32_t timeout_ms;
	uint32_t max_in_flight;
	uint32_t in_flight;
	uint16_t edns_size;
	int fd[2];			/* IPv4, IPv6 sockets to upstreams */
	struct event *ev[2];
	struct pending *by_id[65536];
	struct pending *by_key[KEY_BUCKETS];
	struct cache *cache;
	fwd_send_cb send;
	void *arg;
	struct sel_rng rng;
	struct event *health;
	struct fwd_stats st;
	uint8_t buf[DNS_MAX_MSG];
	uint8_t out[DNS_MAX_MSG];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t key_hash(const struct dns_query *q)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < q->qname_len; i++)
		h = (h ^ q->lname[i]) * 16777619u;
	h = (h ^ q->qtype) * 16777619u;
	return (h ^ (q->edns && q->edns_do)) * 16777619u;
}

static bool same_question(const struct dns_query *a, const struct dns_query *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass &&
	       a->qname_len == b->qname_len &&
	       (a->edns && a->edns_do) == (b->edns && b->edns_do) &&
	       memcmp(a->lname, b->lname, a->qname_len) == 0;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* ------------------------------------------------------------ replies */

/* SERVFAIL for a waiter, with EDE 22 when it had EDNS. */
static void send_servfail(struct forwarder *f, struct fwd_waiter *w)
{
	static const char text[] = "no upstream answered";
	struct dns_wbuf b;

	wbuf_init(&b, f->out, sizeof(f->out));
	wbuf_u16(&b, w->q.id);
	wbuf_u16(&b, (uint16_t)(DNS_FLAG_QR | DNS_FLAG_RA | DNS_RCODE_SERVFAIL |
				(w->q.flags & (DNS_FLAG_RD | DNS_FLAG_CD))));
	wbuf_u16(&b, 1);
	wbuf_u16(&b, 0);
	wbuf_u16(&b, 0);
	wbuf_u16(&b, w->q.edns ? 1 : 0);
	wbuf_bytes(&b, w->pkt + DNS_HDR_LEN, w->q.qname_len + 4);
	if (w->q.edns) {
		wbuf_u8(&b, 0);
		wbuf_u16(&b, DNS_TYPE_OPT);
		wbuf_u16(&b, f->edns_size);
		wbuf_u32(&b, w->q.edns_do ? DNS_EDNS_DO : 0);
		wbuf_u16(&b, (uint16_t)(6 + sizeof(text) - 1));
		wbuf_u16(&b, 15);
		wbuf_u16(&b, (uint16_t)(2 + sizeof(text) - 1));
		wbuf_u16(&b, EDE_NO_REACH);
		wbuf_bytes(&b, text, sizeof(text) - 1);
	}
	f->st.servfail++;
	f->send(f->arg, &w->to, f->out, b.len, false);
}

static void pending_free(struct pending *p)
{
	struct forwarder *f = p->f;
	struct pending **k = &f->by_key[p->khash % KEY_BUCKETS];

	while (*k && *k != p)
		k = &(*k)->knext;
	if (*k)
		*k = p->knext;
	if (f->by_id[p->id] == p)
		f->by_id[p->id] = NULL;
	for (struct fwd_waiter *w = p->waiters, *n; w; w = n) {
		n = w->next;
		free(w);
	}
	if (p->timer)
		event_free(p->timer);
	if (p->tcp)
		bufferevent_free(p->tcp);
	f->in_flight--;
	free(p);
}

/* Every upstream failed: stale answers where the cache has them. */
static void fail_all(struct pending *p)
{
	struct forwarder *f = p->f;

	for (struct fwd_waiter *w = p->waiters; w; w = w->next) {
		bool stale = false;
		size_t n = f->cache ? cache_lookup(f->cache, &w->q, clock_now_ms(), true,
						   f->out, w->limit, f->edns_size, &stale)
				    : 0;
		if (n && stale) {
			f->st.stale++;
			f->send(f->arg, &w->to, f->out, n, false);
		} else {
			send_servfail(f, w);
		}
	}
	pending_free(p);
}

static void answer(struct pending *p, const uint8_t *resp, size_t len)
{
	struct forwarder *f = p->f;

	if (f->cache)
		(void)cache_insert(f->cache, &p->asked, resp, len, clock_now_ms());
	for (struct fwd_waiter *w = p->waiters; w; w = w->next) {
		size_t n = cache_relay(&p->asked, resp, len, &w->q, f->out, w->limit,
				       f->edns_size);
		if (n)
			f->send(f->arg, &w->to, f->out, n, true);
		else
			send_servfail(f, w);
	}
	pending_free(p);
}

/* ------------------------------------------------------------ sending */

static int pick_upstream(struct forwarder *f, uint32_t tried)
{
	int best = -1;
	bool any_up = false;

	for (size_t i = 0; i < f->n_up; i++)
		any_up |= !f->up[i].down && !(tried & (1u << i));
	for (size_t i = 0; i < f->n_up && i < 32; i++) {
		if (tried & (1u << i) || (any_up && f->up[i].down))
			continue;
		if (best < 0) {
			best = (int)i;
			if (f->policy == FWD_POLICY_SEQUENTIAL)
				break;
			continue;
		}
		if (f->policy == FWD_POLICY_FASTEST && f->up[i].srtt_ms < f->up[best].srtt_ms)
			best = (int)i;
	}
	if (best >= 0 && f->policy == FWD_POLICY_RANDOM) {
		int choices[32], n = 0;
		for (size_t i = 0; i < f->n_up && i < 32; i++)
			if (!(tried & (1u << i)) && !(any_up && f->up[i].down))
				choices[n++] = (int)i;
		best = choices[sel_rng_next(&f->rng) % (uint64_t)n];
	}
	return best;
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg);

static bool send_try(struct pending *p)
{
	struct forwarder *f = p->f;
	struct timeval tv = { f->timeout_ms / 1000, (f->timeout_ms % 1000) * 1000 };
	int u = pick_upstream(f, p->tried);

	if (u < 0)
		return false;
	p->up = u;
	p->tried |= 1u << u;
	p->tries++;
	p->sent_us = now_us();
	const struct upstream *up = &f->up[u];
	int fd = f->fd[up->a.addr.ss_family == AF_INET6];
	if (fd < 0 || sendto(fd, p->wire, p->wire_len, 0, (const struct sockaddr *)&up->a.addr,
			     up->a.len) < 0) {
		/* unreachable right now: the timeout moves on to the next */
		log_debug("forward: send to %s failed", up->a.text);
	}
	f->st.upstream_queries++;
	evtimer_add(p->timer, &tv);
	return true;
}

static void upstream_failed(struct forwarder *f, int u)
{
	struct upstream *up = &f->up[u];

	if (++up->fails >= DOWN_AFTER && !up->down) {
		up->down = true;
		up->next_probe_ms = clock_now_ms() + HEALTH_MS;
		log_warn("forward: upstream %s is not answering; skipping it until it does",
			 up->a.text);
	}
}

static void upstream_ok(struct forwarder *f, int u, uint64_t rtt_us)
{
	struct upstream *up = &f->up[u];
	double ms = (double)rtt_us / 1000.0;

	if (up->down)
		log_info("forward: upstream %s answers again", up->a.text);
	up->fails = 0;
	up->down = false;
	up->srtt_ms = up->srtt_ms ? up->srtt_ms + (ms - up->srtt_ms) / 8 : ms;
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;
	struct forwarder *f = p->f;

	f->st.timeouts++;
	upstream_failed(f, p->up);
	if (p->tcp) {
		bufferevent_free(p->tcp);
		p->tcp = NULL;
	}
	if (p->probe || !send_try(p)) {
		if (p->probe) {
			pending_free(p);
			return;
		}
		fail_all(p);
	}
}

/* ------------------------------------------------------------ TCP retry */

static void tcp_read_cb(struct bufferevent *bev, void *arg)
{
	struct pending *p = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t l[2];

	if (evbuffer_get_length(in) < 2)
		return;
	evbuffer_copyout(in, l, 2);
	size_t len = rd16(l);
	if (evbuffer_get_length(in) < 2 + len)
		return;
	evbuffer_drain(in, 2);
	evbuffer_remove(in, p->f->buf, len);
	if (len < DNS_HDR_LEN || rd16(p->f->buf) != p->id) {
		p->f->st.dropped_replies++;
		return;
	}
	upstream_ok(p->f, p->up, now_us() - p->sent_us);
	answer(p, p->f->buf, len);
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct pending *p = arg;

	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		bufferevent_free(p->tcp);
		p->tcp = NULL;
		/* the timer moves on to the next upstream */
	}
}

static void retry_tcp(struct pending *p)
{
	struct forwarder *f = p->f;
	const struct upstream *up = &f->up[p->up];
	uint8_t l[2] = { (uint8_t)(p->wire_len >> 8), (uint8_t)p->wire_len };
	struct timeval tv = { f->timeout_ms / 1000, (f->timeout_ms % 1000) * 1000 };

	f->st.tcp_retries++;
	p->tcp = bufferevent_socket_new(f->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!p->tcp || bufferevent_socket_connect(p->tcp, (const struct sockaddr *)&up->a.addr,
						  (int)up->a.len) < 0) {
		if (p->tcp)
			bufferevent_free(p->tcp);
		p->tcp = NULL;
		return;
	}
	bufferevent_setcb(p->tcp, tcp_read_cb, NULL, tcp_event_cb, p);
	bufferevent_write(p->tcp, l, 2);
	bufferevent_write(p->tcp, p->wire, p->wire_len);
	bufferevent_enable(p->tcp, EV_READ);
	evtimer_add(p->timer, &tv);
}

/* ------------------------------------------------------------ UDP replies */

static void udp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;

	for (int n = 0; n < 64; n++) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t got = recvfrom(fd, f->buf, sizeof(f->buf), 0, (struct sockaddr *)&from, &fl);
		if (got < 0)
			return;
		if (got < DNS_HDR_LEN || !(rd16(f->buf + 2) & DNS_FLAG_QR)) {
			f->st.dropped_replies++;
			continue;
		}
		struct pending *p = f->by_id[rd16(f->buf)];
		int u = -1;
		for (size_t i = 0; p && i < f->n_up; i++)
			if ((p->tried & (1u << i)) && same_addr(&from, &f->up[i].a.addr))
				u = (int)i;
		/* not an upstream we asked, or not the question we asked */
		if (!p || u < 0 || (size_t)got < DNS_HDR_LEN + p->asked.qname_len + 4 ||
		    rd16(f->buf + 4) != 1) {
			f->st.dropped_replies++;
			continue;
		}
		uint8_t lname[DNS_MAX_NAME + 1];
		memcpy(lname, f->buf + DNS_HDR_LEN, p->asked.qname_len);
		dns_name_lower(lname, p->asked.qname_len);
		if (memcmp(lname, p->asked.lname, p->asked.qname_len) != 0 ||
		    rd16(f->buf + DNS_HDR_LEN + p->asked.qname_len) != p->asked.qtype) {
			f->st.dropped_replies++;
			continue;
		}
		upstream_ok(f, u, now_us() - p->sent_us);
		if (p->probe) {
			pending_free(p);
			continue;
		}
		uint16_t flags = rd16(f->buf + 2);
		if (flags & DNS_FLAG_TC) {
			p->up = u;
			retry_tcp(p);
			continue;
		}
		uint8_t rcode = flags & 0xf;
		if ((rcode == DNS_RCODE_SERVFAIL || rcode == DNS_RCODE_REFUSED) &&
		    pick_upstream(f, p->tried) >= 0) {
			/* this one cannot help: ask the next */
			event_del(p->timer);
			send_try(p);
			continue;
		}
		event_del(p->timer);
		answer(p, f->buf, (size_t)got);
	}
}

/* ------------------------------------------------------------ queries */

static struct pending *pending_new(struct forwarder *f, const struct dns_query *q, bool do_bit)
{
	struct pending *p = calloc(1, sizeof(*p));
	struct dns_wbuf w;
	uint16_t id;

	if (!p)
		return NULL;
	p->f = f;
	p->timer = evtimer_new(f->base, timeout_cb, p);
	if (!p->timer) {
		free(p);
		return NULL;
	}
	/* a random ID no pending query uses; with the table nearly full,
	 * the next free one after a random start (one is always free: at
	 * most FWD_MAX_IN_FLIGHT are pending) */
	id = (uint16_t)sel_rng_next(&f->rng);
	for (unsigned tries = 0; f->by_id[id] && tries < 64; tries++)
		id = (uint16_t)sel_rng_next(&f->rng);
	while (f->by_id[id])
		id++;
	p->id = id;
	wbuf_init(&w, p->wire, sizeof(p->wire));
	wbuf_u16(&w, id);
	wbuf_u16(&w, (uint16_t)(DNS_FLAG_RD | (q->flags & DNS_FLAG_CD)));
	wbuf_u16(&w, 1);
	wbuf_u16(&w, 0);
	wbuf_u16(&w, 0);
	wbuf_u16(&w, 1);
	wbuf_bytes(&w, q->lname, q->qname_len);
	wbuf_u16(&w, q->qtype);
	wbuf_u16(&w, q->qclass);
	wbuf_u8(&w, 0);
	wbuf_u16(&w, DNS_TYPE_OPT);
	wbuf_u16(&w, UPSTREAM_EDNS);
	wbuf_u32(&w, do_bit ? DNS_EDNS_DO : 0);
	wbuf_u16(&w, 0);
	p->wire_len = w.len;
	if (dns_query_parse(&p->asked, p->wire, p->wire_len) != DNS_PARSE_OK) {
		event_free(p->timer);
		free(p);
		return NULL;
	}
	f->by_id[id] = p;
	p->khash = key_hash(&p->asked);
	p->knext = f->by_key[p->khash % KEY_BUCKETS];
	f->by_key[p->khash % KEY_BUCKETS] = p;
	f->in_flight++;
	return p;
}

size_t forwarder_query(struct forwarder *f, const struct dns_query *q,
		       const struct fwd_reply_to *to, size_t limit, uint64_t now_ms,
		       uint8_t *out, size_t out_cap)
{
	struct fwd_waiter *w;
	struct pending *p;
	bool stale;

	f->st.queries++;
	if (f->cache) {
		/* a hit is answered by the caller, in its own batch */
		size_t n = cache_lookup(f->cache, q, now_ms, false, out,
					limit < out_cap ? limit : out_cap, f->edns_size, &stale);
		if (n) {
			f->st.cache_hits++;
			return n;
		}
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return 0;
	w->to = *to;
	w->limit = limit;
	memcpy(w->pkt, q->pkt, DNS_HDR_LEN + q->qname_len + 4);
	w->q = *q;
	w->q.pkt = w->pkt;
	w->q.len = DNS_HDR_LEN + q->qname_len + 4;

	/* the same question already asked upstream: wait for that answer */
	uint32_t h = key_hash(q);
	for (p = f->by_key[h % KEY_BUCKETS]; p; p = p->knext) {
		if (!p->probe && p->khash == h && same_question(&p->asked, q) &&
		    p->n_waiters < MAX_WAITERS) {
			w->next = p->waiters;
			p->waiters = w;
			p->n_waiters++;
			f->st.coalesced++;
			return 0;
		}
	}
	if (f->in_flight >= f->max_in_flight) {
		f->st.over_limit++;
		send_servfail(f, w);
		free(w);
		return 0;
	}
	p = pending_new(f, q, q->edns && q->edns_do);
	if (!p) {
		send_servfail(f, w);
		free(w);
		return 0;
	}
	p->waiters = w;
	p->n_waiters = 1;
	if (!send_try(p))
		fail_all(p);
	return 0;
}

/* Down upstreams get ". NS" until they answer (CoreDNS does the same). */
static void health_cb(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;
	uint64_t now = clock_now_ms();
	static const uint8_t root_ns[] = { 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
					   0, 0, 2, 0, 1 };
	struct dns_query q;

	for (size_t i = 0; i < f->n_up; i++) {
		struct upstream *up = &f->up[i];
		if (!up->down || now < up->next_probe_ms || f->in_flight >= f->max_in_flight)
			continue;
		up->next_probe_ms = now + HEALTH_MS;
		if (dns_query_parse(&q, root_ns, sizeof(root_ns)) != DNS_PARSE_OK)
			continue;
		struct pending *p = pending_new(f, &q, false);
		if (!p)
			continue;
		p->probe = true;
		p->tried = ~(1u << i);	/* only this one */
		if (!send_try(p))
			pending_free(p);
	}
}

/* ------------------------------------------------------------ lifecycle */

static int open_fd(struct forwarder *f, int family, int idx)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	f->fd[idx] = fd;
	if (fd < 0)
		return 0;	/* no IPv6 here: only matters if an upstream needs it */
	f->ev[idx] = event_new(f->base, fd, EV_READ | EV_PERSIST, udp_cb, f);
	return f->ev[idx] && event_add(f->ev[idx], NULL) == 0 ? 0 : MESHDNS_ENOMEM;
}

struct forwarder *forwarder_create(struct event_base *base, const struct fwd_params *p,
				   fwd_send_cb send, void *arg)
{
	struct forwarder *f = calloc(1, sizeof(*f));
	struct timeval tv = { 0, HEALTH_MS * 1000 };
	uint64_t seed;

	if (!f)
		return NULL;
	f->base = base;
	f->fd[0] = f->fd[1] = -1;
	f->send = send;
	f->arg = arg;
	f->policy = p->policy;
	f->timeout_ms = p->timeout_ms ? p->timeout_ms : 1000;
	f->max_in_flight = p->max_in_flight ? p->max_in_flight : 1024;
	if (f->max_in_flight > FWD_MAX_IN_FLIGHT) {
		/* pending queries are told apart by their 16-bit ID */
		log_warn("forward: max_in_flight %u is above what 16-bit query IDs allow: %u",
			 f->max_in_flight, FWD_MAX_IN_FLIGHT);
		f->max_in_flight = FWD_MAX_IN_FLIGHT;
	}
	f->edns_size = p->edns_size;
	f->n_up = p->n_upstreams < 32 ? p->n_upstreams : 32;
	f->up = calloc(f->n_up ? f->n_up : 1, sizeof(*f->up));
	if (!f->up)
		goto fail;
	for (size_t i = 0; i < f->n_up; i++)
		f->up[i].a = p->upstreams[i];
	/* IDs must not be guessable: seed from the kernel */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = now_us() ^ ((uint64_t)getpid() << 40);
	sel_rng_seed(&f->rng, seed);
	if (p->cache_enabled && !(f->cache = cache_create(&p->cache)))
		goto fail;
	if (open_fd(f, AF_INET, 0) < 0 || open_fd(f, AF_INET6, 1) < 0)
		goto fail;
	f->health = event_new(base, -1, EV_PERSIST, health_cb, f);
	if (!f->health || event_add(f->health, &tv) < 0)
		goto fail;
	return f;
fail:
	forwarder_delete(f);
	return NULL;
}

void forwarder_delete(struct forwarder *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < 65536; i++) {
		if (f->by_id[i])
			pending_free(f->by_id[i]);
	}
	for (int i = 0; i < 2; i++) {
		if (f->ev[i])
			event_free(f->ev[i]);
		if (f->fd[i] >= 0)
			close(f->fd[i]);
	}
	if (f->health)
		event_free(f->health);
	cache_delete(f->cache);
	free(f->up);
	free(f);
}

const struct fwd_stats *forwarder_stats(const struct forwarder *f)
{
	return &f->st;
}

const struct cache_stats *forwarder_cache_stats(const struct forwarder *f)
{
	return f->cache ? cache_stats(f->cache) : NULL;
}

size_t fwd_parse_resolv_conf(const char *text, struct fwd_upstream_addr *out, size_t max)
{
	size_t n = 0;
	const char *line = text;

	while (line && *line && n < max) {
		char addr[INET6_ADDRSTRLEN + 1];
		const char *end = strchr(line, '\n');
		if (sscanf(line, " nameserver %46s", addr) == 1) {
			struct fwd_upstream_addr *u = &out[n];
			memset(u, 0, sizeof(*u));
			struct sockaddr_in *sin = (struct sockaddr_in *)&u->addr;
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&u->addr;
			char *pct = strchr(addr, '%');
			if (pct)
				*pct = '\0';	/* zone ids: not supported */
			if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
				sin->sin_family = AF_INET;
				sin->sin_port = htons(53);
				u->len = sizeof(*sin);
				snprintf(u->text, sizeof(u->text), "%s:53", addr);
				n++;
			} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
				sin6->sin6_family = AF_INET6;
				sin6->sin6_port = htons(53);
				u->len = sizeof(*sin6);
				snprintf(u->text, sizeof(u->text), "[%s]:53", addr);
				n++;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return n;
}
