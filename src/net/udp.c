/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * UDP: up to UDP_BATCH datagrams per recvmmsg(), their answers out in one
 * sendmmsg() (two syscalls per batch instead of two per query), full
 * batches back to back (UDP_ROUNDS at most, so that TCP and timers get
 * their turn), and with udp_coalesce_us at most one nap after a partial
 * batch when the controller says so (see coalesce.h). Replies leave from
 * the address the query came to (IP_PKTINFO / IPV6_PKTINFO), so wildcard
 * binds work on multi-homed nodes. Nothing here allocates.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <unistd.h>

#include "meshdns/clock.h"
#include "meshdns/registry.h"
#include "server_int.h"

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
size_t udp_reply_ctl(const struct msghdr *msg, uint8_t *ctl_out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c;
	     c = CMSG_NXTHDR((struct msghdr *)msg, c)) {
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

/* Queue reply slot @p k of the batch to @p from, from the address the
 * query was sent to. */
static void queue_reply(struct udp_batch *b, int k, const struct mmsghdr *m, size_t len)
{
	b->iov_out[k] = (struct iovec){ b->out[k], len };
	b->msg_out[k].msg_hdr = (struct msghdr){
		.msg_name = m->msg_hdr.msg_name, .msg_namelen = m->msg_hdr.msg_namelen,
		.msg_iov = &b->iov_out[k], .msg_iovlen = 1,
	};
	size_t cl = udp_reply_ctl(&m->msg_hdr, b->ctl_out[k]);
	if (cl) {
		b->msg_out[k].msg_hdr.msg_control = b->ctl_out[k];
		b->msg_out[k].msg_hdr.msg_controllen = cl;
	}
}

/* sendmmsg() the @p k queued replies, one call per run of one socket. */
static void send_replies(struct udp_ctx *cx, const int *out_fd, int k)
{
	struct udp_batch *b = &cx->batch;

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
}

/*
 * Answer @p got datagrams (in[i] came to socket fd[i]) through
 * serve_query(), rate-limit the replies and send them. A worker hands what
 * only the loop thread can answer over instead (serve_query does).
 */
void udp_answer(struct udp_ctx *cx, struct mmsghdr *in, const int *fd, int got)
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
		worker_fill_take(cx->w);
	/* after a nap, from when it began: these queries may have waited
	 * in the socket that long (an upper bound, never an understatement) */
	uint64_t t0 = cx->nap_start_ns ? cx->nap_start_ns : now_ns();
	cx->nap_start_ns = 0;
	for (int i = 0; i < got; i++) {
		struct mmsghdr *m = &in[i];
		if (m->msg_hdr.msg_flags & MSG_TRUNC) {
			STAT_ADD(cx->stats.queries_udp, 1);
			STAT_ADD(cx->stats.dropped, 1);	/* bigger than any query */
			continue;
		}
		struct query_from from = {
			.addr = m->msg_hdr.msg_name, .addr_len = m->msg_hdr.msg_namelen,
			.fd = fd[i], .hdr = &m->msg_hdr,
		};
		size_t out_len = serve_query(cx, snap, m->msg_hdr.msg_iov->iov_base, m->msg_len,
					     &from, b->out[k], sizeof(b->out[k]));
		if (!out_len)
			continue;
		enum rrl_verdict v = rrl_check(&cx->rrl, from.addr, cx->scratch.now_ms);
		if (v == RRL_DROP)
			continue;
		if (v == RRL_SLIP)
			out_len = slip_reply(b->out[k], out_len);
		queue_reply(b, k, m, out_len);
		out_fd[k++] = fd[i];
	}
	send_replies(cx, out_fd, k);
	if (k)
		serve_count_latency(&cx->stats, now_ns() - t0, (unsigned)k);
}

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

/* Read and answer @p fd until it is empty, UDP_ROUNDS full batches, or
 * the controller says to stop napping (see the top of this file). */
void udp_serve(struct udp_ctx *cx, int fd, int flags)
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
			workers_notify_loop(cx);
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

/* The loop thread's sockets. */
void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock *us = arg;

	udp_serve(&us->srv->main, fd, MSG_DONTWAIT);
}

void udp_ctx_init(struct udp_ctx *cx, struct dns_server *srv, struct worker *w)
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

/* A bound UDP or TCP socket for @p l, in the reuseport group of its
 * address (a new instance can bind beside us; see handover.c). */
int net_open_socket(const struct config_listen *l, int type)
{
	int family = l->addr.ss_family, one = 1;
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
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
