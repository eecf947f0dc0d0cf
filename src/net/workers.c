/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Worker threads (threads > 1). Each worker has its own UDP socket per
 * listen address (one SO_REUSEPORT group per address: the kernel spreads
 * clients over them) and answers mesh names from the current snapshot
 * with no lock and no allocation. Forwarding, the loop's cache, PTR and
 * _status need the loop thread's state: those datagrams go to it through
 * the worker's defer ring, with one eventfd wakeup per batch at most, and
 * the loop thread offers fresh forwarded answers back through the fill
 * ring for the worker's own cache. TCP stays on the loop thread. The
 * snapshots a worker may be reading are kept alive by reclaim.h.
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "meshdns/cache.h"
#include "meshdns/clock.h"
#include "meshdns/log.h"
#include "meshdns/registry.h"
#include "meshdns/thread.h"
#include "server_int.h"

/* Worker: hand a datagram to the loop thread; a full ring drops it (the
 * client retries, as after any loss). */
void worker_defer(struct worker *w, int fd, const uint8_t *in, size_t len,
		  const struct msghdr *hdr)
{
	int slot = spsc_slot(&w->deferq, RING_SLOTS);

	if (slot < 0) {
		STAT_ADD(w->cx.stats.queries_udp, 1);
		STAT_ADD(w->cx.stats.dropped, 1);
		return;
	}
	struct defer_slot *d = &w->ring[slot];
	d->fd = fd;
	d->len = (uint16_t)len;
	memcpy(d->in, in, len);
	d->namelen = hdr->msg_namelen;
	memcpy(&d->from, hdr->msg_name, d->namelen);
	d->ctl_len = hdr->msg_controllen <= CTL_LEN ? (socklen_t)hdr->msg_controllen : 0;
	memcpy(d->ctl, hdr->msg_control, d->ctl_len);
	spsc_push(&w->deferq);
	w->cx.deferred = true;
}

/* Worker: wake the loop thread for what this batch handed over. */
void workers_notify_loop(struct udp_ctx *cx)
{
	struct dns_server *srv = cx->srv;
	uint64_t one = 1;

	cx->deferred = false;
	if (!__atomic_exchange_n(&srv->notify_pending, 1, __ATOMIC_SEQ_CST) &&
	    write(srv->notify_fd, &one, sizeof(one)) < 0)
		log_debug("workers: notify: %s", strerror(errno));
}

/* The worker that owns UDP socket @p fd, or NULL (the loop's, or gone). */
static struct worker *worker_of_fd(const struct dns_server *srv, int fd)
{
	for (size_t i = 0; i < srv->n_udp; i++) {
		if (srv->udp[i].fd == fd)
			return srv->udp[i].owner ? srv->workers[srv->udp[i].owner - 1] : NULL;
	}
	return NULL;
}

/* Loop thread: offer a fresh forwarded answer to the worker whose client
 * asked (a full ring drops it: the worker asks again next time). */
void workers_fill(const struct dns_server *srv, int fd, const uint8_t *m, size_t len)
{
	struct worker *w = worker_of_fd(srv, fd);
	int slot;

	if (!w || !w->cache || len > UDP_OUT_MAX || (slot = spsc_slot(&w->fillq, FILL_SLOTS)) < 0)
		return;
	struct fill_slot *f = &w->fill[slot];
	memcpy(f->msg, m, len);
	f->len = (uint16_t)len;
	f->at_ms = clock_now_ms();
	spsc_push(&w->fillq);
}

/* Worker: store what the loop thread offered, aged from when it was
 * offered (not from now). The question of each answer, as a query, is the
 * cache key. */
void worker_fill_take(struct worker *w)
{
	uint32_t n = spsc_ready(&w->fillq);

	for (uint32_t i = 0; i < n; i++) {
		const struct fill_slot *f = &w->fill[(w->fillq.head + i) % FILL_SLOTS];
		uint8_t qb[DNS_HDR_LEN + DNS_MAX_NAME + 4];
		struct dns_query q;
		size_t ql = dns_question_end(f->msg, f->len);
		if (!ql || ql > sizeof(qb))
			continue;
		memcpy(qb, f->msg, ql);
		memset(qb + 2, 0, 10);	/* a plain query: QR, flags and counts reset */
		qb[5] = 1;
		if (dns_query_parse(&q, qb, ql) == DNS_PARSE_OK)
			(void)cache_insert(w->cache, &q, f->msg, f->len, f->at_ms);
	}
	spsc_pop(&w->fillq, n);
}

/* Worker: a forwarded name from its own cache. @return reply length or 0 */
size_t worker_cache_hit(struct udp_ctx *cx, uint8_t *out, size_t cap)
{
	const struct dns_query *q = &cx->scratch.q;
	uint16_t edns = cx->srv->edns_size;
	size_t limit = dns_udp_limit(q, edns);
	bool stale;

	size_t n = cache_lookup(cx->w->cache, q, cx->scratch.now_ms, false, out,
				limit < cap ? limit : cap, edns, &stale);
	if (n)
		STAT_ADD(cx->stats.worker_cache_hits, 1);
	return n;
}

/* About to read the snapshot: announce the epoch seen (reclaim.h). */
void worker_online(struct worker *w)
{
	reclaim_online(w->cx.srv->reclaim, w->rd);
}

/*
 * A worker with one socket blocks in recvmmsg() itself (MSG_WAITFORONE):
 * two syscalls per wakeup, no epoll_wait(). With several it waits in
 * epoll_wait(). Either wait ends within WORKER_POLL_MS.
 */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[16];

	while (!__atomic_load_n(&w->stopping, __ATOMIC_ACQUIRE)) {
		reclaim_offline(w->rd);
		if (w->n_fds == 1) {
			udp_serve(&w->cx, w->fd, MSG_WAITFORONE);
			continue;
		}
		int n = epoll_wait(w->epfd, ev, 16, WORKER_POLL_MS);
		if (n < 0 && errno != EINTR) {
			log_err("worker: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			udp_serve(&w->cx, ev[i].data.fd, MSG_DONTWAIT);
	}
	reclaim_offline(w->rd);
	return NULL;
}

/* The loop thread answers what the workers handed over. */
static void drain_rings(struct dns_server *srv)
{
	struct mmsghdr in[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	int fd[UDP_BATCH];

	for (unsigned wi = 0; wi < srv->n_workers; wi++) {
		struct worker *w = srv->workers[wi];
		for (uint32_t n; (n = spsc_ready(&w->deferq)) != 0;) {
			if (n > UDP_BATCH)
				n = UDP_BATCH;
			for (uint32_t i = 0; i < n; i++) {
				struct defer_slot *d = &w->ring[(w->deferq.head + i) % RING_SLOTS];
				iov[i] = (struct iovec){ d->in, d->len };
				in[i].msg_hdr = (struct msghdr){
					.msg_name = &d->from, .msg_namelen = d->namelen,
					.msg_iov = &iov[i], .msg_iovlen = 1,
					.msg_control = d->ctl_len ? d->ctl : NULL,
					.msg_controllen = d->ctl_len,
				};
				in[i].msg_len = d->len;
				fd[i] = d->fd;
			}
			udp_answer(&srv->main, in, fd, (int)n);
			spsc_pop(&w->deferq, n);
		}
	}
}

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_server *srv = arg;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("workers: eventfd: %s", strerror(errno));
	/* cleared before draining: a query queued after this wakes us again.
	 * An exchange, not a store: reading the flag a worker set makes its
	 * ring writes (before it set the flag) visible here. */
	(void)__atomic_exchange_n(&srv->notify_pending, 0, __ATOMIC_SEQ_CST);
	drain_rings(srv);
}

static void retire_cb(void *arg, struct snapshot *old)
{
	struct dns_server *srv = arg;

	reclaim_retire(srv->reclaim, old);
}

bool workers_running(const struct dns_server *srv)
{
	return srv->n_workers && srv->workers[0]->started;
}

void workers_stop(struct dns_server *srv)
{
	THREAD_LOOP_ONLY();
	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (srv->workers[i]->started)
			__atomic_store_n(&srv->workers[i]->stopping, 1, __ATOMIC_RELEASE);
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct worker *w = srv->workers[i];
		if (!w->started)
			continue;
		pthread_join(w->tid, NULL);
		w->started = false;
		w->stopping = 0;
	}
	if (srv->n_workers)
		drain_rings(srv);
}

int workers_start(struct dns_server *srv)
{
	sigset_t all, old;

	THREAD_LOOP_ONLY();
	/* signals are the loop thread's (libevent) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct worker *w = srv->workers[i];
		int r = pthread_create(&w->tid, NULL, worker_main, w);
		if (r) {
			log_err("cannot start worker thread %u: %s", i, strerror(r));
			break;
		}
		w->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		if (!srv->workers[i]->started) {
			workers_stop(srv);
			return -1;
		}
	}
	return 0;
}

/* Worker @p w reads @p fd from now on (blocking, see worker_main; everyone
 * else reads with MSG_DONTWAIT). @return 0 or -1 */
int workers_add_socket(struct worker *w, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	struct timeval tv = { 0, WORKER_POLL_MS * 1000 };

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -1;
	w->fd = fd;
	w->n_fds++;
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static struct worker *worker_create(struct dns_server *srv, unsigned i)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		free(w);
		return NULL;
	}
	w->rd = reclaim_reader_of(srv->reclaim, i);
	udp_ctx_init(&w->cx, srv, w);
	return w;
}

/* @p n workers (not started), the loop's end of their rings, and the
 * registry's retired snapshots kept for them. @return 0 or -1 */
int workers_create(struct dns_server *srv, unsigned n)
{
	srv->workers = calloc(n, sizeof(*srv->workers));
	srv->reclaim = reclaim_create(srv->base, n);
	srv->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!srv->workers || !srv->reclaim || srv->notify_fd < 0)
		return -1;
	for (; srv->n_workers < n; srv->n_workers++) {
		srv->workers[srv->n_workers] = worker_create(srv, srv->n_workers);
		if (!srv->workers[srv->n_workers])
			return -1;
	}
	srv->notify_ev = event_new(srv->base, srv->notify_fd, EV_READ | EV_PERSIST,
				   notify_cb, srv);
	if (!srv->notify_ev || event_add(srv->notify_ev, NULL) < 0)
		return -1;
	registry_set_retire(srv->reg, retire_cb, srv);
	return 0;
}

/* Each worker a share of the cache's entries, fresh answers only (the
 * loop's cache keeps serve-stale). Workers stopped meanwhile.
 * @return 0, or -1 when they did not start again */
int workers_set_cache(struct dns_server *srv, const struct cache_params *p)
{
	struct cache_params cp = *p;
	bool running = workers_running(srv);

	cp.max_entries = cp.max_entries / srv->n_workers > 64 ?
			 cp.max_entries / srv->n_workers : 64;
	cp.stale_s = 0;
	if (running)
		workers_stop(srv);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		cache_delete(srv->workers[i]->cache);
		srv->workers[i]->cache = cache_create(&cp);
	}
	return running ? workers_start(srv) : 0;
}

/* Stopped workers, their state and the snapshots retired for them. */
void workers_delete(struct dns_server *srv)
{
	if (srv->workers)
		registry_set_retire(srv->reg, NULL, NULL);
	reclaim_delete(srv->reclaim);
	srv->reclaim = NULL;
	for (unsigned i = 0; i < srv->n_workers; i++) {
		cache_delete(srv->workers[i]->cache);
		close(srv->workers[i]->epfd);
		free(srv->workers[i]);
	}
	if (srv->notify_ev)
		event_free(srv->notify_ev);
	if (srv->notify_fd >= 0)
		close(srv->notify_fd);
	free(srv->workers);
	srv->workers = NULL;
	srv->n_workers = 0;
}
