/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The DNS server's life: sockets bound at create (UDP per thread, TCP on
 * the loop), settings a reload changes, the forwarder and its answers,
 * counters summed over threads. What happens to one query is in serve.c;
 * server_int.h maps the rest of src/net/.
 */
#include "config.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meshdns/cache.h"
#include "meshdns/forward.h"
#include "meshdns/log.h"
#include "meshdns/thread.h"
#include "server_int.h"

static void set_rrl(struct rrl *rrl, const struct dns_rrl_params *p, unsigned threads)
{
	/* SO_REUSEPORT spreads a client's ports over the threads: each
	 * limits its share */
	uint32_t rate = p->rate;

	if (rate && threads > 1)
		rate = rate / threads ? rate / threads : 1;
	rrl_init(rrl, rate, p->slip, p->ipv4_prefix, p->ipv6_prefix, p->exempt_loopback);
}

/* Settings that a reload may change; workers are stopped meanwhile. */
static void apply_settings(struct dns_server *srv, const struct dns_server_params *p)
{
	set_rrl(&srv->main.rrl, &p->rrl, 1);
	for (unsigned i = 0; i < srv->n_workers; i++)
		set_rrl(&srv->workers[i]->cx.rrl, &p->rrl, srv->n_workers);
	struct config_prefix *a = calloc(p->n_allow ? p->n_allow : 1, sizeof(*a));

	if (a) {
		memcpy(a, p->allow, p->n_allow * sizeof(*a));
		free(srv->allow);
		srv->allow = a;
		srv->n_allow = p->n_allow;
	}
	srv->max_conns = p->tcp_max_connections;
	srv->coalesce_us = p->udp_coalesce_us;
	srv->idle.tv_sec = p->tcp_idle_timeout_ms / 1000;
	srv->idle.tv_usec = (p->tcp_idle_timeout_ms % 1000) * 1000;
}

/* A UDP socket at @p addr (@p l's, or the port its first one got) read by
 * the loop thread (@p owner 0) or by worker owner-1. */
static int add_udp(struct dns_server *srv, const struct config_listen *l,
		   const struct sockaddr_storage *addr, unsigned owner)
{
	struct config_listen bound = *l;
	struct udp_sock *us = &srv->udp[srv->n_udp];

	memcpy(&bound.addr, addr, sizeof(bound.addr));
	us->fd = net_open_socket(&bound, SOCK_DGRAM);
	if (us->fd < 0) {
		log_err("cannot listen on udp %s: %s", l->text, strerror(errno));
		return -1;
	}
	us->srv = srv;
	us->family = l->addr.ss_family;
	us->owner = owner;
	srv->n_udp++;
	if (owner)
		return workers_add_socket(srv->workers[owner - 1], us->fd);
	us->ev = event_new(srv->base, us->fd, EV_READ | EV_PERSIST, udp_read_cb, us);
	if (!us->ev || event_add(us->ev, NULL) < 0)
		return -1;
	return 0;
}

/* One UDP socket per thread and a TCP listener for @p l. */
static int listen_on(struct dns_server *srv, const struct config_listen *l, unsigned threads)
{
	struct sockaddr_storage addr = l->addr;

	for (unsigned t = 0; t < (threads ? threads : 1); t++) {
		if (add_udp(srv, l, &addr, threads ? t + 1 : 0) < 0)
			return -1;
		/* port 0: the others join the port the first one got */
		socklen_t al = sizeof(addr);
		getsockname(srv->udp[srv->n_udp - 1].fd, (struct sockaddr *)&addr, &al);
	}
	return tcp_listen(srv, l);
}

struct dns_server *dns_server_create(struct event_base *base,
				     const struct dns_server_params *p,
				     struct registry *reg)
{
	struct dns_server *srv = calloc(1, sizeof(*srv));
	unsigned threads = p->threads > 1 ? p->threads : 0;

	THREAD_LOOP_ONLY();
	if (!srv)
		return NULL;
	srv->base = base;
	srv->reg = reg;
	srv->notify_fd = -1;
	srv->edns_size = p->edns_size;
	udp_ctx_init(&srv->main, srv, NULL);
	srv->udp = calloc(p->n_listen * (threads ? threads : 1), sizeof(*srv->udp));
	srv->tcp = calloc(p->n_listen, sizeof(*srv->tcp));
	if (!srv->udp || !srv->tcp)
		goto fail;
	if (threads && workers_create(srv, threads) < 0) {
		log_err("cannot create %u worker threads: %s", threads, strerror(errno));
		goto fail;
	}
	apply_settings(srv, p);
	for (size_t i = 0; i < p->n_listen; i++) {
		if (listen_on(srv, &p->listen[i], threads) < 0)
			goto fail;
	}
	return srv;
fail:
	dns_server_delete(srv);
	return NULL;
}

int dns_server_start(struct dns_server *srv)
{
	THREAD_LOOP_ONLY();
	if (!srv->n_workers || workers_running(srv))
		return 0;
	if (workers_start(srv) < 0)
		return MESHDNS_EINVAL;
	log_info("answering UDP with %u worker threads", srv->n_workers);
	return 0;
}

/* Close the UDP sockets and the TCP listeners (not the connections). */
void net_close_listeners(struct dns_server *srv)
{
	for (size_t i = 0; i < srv->n_udp; i++) {
		if (srv->udp[i].ev)
			event_free(srv->udp[i].ev);
		srv->udp[i].ev = NULL;
		close(srv->udp[i].fd);
	}
	srv->n_udp = 0;
	for (size_t i = 0; i < srv->n_tcp; i++)
		evconnlistener_free(srv->tcp[i]);
	srv->n_tcp = 0;
}

void dns_server_delete(struct dns_server *srv)
{
	if (!srv)
		return;
	THREAD_LOOP_ONLY();
	workers_stop(srv);
	forwarder_delete(srv->fwd);
	while (srv->conns)
		tcp_conn_free(srv->conns);
	net_close_listeners(srv);
	workers_delete(srv);
	free(srv->udp);
	free(srv->tcp);
	free(srv->allow);
	free(srv);
}

void dns_server_reconfigure(struct dns_server *srv, const struct dns_server_params *p)
{
	bool running = workers_running(srv);

	THREAD_LOOP_ONLY();
	/* workers read the allow list and their limiter: not while it changes
	 * (their sockets stay open; queries wait in them meanwhile) */
	if (running)
		workers_stop(srv);
	apply_settings(srv, p);
	if (running && workers_start(srv) < 0)
		log_err("workers did not restart: UDP is not being answered");
}

/* A forwarded answer: to a UDP client, or to a TCP connection still open. */
static void fwd_send(void *arg, const struct fwd_reply_to *to, const uint8_t *m, size_t len,
		     bool fresh)
{
	struct dns_server *srv = arg;

	serve_count_forwarded(&srv->main.stats, m, len);
	if (to->tcp) {
		tcp_send_to(srv, to->conn_id, m, len);
		return;
	}
	if (fresh && srv->n_workers)
		workers_fill(srv, to->fd, m, len);
	union {
		struct cmsghdr align;
		uint8_t buf[CTL_LEN];
	} ctl;
	struct msghdr msg = {
		.msg_name = (void *)&to->addr, .msg_namelen = to->addr_len,
		.msg_iov = &(struct iovec){ (void *)m, len }, .msg_iovlen = 1,
	};
	if (to->ctl_len) {
		/* built by udp_reply_ctl() when the query came (serve.c) */
		memcpy(ctl.buf, to->ctl, to->ctl_len);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = to->ctl_len;
	}
	if (sendmsg(to->fd, &msg, 0) < 0)
		STAT_ADD(srv->main.stats.send_errors, 1);
}

int dns_server_set_forwarder(struct dns_server *srv, const struct fwd_params *p)
{
	THREAD_LOOP_ONLY();
	srv->fwd = forwarder_create(srv->base, p, fwd_send, srv);
	srv->main.scratch.forwarding = srv->fwd != NULL;
	__atomic_store_n(&srv->forwarding, srv->fwd != NULL, __ATOMIC_RELAXED);
	if (srv->fwd && p->cache_enabled && srv->n_workers &&
	    workers_set_cache(srv, &p->cache) < 0)
		return MESHDNS_ENOMEM;
	return srv->fwd ? 0 : MESHDNS_ENOMEM;
}

const struct forwarder *dns_server_forwarder(const struct dns_server *srv)
{
	return srv->fwd;
}

void dns_server_set_facts(struct dns_server *srv,
			  size_t (*cb)(void *arg, const struct snap_service *svc,
				       uint32_t ep, char *out, size_t len),
			  void *arg)
{
	srv->main.scratch.facts = cb;
	srv->main.scratch.facts_arg = arg;
}

/* Add @p from's counters (another thread's) to @p to. */
static void stats_add(struct dns_stats *to, const struct dns_stats *from)
{
	uint64_t *t = (uint64_t *)to;
	const uint64_t *f = (const uint64_t *)from;

	_Static_assert(sizeof(struct dns_stats) % sizeof(uint64_t) == 0,
		       "dns_stats holds only uint64_t counters");
	for (size_t i = 0; i < sizeof(*to) / sizeof(*t); i++)
		t[i] += __atomic_load_n(&f[i], __ATOMIC_RELAXED);
}

const struct dns_stats *dns_server_stats(const struct dns_server *srv)
{
	struct dns_server *s = (struct dns_server *)srv;

	THREAD_LOOP_ONLY();
	s->total = srv->main.stats;
	s->total.rate_limited = srv->main.rrl.limited;
	s->total.rate_limit_slipped = srv->main.rrl.slipped;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		const struct udp_ctx *cx = &srv->workers[i]->cx;
		stats_add(&s->total, &cx->stats);
		s->total.rate_limited += __atomic_load_n(&cx->rrl.limited, __ATOMIC_RELAXED);
		s->total.rate_limit_slipped += __atomic_load_n(&cx->rrl.slipped,
							       __ATOMIC_RELAXED);
	}
	return &s->total;
}

unsigned dns_server_threads(const struct dns_server *srv)
{
	return srv->n_workers;
}

uint64_t dns_server_thread_queries(const struct dns_server *srv, unsigned t)
{
	if (t == 0)
		return srv->main.stats.queries_udp;
	if (t > srv->n_workers)
		return 0;
	return __atomic_load_n(&srv->workers[t - 1]->cx.stats.queries_udp, __ATOMIC_RELAXED);
}
