/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Sockets for DNS. UDP replies leave from the address the query came to
 * (IP_PKTINFO / IPV6_PKTINFO), so wildcard binds work on multi-homed
 * nodes. TCP connections are capped and closed when idle; a client that
 * does not read its replies stops being read from. Nothing here allocates
 * per UDP query; TCP allocates only inside libevent's buffers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/filter.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/random.h>

#include "meshdns/cache.h"
#include "meshdns/coalesce.h"
#include "meshdns/clock.h"
#include "meshdns/dns_answer.h"
#include "meshdns/dns_server.h"
#include "meshdns/forward.h"
#include "meshdns/rrl.h"
#include "meshdns/log.h"

#define UDP_BATCH		32	/* datagrams per recvmmsg/sendmmsg */
#define UDP_ROUNDS		4	/* batches per wakeup before yielding */
#define UDP_IN_MAX		4096	/* larger datagrams are no queries */
#define UDP_OUT_MAX		4096	/* edns_buffer_size is at most this */
#define CTL_LEN			CMSG_SPACE(sizeof(struct in6_pktinfo))

struct udp_batch {
	struct mmsghdr msg_in[UDP_BATCH];
	struct mmsghdr msg_out[UDP_BATCH];
	struct iovec iov_in[UDP_BATCH];
	struct iovec iov_out[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	uint8_t ctl_in[UDP_BATCH][CTL_LEN] __attribute__((aligned(8)));
	uint8_t ctl_out[UDP_BATCH][CTL_LEN] __attribute__((aligned(8)));
	uint8_t in[UDP_BATCH][UDP_IN_MAX];
	uint8_t out[UDP_BATCH][UDP_OUT_MAX];
	int filled;			/* slots the last recvmmsg() wrote */
};
#define TCP_BACKLOG		128
#define TCP_OUT_HIGH		(256u << 10)	/* stop reading above this */
#define SOCKET_RCVBUF		(1u << 20)

struct udp_sock {
	struct dns_server *srv;
	int fd;
	int family;
	unsigned owner;			/* 0: the loop thread; else worker owner-1 */
	struct event *ev;		/* loop thread's sockets only */
};

struct tcp_conn {
	struct dns_server *srv;
	struct bufferevent *bev;
	uint64_t id;			/* for answers that come later (forwarding) */
	bool closing;			/* shutting down: close when written */
	struct tcp_conn *prev, *next;
};

/* What one thread that answers UDP owns; nothing in it is shared. */
struct udp_ctx {
	struct dns_server *srv;
	struct worker *w;		/* NULL: the loop thread */
	struct dns_stats stats;		/* written by its thread only */
	struct dns_answer_scratch scratch;
	struct rrl rrl;
	bool deferred;			/* this batch handed queries over */
	bool slack_set;			/* timer slack lowered for naps */
	uint64_t nap_start_ns;		/* the read after a nap: when it began */
	struct coalesce co;		/* udp_coalesce_us */
	struct udp_batch batch;
};

/*
 * The indexes of a single-producer single-consumer ring: the producer
 * owns tail, the consumer head; each publishes its own with a release
 * store and reads the other's with an acquire load, so a slot is written
 * before it is seen and read before it is reused. Slots live beside it.
 */
struct spsc {
	uint32_t head;
	uint32_t tail;
};

/* Producer: the slot to write, or -1 when all @p n slots are taken. */
static int spsc_slot(const struct spsc *r, uint32_t n)
{
	if (r->tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) >= n)
		return -1;
	return (int)(r->tail % n);
}

static void spsc_push(struct spsc *r)
{
	__atomic_store_n(&r->tail, r->tail + 1, __ATOMIC_RELEASE);
}

/* Consumer: slots ready, from head % n on. */
static uint32_t spsc_ready(const struct spsc *r)
{
	return __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) - r->head;
}

static void spsc_pop(struct spsc *r, uint32_t k)
{
	__atomic_store_n(&r->head, r->head + k, __ATOMIC_RELEASE);
}

/*
 * A query a worker hands to the loop thread (forwarding, cache, PTR,
 * _status): the datagram as received, answered later from the same
 * socket. One single-producer single-consumer ring per worker.
 */
#define RING_SLOTS		256
struct defer_slot {
	int fd;
	uint16_t len;
	socklen_t namelen;
	socklen_t ctl_len;
	struct sockaddr_storage from;
	uint8_t ctl[CTL_LEN] __attribute__((aligned(8)));
	uint8_t in[UDP_IN_MAX];
};

#define QS_OFFLINE		UINT64_MAX

/*
 * Answers the loop thread got for a worker's forwarded queries, for the
 * worker's own cache (single producer: the loop; single consumer: the
 * worker). A worker then answers repeated names itself instead of handing
 * every cache hit over.
 */
#define FILL_SLOTS		64
struct fill_slot {
	uint64_t at_ms;			/* when the TTLs in msg were current */
	uint16_t len;
	uint8_t msg[UDP_OUT_MAX];
};

struct worker {
	struct udp_ctx cx;
	struct cache *cache;		/* NULL: no forwarding cache */
	struct spsc fillq;		/* loop thread -> worker */
	struct fill_slot fill[FILL_SLOTS];
	pthread_t tid;
	bool started;
	int stopping;			/* seen within WORKER_POLL_MS */
	int epfd;			/* its sockets, when it has several */
	int fd;				/* its last socket */
	unsigned n_fds;			/* 1: it blocks in recvmmsg() on fd */
	uint64_t qs;			/* epoch seen, or QS_OFFLINE (idle) */
	struct spsc deferq;		/* worker -> loop thread */
	struct defer_slot ring[RING_SLOTS];
};

struct retired {
	struct snapshot *snap;
	uint64_t epoch;
};

struct dns_server {
	struct event_base *base;
	struct registry *reg;
	struct udp_sock *udp;
	size_t n_udp;
	struct evconnlistener **tcp;
	size_t n_tcp;
	struct tcp_conn *conns;
	uint32_t n_conns;
	uint64_t next_conn_id;
	struct forwarder *fwd;
	bool forwarding;		/* read by workers */
	uint32_t max_conns;
	uint16_t edns_size;
	uint32_t coalesce_us;		/* udp_coalesce_us */
	struct config_prefix *allow;
	size_t n_allow;
	struct timeval idle;
	struct udp_ctx main;		/* the loop thread's: UDP, TCP, deferred */
	struct dns_stats total;		/* dns_server_stats() sums here */
	/* worker threads (threads > 1) */
	struct worker **workers;
	unsigned n_workers;
	uint64_t epoch;			/* snapshot retirements so far */
	int notify_fd;			/* eventfd: a ring has queries */
	int notify_pending;
	struct event *notify_ev;
	struct retired *retired;
	size_t n_retired, cap_retired;
	struct event *reclaim_ev;
	uint8_t in[DNS_MAX_MSG];
	uint8_t out[DNS_MAX_MSG];
};

/* One writer per counter (the thread that owns it); /metrics reads them
 * from the loop thread. Plain add, atomic store: no locked instruction. */
#define STAT_ADD(c, n)	__atomic_store_n(&(c), (c) + (uint64_t)(n), __ATOMIC_RELAXED)

const uint32_t dns_lat_bounds_us[DNS_LAT_BUCKETS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 5000, 25000,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool allowed(const struct dns_server *srv, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return config_prefix_match(srv->allow, srv->n_allow, AF_INET,
					   (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr);
	if (ss->ss_family == AF_INET6)
		return config_prefix_match(srv->allow, srv->n_allow, AF_INET6,
					   (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return false;
}

/* @p n answers took @p ns each (a batch shares one clock read). */
static void count_latency_n(struct dns_stats *st, uint64_t ns, unsigned n)
{
	unsigned b = 0;

	while (b < DNS_LAT_BUCKETS && ns > (uint64_t)dns_lat_bounds_us[b] * 1000u)
		b++;
	STAT_ADD(st->lat[b], n);
	STAT_ADD(st->lat_sum_ns, ns * n);
}

static enum dns_stat_qtype stat_qtype(uint16_t t)
{
	switch (t) {
	case DNS_TYPE_A: return DNS_STAT_A;
	case DNS_TYPE_AAAA: return DNS_STAT_AAAA;
	case DNS_TYPE_SRV: return DNS_STAT_SRV;
	case DNS_TYPE_TXT: return DNS_STAT_TXT;
	case DNS_TYPE_SOA: return DNS_STAT_SOA;
	case DNS_TYPE_NS: return DNS_STAT_NS;
	case DNS_TYPE_PTR: return DNS_STAT_PTR;
	case DNS_TYPE_ANY: return DNS_STAT_ANY;
	default: return DNS_STAT_OTHER;
	}
}

static void count_reply(struct dns_stats *st, const struct dns_answer_info *info)
{
	if (info->parse == DNS_PARSE_OK || info->qtype)
		STAT_ADD(st->qtype[stat_qtype(info->qtype)], 1);
	if (info->forward)
		return;		/* counted by count_forwarded() when answered */
	if (!info->answered) {
		STAT_ADD(st->dropped, 1);
		return;
	}
	STAT_ADD(st->rcode[info->rcode < 23 ? info->rcode : 23], 1);
	if (info->parse == DNS_PARSE_FORMERR)
		STAT_ADD(st->formerr, 1);
	if (info->truncated)
		STAT_ADD(st->truncated, 1);
}

/* A forwarded query's reply (from the cache or upstream) by its rcode. */
static void count_forwarded(struct dns_stats *st, const uint8_t *m, size_t len)
{
	if (len >= 4)
		STAT_ADD(st->rcode[m[3] & 15], 1);
}

static void log_bad(const struct dns_answer_info *info, const char *proto,
		    const struct sockaddr *from)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	if (!log_enabled(LOG_LEVEL_DEBUG) || info->parse == DNS_PARSE_OK)
		return;
	if (from->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr,
			  addr, sizeof(addr));
	else if (from->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)from)->sin6_addr,
			  addr, sizeof(addr));
	static const char *const what[] = {
		[DNS_PARSE_OK] = "ok", [DNS_PARSE_DROP] = "dropped (no header or not a query)",
		[DNS_PARSE_FORMERR] = "FORMERR", [DNS_PARSE_NOTIMP] = "NOTIMP (opcode)",
		[DNS_PARSE_BADVERS] = "BADVERS (EDNS version)",
	};
	log_debug("bad query over %s from %s: %s", proto, addr, what[info->parse]);
}

/* ------------------------------------------------------------ UDP */

/*
 * Cut a reply down to its header (TC set, no records) and its question:
 * a rate-limited client that is real retries over TCP; a spoofed victim
 * gets a few bytes.
 */
static size_t slip_reply(uint8_t *o, size_t len)
{
	size_t p = rd16(o + 4) == 1 ? dns_question_end(o, len) : 0;

	if (!p)
		p = DNS_HDR_LEN;
	o[2] |= DNS_FLAG_TC >> 8;
	o[4] = 0;
	o[5] = p > DNS_HDR_LEN;
	memset(o + 6, 0, 6);
	return p;
}

/* Copy a received IP_PKTINFO / IPV6_PKTINFO into a cmsg for the reply. */
static size_t reply_ctl(struct msghdr *msg, uint8_t *ctl_out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)) {
			size_t l = c->cmsg_len - CMSG_LEN(0);
			struct cmsghdr *o = (struct cmsghdr *)ctl_out;
			memset(ctl_out, 0, CTL_LEN);
			o->cmsg_level = c->cmsg_level;
			o->cmsg_type = c->cmsg_type;
			o->cmsg_len = CMSG_LEN(l);
			memcpy(CMSG_DATA(o), CMSG_DATA(c), l);
			if (c->cmsg_level == IPPROTO_IP)
				((struct in_pktinfo *)CMSG_DATA(o))->ipi_ifindex = 0;
			return CMSG_SPACE(l);
		}
	}
	return 0;
}

/* @return the length of a cache hit written to @p out (0: answered later) */
static size_t forward_udp(struct udp_ctx *cx, int fd, struct mmsghdr *m, uint8_t *out,
			  size_t cap)
{
	struct dns_server *srv = cx->srv;
	struct fwd_reply_to to = { .tcp = false, .fd = fd,
				   .addr_len = m->msg_hdr.msg_namelen };
	const struct dns_query *q = &cx->scratch.q;
	size_t limit = dns_udp_limit(q, srv->edns_size);

	union {
		struct cmsghdr align;
		uint8_t buf[CTL_LEN];
	} ctl;

	memcpy(&to.addr, m->msg_hdr.msg_name, m->msg_hdr.msg_namelen);
	/* the reply's control message, ready to send later (fwd_send) */
	to.ctl_len = reply_ctl(&m->msg_hdr, ctl.buf);
	memcpy(to.ctl, ctl.buf, to.ctl_len);
	return forwarder_query(srv->fwd, q, &to, limit, cx->scratch.now_ms, out, cap);
}

/* A worker hands a datagram to the loop thread; a full ring drops it
 * (the client retries, as after any loss). */
static void defer_query(struct worker *w, int fd, const struct mmsghdr *m)
{
	int slot = spsc_slot(&w->deferq, RING_SLOTS);

	if (slot < 0) {
		STAT_ADD(w->cx.stats.queries_udp, 1);
		STAT_ADD(w->cx.stats.dropped, 1);
		return;
	}
	struct defer_slot *d = &w->ring[slot];
	d->fd = fd;
	d->len = (uint16_t)m->msg_len;
	memcpy(d->in, m->msg_hdr.msg_iov->iov_base, m->msg_len);
	d->namelen = m->msg_hdr.msg_namelen;
	memcpy(&d->from, m->msg_hdr.msg_name, d->namelen);
	d->ctl_len = m->msg_hdr.msg_controllen <= CTL_LEN ? (socklen_t)m->msg_hdr.msg_controllen : 0;
	memcpy(d->ctl, m->msg_hdr.msg_control, d->ctl_len);
	spsc_push(&w->deferq);
	w->cx.deferred = true;
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
static void fill_worker(const struct dns_server *srv, int fd, const uint8_t *m, size_t len)
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
static void fill_take(struct worker *w)
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
static size_t worker_cache_hit(struct udp_ctx *cx, uint8_t *out, size_t cap)
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

/*
 * Answer @p got datagrams (in[i] came to socket fd[i]) and send the
 * answers with sendmmsg(), one call per run of the same socket. A worker
 * hands what only the loop thread can answer over instead.
 */
static void udp_answer(struct udp_ctx *cx, struct mmsghdr *in, const int *fd, int got)
{
	struct dns_server *srv = cx->srv;
	struct udp_batch *b = &cx->batch;
	const struct snapshot *snap = registry_snapshot(srv->reg);
	int out_fd[UDP_BATCH];
	int k = 0;

	if (cx->w)
		cx->scratch.forwarding = __atomic_load_n(&srv->forwarding, __ATOMIC_RELAXED);
	cx->scratch.now_ms = clock_now_ms();
	if (cx->w && cx->w->cache)
		fill_take(cx->w);
	/* after a nap, from when it began: these queries may have waited
	 * in the socket that long (an upper bound, never an understatement) */
	uint64_t t0 = cx->nap_start_ns ? cx->nap_start_ns : now_ns();
	cx->nap_start_ns = 0;
	for (int i = 0; i < got; i++) {
		struct mmsghdr *m = &in[i];
		struct sockaddr_storage *from = m->msg_hdr.msg_name;
		struct dns_answer_info info;
		if (m->msg_hdr.msg_flags & MSG_TRUNC) {
			STAT_ADD(cx->stats.queries_udp, 1);
			STAT_ADD(cx->stats.dropped, 1);	/* bigger than any query */
			continue;
		}
		cx->scratch.refuse = !allowed(srv, from);
		size_t out_len = dns_answer(snap, m->msg_hdr.msg_iov->iov_base, m->msg_len,
					    false, b->out[k], sizeof(b->out[k]),
					    &cx->scratch, &info);
		if (info.defer) {
			/* a worker: its own cache, else the loop thread */
			if (info.forward && cx->w->cache)
				out_len = worker_cache_hit(cx, b->out[k], sizeof(b->out[k]));
			if (!out_len) {
				defer_query(cx->w, fd[i], m);
				continue;
			}
		} else if (info.forward && srv->fwd) {
			out_len = forward_udp(cx, fd[i], m, b->out[k], sizeof(b->out[k]));
			if (out_len && srv->n_workers)
				fill_worker(srv, fd[i], b->out[k], out_len);
		}
		STAT_ADD(cx->stats.queries_udp, 1);
		STAT_ADD(cx->stats.refused_clients, cx->scratch.refuse);
		count_reply(&cx->stats, &info);
		if (info.forward)
			count_forwarded(&cx->stats, b->out[k], out_len);
		log_bad(&info, "udp", (struct sockaddr *)from);
		if (!out_len)
			continue;
		enum rrl_verdict v = rrl_check(&cx->rrl, from, cx->scratch.now_ms);
		if (v == RRL_DROP)
			continue;
		if (v == RRL_SLIP)
			out_len = slip_reply(b->out[k], out_len);
		/* answer from the address the query was sent to */
		b->iov_out[k] = (struct iovec){ b->out[k], out_len };
		b->msg_out[k].msg_hdr = (struct msghdr){
			.msg_name = from, .msg_namelen = m->msg_hdr.msg_namelen,
			.msg_iov = &b->iov_out[k], .msg_iovlen = 1,
		};
		size_t cl = reply_ctl(&m->msg_hdr, b->ctl_out[k]);
		if (cl) {
			b->msg_out[k].msg_hdr.msg_control = b->ctl_out[k];
			b->msg_out[k].msg_hdr.msg_controllen = cl;
		}
		out_fd[k++] = fd[i];
	}
	for (int sent = 0; sent < k;) {
		int run = 1;
		while (sent + run < k && out_fd[sent + run] == out_fd[sent])
			run++;
		int r = sendmmsg(out_fd[sent], b->msg_out + sent, (unsigned)run, 0);
		if (r <= 0) {
			/* a full socket buffer: these answers are lost, as a
			 * router would drop them; clients retry */
			STAT_ADD(cx->stats.send_errors, run);
			r = run;
		}
		sent += r;
	}
	if (k)
		count_latency_n(&cx->stats, now_ns() - t0, (unsigned)k);
}

static void worker_online(struct worker *w);

/* One recvmmsg() on @p fd (@p flags: MSG_DONTWAIT, or MSG_WAITFORONE to
 * block for the first datagram), answered. @return datagrams read */
static int udp_recv(struct udp_ctx *cx, int fd, int flags)
{
	struct udp_batch *b = &cx->batch;
	int fds[UDP_BATCH];

	/* the kernel wrote the lengths of the slots it filled last time */
	for (int i = 0; i < b->filled; i++) {
		b->msg_in[i].msg_hdr.msg_namelen = sizeof(b->from[i]);
		b->msg_in[i].msg_hdr.msg_controllen = CTL_LEN;
	}
	int got = recvmmsg(fd, b->msg_in, UDP_BATCH, flags, NULL);
	b->filled = got > 0 ? got : 0;
	if (got <= 0)
		return 0;	/* EAGAIN, or an ICMP error queued on the socket */
	for (int i = 0; i < got; i++)
		fds[i] = fd;
	if (cx->w)
		worker_online(cx->w);	/* before it loads the snapshot */
	udp_answer(cx, b->msg_in, fds, got);
	return got;
}

/* ------------------------------------------------------------ workers */

/*
 * With threads > 1, each worker has its own UDP socket per listen address
 * (one SO_REUSEPORT group per address: the kernel spreads clients over
 * them) and its own epoll loop, and answers mesh names from the current
 * snapshot with no lock and no allocation. Forwarding, the cache, PTR and
 * _status need the loop thread's state: those datagrams go to it through
 * the worker's ring, with one eventfd wakeup per batch at most. TCP stays
 * on the loop thread.
 *
 * Snapshot reclamation (quiescent-state based): each publish bumps
 * srv->epoch and retires the old snapshot with the new epoch. A worker
 * stores the epoch it has seen (qs) before it loads the snapshot for a
 * batch, and QS_OFFLINE while it sleeps in epoll_wait(), when it holds
 * none. A retired snapshot is deleted once every worker is offline or has
 * seen its epoch. All of these are seq_cst, so a worker that saw epoch e
 * also sees the snapshot published before e.
 */
static void notify_loop(struct udp_ctx *cx)
{
	struct dns_server *srv = cx->srv;
	uint64_t one = 1;

	cx->deferred = false;
	if (!__atomic_exchange_n(&srv->notify_pending, 1, __ATOMIC_SEQ_CST) &&
	    write(srv->notify_fd, &one, sizeof(one)) < 0)
		log_debug("workers: notify: %s", strerror(errno));
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleep @p us between reads (udp_coalesce_us; see coalesce.h). */
static void nap(struct udp_ctx *cx, uint32_t us)
{
	struct timespec ts = { 0, (long)us * 1000 };

	/* the default slack (50 us) would stretch a 100 us nap by half */
	if (!cx->slack_set)
		cx->slack_set = prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0) == 0;
	cx->nap_start_ns = now_ns();
	nanosleep(&ts, NULL);
	STAT_ADD(cx->stats.udp_naps, 1);
}

/*
 * UDP: up to UDP_BATCH datagrams per recvmmsg(), their answers out in one
 * sendmmsg() (two syscalls per batch instead of two per query), full
 * batches back to back (UDP_ROUNDS at most, so that TCP and timers get
 * their turn), and with udp_coalesce_us at most one nap after a partial
 * batch when the controller says so (see coalesce.h).
 */
static void udp_serve(struct udp_ctx *cx, int fd, int flags)
{
	uint32_t budget = cx->srv->coalesce_us;
	unsigned before = 0, after = 0;
	bool napped = false;

	if (budget) {
		uint64_t now = now_ns();
		if (coalesce_window_due(&cx->co, now))
			coalesce_window_end(&cx->co, now, thread_cpu_ns(), budget);
	}
	for (int round = 0; round < UDP_ROUNDS; flags = MSG_DONTWAIT) {
		int got = udp_recv(cx, fd, flags);
		if (cx->deferred)
			notify_loop(cx);
		if (napped)
			after += (unsigned)got;
		else
			before += (unsigned)got;
		if (got == UDP_BATCH) {
			round++;
			continue;
		}
		uint32_t us = got && budget && !napped ?
			      coalesce_nap_us(&cx->co, budget, UDP_BATCH) : 0;
		if (!us)
			break;
		nap(cx, us);
		napped = true;
	}
	if (!budget)
		return;
	coalesce_count(&cx->co, before + after);
	if (napped)
		coalesce_nap_done(&cx->co, before, after);
}

static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock *us = arg;

	udp_serve(&us->srv->main, fd, MSG_DONTWAIT);
}

/* About to read the snapshot: announce the epoch seen (see above). The
 * fence orders the announcement before the snapshot load (store-load). */
static void worker_online(struct worker *w)
{
	__atomic_store_n(&w->qs, __atomic_load_n(&w->cx.srv->epoch, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Done with the snapshot until the next wakeup. */
static void worker_offline(struct worker *w)
{
	__atomic_store_n(&w->qs, QS_OFFLINE, __ATOMIC_RELEASE);
}

/*
 * A worker with one socket blocks in recvmmsg() itself (MSG_WAITFORONE):
 * two syscalls per wakeup, no epoll_wait(). With several it waits in
 * epoll_wait(). Either wait ends within WORKER_POLL_MS (the socket's
 * receive timeout, epoll's timeout) so that a stop is noticed.
 */
#define WORKER_POLL_MS	20

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[16];

	while (!__atomic_load_n(&w->stopping, __ATOMIC_ACQUIRE)) {
		worker_offline(w);
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
	worker_offline(w);
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

/* The oldest epoch a worker may still be reading a snapshot of. */
static uint64_t oldest_held(const struct dns_server *srv)
{
	uint64_t seen = UINT64_MAX;

	for (unsigned i = 0; i < srv->n_workers; i++) {
		uint64_t qs = __atomic_load_n(&srv->workers[i]->qs, __ATOMIC_SEQ_CST);
		if (qs < seen)
			seen = qs;
	}
	return seen;
}

/* Delete the retired snapshots no worker can be reading any more. */
static void reclaim(struct dns_server *srv)
{
	uint64_t seen = oldest_held(srv);
	size_t keep = 0;

	for (size_t i = 0; i < srv->n_retired; i++) {
		if (srv->retired[i].epoch <= seen)
			snapshot_delete(srv->retired[i].snap);
		else
			srv->retired[keep++] = srv->retired[i];
	}
	srv->n_retired = keep;
	if (keep && !evtimer_pending(srv->reclaim_ev, NULL)) {
		struct timeval tv = { 0, 1000 };
		evtimer_add(srv->reclaim_ev, &tv);
	}
}

static void reclaim_cb(evutil_socket_t fd, short what, void *arg)
{
	reclaim(arg);
}

static void retire_cb(void *arg, struct snapshot *old)
{
	struct dns_server *srv = arg;
	uint64_t e = __atomic_add_fetch(&srv->epoch, 1, __ATOMIC_SEQ_CST);

	if (srv->n_retired == srv->cap_retired) {
		size_t cap = srv->cap_retired ? 2 * srv->cap_retired : 16;
		struct retired *r = realloc(srv->retired, cap * sizeof(*r));
		if (!r) {
			/* no room to wait: wait here until no worker holds it */
			while (oldest_held(srv) < e)
				sched_yield();
			snapshot_delete(old);
			return;
		}
		srv->retired = r;
		srv->cap_retired = cap;
	}
	srv->retired[srv->n_retired++] = (struct retired){ old, e };
	reclaim(srv);
}

static bool workers_running(const struct dns_server *srv)
{
	return srv->n_workers && srv->workers[0]->started;
}

static void workers_stop(struct dns_server *srv)
{
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

static int workers_start(struct dns_server *srv)
{
	sigset_t all, old;

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

static int set_pktinfo(int fd, int family, const struct sockaddr_storage *ss)
{
	int one = 1;

	/* Only wildcard sockets need it: a specific bind answers from itself. */
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		if (sin->sin_addr.s_addr != htonl(INADDR_ANY))
			return 0;
		return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	const struct sockaddr_in6 *sin6 = (const void *)ss;
	if (!IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
		return 0;
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
}

static int open_socket(const struct config_listen *l, int type)
{
	int family = l->addr.ss_family, one = 1;
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* a new instance can bind beside us; see dns_server_handover() */
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		int size = SOCKET_RCVBUF;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		if (set_pktinfo(fd, family, &l->addr) < 0)
			goto fail;
	}
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

/* ------------------------------------------------------------ TCP */

static void conn_free(struct tcp_conn *c)
{
	struct dns_server *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	bufferevent_free(c->bev);
	free(c);
}

/* One message out on a connection, with its two-byte length (RFC 1035). */
static void tcp_send(struct tcp_conn *c, const uint8_t *m, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add(out, hdr, 2);
	evbuffer_add(out, m, len);
}

static void tcp_read_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct dns_server *srv = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);

	/* Answer every complete message; pipelining is allowed (RFC 7766). */
	while (evbuffer_get_length(in) >= 2) {
		uint8_t lenb[2];
		struct dns_answer_info info;
		struct sockaddr_storage peer;
		socklen_t pl = sizeof(peer);

		evbuffer_copyout(in, lenb, 2);
		size_t len = rd16(lenb);
		if (len == 0) {
			conn_free(c);
			return;
		}
		if (evbuffer_get_length(in) < 2 + len)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, srv->in, len);
		srv->main.scratch.now_ms = clock_now_ms();
		srv->main.scratch.refuse = false;	/* checked at accept */
		uint64_t t0 = now_ns();
		srv->main.stats.queries_tcp++;
		size_t out_len = dns_answer(registry_snapshot(srv->reg), srv->in, len,
					    true, srv->out, sizeof(srv->out),
					    &srv->main.scratch, &info);
		count_reply(&srv->main.stats, &info);
		if (getpeername(bufferevent_getfd(bev), (struct sockaddr *)&peer, &pl) == 0)
			log_bad(&info, "tcp", (struct sockaddr *)&peer);
		if (info.forward && srv->fwd) {
			struct fwd_reply_to to = { .tcp = true, .conn_id = c->id };
			out_len = forwarder_query(srv->fwd, &srv->main.scratch.q, &to, DNS_MAX_MSG,
						  srv->main.scratch.now_ms, srv->out, sizeof(srv->out));
			count_forwarded(&srv->main.stats, srv->out, out_len);
		}
		if (!out_len)
			continue;
		tcp_send(c, srv->out, out_len);
		count_latency_n(&srv->main.stats, now_ns() - t0, 1);
		if (evbuffer_get_length(out) > TCP_OUT_HIGH) {
			/* The client is not reading: stop reading from it. */
			bufferevent_disable(bev, EV_READ);
			break;
		}
	}
}

static void tcp_write_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	if (c->closing) {
		conn_free(c);	/* everything asked has been answered */
		return;
	}
	/* The output drained: resume reading, and answer what is waiting. */
	if (bufferevent_get_enabled(bev) & EV_READ)
		return;
	bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)) >= 2)
		tcp_read_cb(bev, arg);
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		c->srv->main.stats.tcp_timeouts++;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
}

static void tcp_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
			  struct sockaddr *addr, int socklen, void *arg)
{
	struct dns_server *srv = arg;
	struct tcp_conn *c;

	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, (size_t)socklen < sizeof(ss) ? (size_t)socklen : sizeof(ss));
	if (!allowed(srv, &ss)) {
		srv->main.stats.refused_clients++;
		close(fd);	/* not a client we serve */
		return;
	}
	if (srv->n_conns >= srv->max_conns) {
		srv->main.stats.tcp_rejected++;
		log_debug("tcp: %u connections open, closing a new one", srv->n_conns);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	c->id = ++srv->next_conn_id;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	srv->main.stats.tcp_accepted++;
	bufferevent_setcb(c->bev, tcp_read_cb, tcp_write_cb, tcp_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 2, DNS_MAX_MSG + 2);
	bufferevent_set_timeouts(c->bev, &srv->idle, &srv->idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void tcp_error_cb(struct evconnlistener *l, void *arg)
{
	/* EMFILE and friends: keep going; the backlog waits for us. */
	log_warn("tcp accept: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* ------------------------------------------------------------ lifecycle */

static void set_rrl(struct rrl *rrl, const struct config *cfg, unsigned threads)
{
	/* SO_REUSEPORT spreads a client's ports over the threads: each
	 * limits its share */
	uint32_t rate = cfg->rrl_rate;

	if (rate && threads > 1)
		rate = rate / threads ? rate / threads : 1;
	rrl_init(rrl, rate, cfg->rrl_slip, (uint8_t)cfg->rrl_ipv4_prefix,
		 (uint8_t)cfg->rrl_ipv6_prefix, cfg->rrl_exempt_loopback);
}

/* Settings that a reload may change; workers are stopped meanwhile. */
static void apply_settings(struct dns_server *srv, const struct config *cfg)
{
	set_rrl(&srv->main.rrl, cfg, 1);
	for (unsigned i = 0; i < srv->n_workers; i++)
		set_rrl(&srv->workers[i]->cx.rrl, cfg, srv->n_workers);
	struct config_prefix *a = calloc(cfg->n_allow ? cfg->n_allow : 1, sizeof(*a));

	if (a) {
		memcpy(a, cfg->allow, cfg->n_allow * sizeof(*a));
		free(srv->allow);
		srv->allow = a;
		srv->n_allow = cfg->n_allow;
	}
	srv->max_conns = cfg->tcp_max_connections;
	srv->coalesce_us = cfg->udp_coalesce_us;
	srv->idle.tv_sec = cfg->tcp_idle_timeout_ms / 1000;
	srv->idle.tv_usec = (cfg->tcp_idle_timeout_ms % 1000) * 1000;
}

static void ctx_init(struct udp_ctx *cx, struct dns_server *srv, struct worker *w)
{
	/* seeded once; the selector draws from it without syscalls */
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = clock_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)cx;
	sel_rng_seed(&cx->scratch.rng, seed);
	cx->srv = srv;
	cx->w = w;
	cx->scratch.worker = w != NULL;
	/* receive headers point at their slots for good (see udp_recv) */
	struct udp_batch *b = &cx->batch;
	for (int i = 0; i < UDP_BATCH; i++) {
		b->iov_in[i] = (struct iovec){ b->in[i], sizeof(b->in[i]) };
		b->msg_in[i].msg_hdr = (struct msghdr){
			.msg_name = &b->from[i], .msg_namelen = sizeof(b->from[i]),
			.msg_iov = &b->iov_in[i], .msg_iovlen = 1,
			.msg_control = b->ctl_in[i], .msg_controllen = CTL_LEN,
		};
	}
	b->filled = 0;
	coalesce_init(&cx->co, now_ns());
}

static int add_udp(struct dns_server *srv, const struct config_listen *l,
		   const struct sockaddr_storage *addr, unsigned owner)
{
	struct config_listen bound = *l;
	struct udp_sock *us = &srv->udp[srv->n_udp];

	memcpy(&bound.addr, addr, sizeof(bound.addr));
	us->fd = open_socket(&bound, SOCK_DGRAM);
	if (us->fd < 0) {
		log_err("cannot listen on udp %s: %s", l->text, strerror(errno));
		return -1;
	}
	us->srv = srv;
	us->family = l->addr.ss_family;
	us->owner = owner;
	srv->n_udp++;
	if (owner) {
		struct worker *w = srv->workers[owner - 1];
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = us->fd };
		/* blocking reads by the worker (see worker_main); everyone
		 * else reads with MSG_DONTWAIT */
		struct timeval tv = { 0, WORKER_POLL_MS * 1000 };
		if (fcntl(us->fd, F_SETFL, fcntl(us->fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
		    setsockopt(us->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
			return -1;
		w->fd = us->fd;
		w->n_fds++;
		return epoll_ctl(w->epfd, EPOLL_CTL_ADD, us->fd, &ev);
	}
	us->ev = event_new(srv->base, us->fd, EV_READ | EV_PERSIST, udp_read_cb, us);
	if (!us->ev || event_add(us->ev, NULL) < 0)
		return -1;
	return 0;
}

static struct worker *worker_create(struct dns_server *srv)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0) {
		free(w);
		return NULL;
	}
	w->qs = QS_OFFLINE;
	ctx_init(&w->cx, srv, w);
	return w;
}

static int workers_create(struct dns_server *srv, unsigned n)
{
	srv->workers = calloc(n, sizeof(*srv->workers));
	srv->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!srv->workers || srv->notify_fd < 0)
		return -1;
	for (; srv->n_workers < n; srv->n_workers++) {
		srv->workers[srv->n_workers] = worker_create(srv);
		if (!srv->workers[srv->n_workers])
			return -1;
	}
	srv->notify_ev = event_new(srv->base, srv->notify_fd, EV_READ | EV_PERSIST,
				   notify_cb, srv);
	srv->reclaim_ev = evtimer_new(srv->base, reclaim_cb, srv);
	if (!srv->notify_ev || !srv->reclaim_ev || event_add(srv->notify_ev, NULL) < 0)
		return -1;
	registry_set_retire(srv->reg, retire_cb, srv);
	return 0;
}

struct dns_server *dns_server_create(struct event_base *base,
				     const struct config *cfg,
				     struct registry *reg)
{
	struct dns_server *srv = calloc(1, sizeof(*srv));
	unsigned threads = cfg->threads > 1 ? cfg->threads : 0;

	if (!srv)
		return NULL;
	srv->base = base;
	srv->reg = reg;
	srv->notify_fd = -1;
	srv->edns_size = cfg->edns_buffer_size;
	ctx_init(&srv->main, srv, NULL);
	srv->udp = calloc(cfg->n_listen * (threads ? threads : 1), sizeof(*srv->udp));
	srv->tcp = calloc(cfg->n_listen, sizeof(*srv->tcp));
	if (!srv->udp || !srv->tcp)
		goto fail;
	if (threads && workers_create(srv, threads) < 0) {
		log_err("cannot create %u worker threads: %s", threads, strerror(errno));
		goto fail;
	}
	apply_settings(srv, cfg);
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct config_listen *l = &cfg->listen[i];
		struct sockaddr_storage addr = l->addr;
		int fd;

		for (unsigned t = 0; t < (threads ? threads : 1); t++) {
			if (add_udp(srv, l, &addr, threads ? t + 1 : 0) < 0)
				goto fail;
			/* port 0: the others join the port the first one got */
			socklen_t al = sizeof(addr);
			getsockname(srv->udp[srv->n_udp - 1].fd, (struct sockaddr *)&addr, &al);
		}

		fd = open_socket(l, SOCK_STREAM);
		if (fd < 0) {
			log_err("cannot listen on tcp %s: %s", l->text, strerror(errno));
			goto fail;
		}
		srv->tcp[srv->n_tcp] = evconnlistener_new(base, tcp_accept_cb, srv,
							  LEV_OPT_CLOSE_ON_FREE,
							  TCP_BACKLOG, fd);
		if (!srv->tcp[srv->n_tcp]) {
			log_err("cannot listen on tcp %s: %s", l->text, strerror(errno));
			close(fd);
			goto fail;
		}
		evconnlistener_set_error_cb(srv->tcp[srv->n_tcp], tcp_error_cb);
		srv->n_tcp++;
	}
	return srv;
fail:
	dns_server_delete(srv);
	return NULL;
}

int dns_server_start(struct dns_server *srv)
{
	if (!srv->n_workers || workers_running(srv))
		return 0;
	if (workers_start(srv) < 0)
		return MESHDNS_EINVAL;
	log_info("answering UDP with %u worker threads", srv->n_workers);
	return 0;
}

static void close_udp(struct dns_server *srv)
{
	for (size_t i = 0; i < srv->n_udp; i++) {
		if (srv->udp[i].ev)
			event_free(srv->udp[i].ev);
		srv->udp[i].ev = NULL;
		close(srv->udp[i].fd);
	}
	srv->n_udp = 0;
}

void dns_server_delete(struct dns_server *srv)
{
	if (!srv)
		return;
	workers_stop(srv);
	forwarder_delete(srv->fwd);
	while (srv->conns)
		conn_free(srv->conns);
	close_udp(srv);
	for (size_t i = 0; i < srv->n_tcp; i++)
		evconnlistener_free(srv->tcp[i]);
	if (srv->workers) {
		registry_set_retire(srv->reg, NULL, NULL);
		for (size_t i = 0; i < srv->n_retired; i++)
			snapshot_delete(srv->retired[i].snap);
		for (unsigned i = 0; i < srv->n_workers; i++) {
			cache_delete(srv->workers[i]->cache);
			close(srv->workers[i]->epfd);
			free(srv->workers[i]);
		}
	}
	if (srv->notify_ev)
		event_free(srv->notify_ev);
	if (srv->reclaim_ev)
		event_free(srv->reclaim_ev);
	if (srv->notify_fd >= 0)
		close(srv->notify_fd);
	free(srv->retired);
	free(srv->workers);
	free(srv->udp);
	free(srv->tcp);
	free(srv->allow);
	free(srv);
}

void dns_server_reconfigure(struct dns_server *srv, const struct config *cfg)
{
	bool running = workers_running(srv);

	/* workers read the allow list and their limiter: not while it changes
	 * (their sockets stay open; queries wait in them meanwhile) */
	if (running)
		workers_stop(srv);
	apply_settings(srv, cfg);
	if (running && workers_start(srv) < 0)
		log_err("workers did not restart: UDP is not being answered");
}

/* ------------------------------------------------------------ handover */

/*
 * Is a UDP socket other than ours (inodes @p self) bound to @p ss's
 * address and port, or, with @p wildcard, to the wildcard address on that
 * port? /proc/net/udp{,6} lists every socket with its local address, as
 * the kernel prints it (IPv4 as a host-order u32), and its inode.
 */
static bool udp_bound(const struct sockaddr_storage *ss, const unsigned long *self,
		      size_t n_self, bool wildcard)
{
	const char *file = ss->ss_family == AF_INET ? "/proc/net/udp" : "/proc/net/udp6";
	char line[512], want[64], any[64];
	bool found = false;
	FILE *f;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		snprintf(want, sizeof(want), "%08X:%04X", sin->sin_addr.s_addr, ntohs(sin->sin_port));
		snprintf(any, sizeof(any), "00000000:%04X", ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		const uint32_t *w = (const uint32_t *)&sin6->sin6_addr;
		snprintf(want, sizeof(want), "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3],
			 ntohs(sin6->sin6_port));
		snprintf(any, sizeof(any), "%032d:%04X", 0, ntohs(sin6->sin6_port));
	}
	f = fopen(file, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned long inode;
		if (sscanf(line, " %*d: %63s %*s %*x %*s %*s %*s %*d %*d %lu", local, &inode) != 2)
			continue;
		if (strcmp(local, want) != 0 && !(wildcard && strcmp(local, any) == 0))
			continue;
		found = true;
		for (size_t i = 0; i < n_self; i++)
			found &= inode != self[i];
	}
	fclose(f);
	return found;
}

bool dns_server_addresses_in_use(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (udp_bound(&cfg->listen[i].addr, NULL, 0, true))
			return true;
	}
	return false;
}

/* Has another process (a new meshdns) bound each of our UDP addresses? */
bool dns_server_successor_ready(const struct dns_server *srv)
{
	unsigned long self[srv->n_udp ? srv->n_udp : 1];
	struct stat st;

	for (size_t i = 0; i < srv->n_udp; i++)
		self[i] = fstat(srv->udp[i].fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
	for (size_t i = 0; i < srv->n_udp; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(srv->udp[i].fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    !udp_bound(&ss, self, srv->n_udp, false))
			return false;
	}
	return srv->n_udp > 0;
}

/*
 * Steer the reuseport group to the successor's first socket: a group
 * indexes its sockets in the order they joined, so ours come first
 * (@p ours of them) and the successor's next. An index that does not
 * exist makes the kernel fall back to its hash, so with no successor
 * nothing changes, and once we are gone the successor's sockets share the
 * load again.
 */
static void steer_away(int fd, unsigned ours)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, ours) };
	struct sock_fprog prog = { 1, code };

	setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

void dns_server_handover(struct dns_server *srv)
{
	unsigned per_addr = srv->n_workers ? srv->n_workers : 1;

	/* new queries go to the successor from now on; answer what is
	 * queued here, then close (a closed reuseport socket drops its queue) */
	for (size_t i = 0; i < srv->n_udp; i++)
		steer_away(srv->udp[i].fd, per_addr);
	for (size_t i = 0; i < srv->n_tcp; i++)
		steer_away(evconnlistener_get_fd(srv->tcp[i]), 1);
	workers_stop(srv);
	for (size_t i = 0; i < srv->n_udp; i++) {
		udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
		/* datagrams hashed to us just before the steering */
		udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
	}
	dns_server_stop_listening(srv);
}

void dns_server_stop_listening(struct dns_server *srv)
{
	workers_stop(srv);
	for (size_t i = 0; i < srv->n_udp; i++) {
		/* whatever is still queued gets its answer */
		for (int k = 0; k < 1000; k++) {
			uint64_t before = srv->main.stats.queries_udp;
			udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
			if (srv->main.stats.queries_udp - before < UDP_BATCH * UDP_ROUNDS)
				break;
		}
	}
	close_udp(srv);
	for (size_t i = 0; i < srv->n_tcp; i++)
		evconnlistener_free(srv->tcp[i]);
	srv->n_tcp = 0;
	/* open connections finish the queries they sent, then close */
	for (struct tcp_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		c->closing = true;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_free(c);
	}
}

size_t dns_server_busy_connections(const struct dns_server *srv)
{
	size_t n = 0;

	for (struct tcp_conn *c = srv->conns; c; c = c->next)
		n += evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;
	return n;
}

/* A forwarded answer: to a UDP client, or to a TCP connection still open. */
static void fwd_send(void *arg, const struct fwd_reply_to *to, const uint8_t *m, size_t len,
		     bool fresh)
{
	struct dns_server *srv = arg;

	count_forwarded(&srv->main.stats, m, len);
	if (fresh && !to->tcp && srv->n_workers)
		fill_worker(srv, to->fd, m, len);
	if (to->tcp) {
		for (struct tcp_conn *c = srv->conns; c; c = c->next) {
			if (c->id != to->conn_id)
				continue;
			tcp_send(c, m, len);
			return;
		}
		return;	/* the client went away */
	}
	union {
		struct cmsghdr align;
		uint8_t buf[CTL_LEN];
	} ctl;
	struct msghdr msg = {
		.msg_name = (void *)&to->addr, .msg_namelen = to->addr_len,
		.msg_iov = &(struct iovec){ (void *)m, len }, .msg_iovlen = 1,
	};
	if (to->ctl_len) {
		/* built by reply_ctl() when the query came (forward_udp) */
		memcpy(ctl.buf, to->ctl, to->ctl_len);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = to->ctl_len;
	}
	if (sendmsg(to->fd, &msg, 0) < 0)
		STAT_ADD(srv->main.stats.send_errors, 1);
}

int dns_server_set_forwarder(struct dns_server *srv, const struct fwd_params *p)
{
	srv->fwd = forwarder_create(srv->base, p, fwd_send, srv);
	srv->main.scratch.forwarding = srv->fwd != NULL;
	__atomic_store_n(&srv->forwarding, srv->fwd != NULL, __ATOMIC_RELAXED);
	if (srv->fwd && p->cache_enabled && srv->n_workers) {
		/* each worker a share of the entries, fresh answers only (the
		 * loop's cache keeps serve-stale) */
		struct cache_params cp = p->cache;
		cp.max_entries = cp.max_entries / srv->n_workers > 64 ?
				 cp.max_entries / srv->n_workers : 64;
		cp.stale_s = 0;
		bool running = workers_running(srv);
		if (running)
			workers_stop(srv);
		for (unsigned i = 0; i < srv->n_workers; i++) {
			cache_delete(srv->workers[i]->cache);
			srv->workers[i]->cache = cache_create(&cp);
		}
		if (running && workers_start(srv) < 0)
			return MESHDNS_ENOMEM;
	}
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
