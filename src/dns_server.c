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

#include <sys/random.h>

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
};
#define TCP_BACKLOG		128
#define TCP_OUT_HIGH		(256u << 10)	/* stop reading above this */
#define SOCKET_RCVBUF		(1u << 20)

struct udp_sock {
	struct dns_server *srv;
	int fd;
	int family;
	struct event *ev;
};

struct tcp_conn {
	struct dns_server *srv;
	struct bufferevent *bev;
	uint64_t id;			/* for answers that come later (forwarding) */
	bool closing;			/* shutting down: close when written */
	struct tcp_conn *prev, *next;
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
	uint32_t max_conns;
	uint16_t edns_size;
	struct config_prefix *allow;
	size_t n_allow;
	struct timeval idle;
	struct dns_stats stats;
	struct dns_answer_scratch scratch;
	struct udp_batch batch;
	struct rrl rrl;
	uint8_t in[DNS_MAX_MSG];
	uint8_t out[DNS_MAX_MSG];
};

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
static void count_latency_n(struct dns_server *srv, uint64_t ns, unsigned n)
{
	unsigned b = 0;

	while (b < DNS_LAT_BUCKETS && ns > (uint64_t)dns_lat_bounds_us[b] * 1000u)
		b++;
	srv->stats.lat[b] += n;
	srv->stats.lat_sum_ns += ns * n;
}

static void count_latency(struct dns_server *srv, uint64_t t0)
{
	count_latency_n(srv, now_ns() - t0, 1);
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

static void count_reply(struct dns_server *srv, const struct dns_answer_info *info)
{
	if (info->parse == DNS_PARSE_OK || info->qtype)
		srv->stats.qtype[stat_qtype(info->qtype)]++;
	if (!info->answered) {
		srv->stats.dropped++;
		return;
	}
	srv->stats.rcode[info->rcode < 23 ? info->rcode : 23]++;
	if (info->parse == DNS_PARSE_FORMERR)
		srv->stats.formerr++;
	if (info->truncated)
		srv->stats.truncated++;
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
	size_t p = DNS_HDR_LEN;

	if (rd16(o + 4) == 1) {
		while (p < len && o[p] && o[p] < 64)
			p += 1u + o[p];
		p += 5;		/* root label, type, class */
		if (p > len)
			p = DNS_HDR_LEN;
	}
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
static size_t forward_udp(struct dns_server *srv, int fd, struct mmsghdr *m, uint8_t *out,
			  size_t cap)
{
	struct fwd_reply_to to = { .tcp = false, .fd = fd,
				   .addr_len = m->msg_hdr.msg_namelen };
	const struct dns_query *q = &srv->scratch.q;
	size_t limit = q->edns ? (q->udp_size < srv->edns_size ? q->udp_size : srv->edns_size)
			       : DNS_MIN_UDP;

	memcpy(&to.addr, m->msg_hdr.msg_name, m->msg_hdr.msg_namelen);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m->msg_hdr); c; c = CMSG_NXTHDR(&m->msg_hdr, c)) {
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)) {
			to.ctl_len = c->cmsg_len < sizeof(to.ctl) ? c->cmsg_len : 0;
			memcpy(to.ctl, c, to.ctl_len);
		}
	}
	return forwarder_query(srv->fwd, q, &to, limit, srv->scratch.now_ms, out, cap);
}

/*
 * UDP: up to UDP_BATCH datagrams per recvmmsg(), their answers out in one
 * sendmmsg() (two syscalls per batch instead of two per query), a few
 * batches per wakeup so that TCP and timers get their turn.
 */
static void udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sock *us = arg;
	struct dns_server *srv = us->srv;
	struct udp_batch *b = &srv->batch;

	for (int round = 0; round < UDP_ROUNDS; round++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			b->iov_in[i] = (struct iovec){ b->in[i], sizeof(b->in[i]) };
			b->msg_in[i].msg_hdr = (struct msghdr){
				.msg_name = &b->from[i], .msg_namelen = sizeof(b->from[i]),
				.msg_iov = &b->iov_in[i], .msg_iovlen = 1,
				.msg_control = b->ctl_in[i], .msg_controllen = CTL_LEN,
			};
		}
		int got = recvmmsg(fd, b->msg_in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;	/* EAGAIN, or an ICMP error queued on the socket */
		srv->scratch.now_ms = clock_now_ms();
		uint64_t t0 = now_ns();
		int k = 0;
		for (int i = 0; i < got; i++) {
			struct mmsghdr *m = &b->msg_in[i];
			struct dns_answer_info info;
			srv->stats.queries_udp++;
			if (m->msg_hdr.msg_flags & MSG_TRUNC) {
				srv->stats.dropped++;	/* bigger than any query */
				continue;
			}
			srv->scratch.refuse = !allowed(srv, &b->from[i]);
			srv->stats.refused_clients += srv->scratch.refuse;
			size_t out_len = dns_answer(registry_snapshot(srv->reg), b->in[i], m->msg_len,
						    false, b->out[k], sizeof(b->out[k]),
						    &srv->scratch, &info);
			count_reply(srv, &info);
			log_bad(&info, "udp", (struct sockaddr *)&b->from[i]);
			if (info.forward && srv->fwd)
				out_len = forward_udp(srv, fd, m, b->out[k], sizeof(b->out[k]));
			if (!out_len)
				continue;
			enum rrl_verdict v = rrl_check(&srv->rrl, &b->from[i], srv->scratch.now_ms);
			if (v == RRL_DROP)
				continue;
			if (v == RRL_SLIP)
				out_len = slip_reply(b->out[k], out_len);
			/* answer from the address the query was sent to */
			b->iov_out[k] = (struct iovec){ b->out[k], out_len };
			b->msg_out[k].msg_hdr = (struct msghdr){
				.msg_name = &b->from[i], .msg_namelen = m->msg_hdr.msg_namelen,
				.msg_iov = &b->iov_out[k], .msg_iovlen = 1,
			};
			size_t cl = reply_ctl(&m->msg_hdr, b->ctl_out[k]);
			if (cl) {
				b->msg_out[k].msg_hdr.msg_control = b->ctl_out[k];
				b->msg_out[k].msg_hdr.msg_controllen = cl;
			}
			k++;
		}
		for (int sent = 0; sent < k;) {
			int r = sendmmsg(fd, b->msg_out + sent, (unsigned)(k - sent), 0);
			if (r <= 0) {
				/* a full socket buffer: these answers are lost, as a
				 * router would drop them; clients retry */
				srv->stats.send_errors += (uint64_t)(k - sent);
				break;
			}
			sent += r;
		}
		if (k)
			count_latency_n(srv, now_ns() - t0, (unsigned)k);
		if (got < UDP_BATCH)
			return;
	}
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
		srv->scratch.now_ms = clock_now_ms();
		srv->scratch.refuse = false;	/* checked at accept */
		uint64_t t0 = now_ns();
		srv->stats.queries_tcp++;
		size_t out_len = dns_answer(registry_snapshot(srv->reg), srv->in, len,
					    true, srv->out, sizeof(srv->out),
					    &srv->scratch, &info);
		count_reply(srv, &info);
		if (getpeername(bufferevent_getfd(bev), (struct sockaddr *)&peer, &pl) == 0)
			log_bad(&info, "tcp", (struct sockaddr *)&peer);
		if (info.forward && srv->fwd) {
			struct fwd_reply_to to = { .tcp = true, .conn_id = c->id };
			out_len = forwarder_query(srv->fwd, &srv->scratch.q, &to, DNS_MAX_MSG,
						  srv->scratch.now_ms, srv->out, sizeof(srv->out));
		}
		if (!out_len)
			continue;
		uint8_t hdr[2] = { (uint8_t)(out_len >> 8), (uint8_t)out_len };
		evbuffer_add(out, hdr, 2);
		evbuffer_add(out, srv->out, out_len);
		count_latency(srv, t0);
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
		c->srv->stats.tcp_timeouts++;
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
		srv->stats.refused_clients++;
		close(fd);	/* not a client we serve */
		return;
	}
	if (srv->n_conns >= srv->max_conns) {
		srv->stats.tcp_rejected++;
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
	srv->stats.tcp_accepted++;
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

static void set_idle(struct dns_server *srv, const struct config *cfg)
{
	rrl_init(&srv->rrl, cfg->rrl_rate, cfg->rrl_slip, (uint8_t)cfg->rrl_ipv4_prefix,
		 (uint8_t)cfg->rrl_ipv6_prefix, cfg->rrl_exempt_loopback);
	struct config_prefix *a = calloc(cfg->n_allow ? cfg->n_allow : 1, sizeof(*a));

	if (a) {
		memcpy(a, cfg->allow, cfg->n_allow * sizeof(*a));
		free(srv->allow);
		srv->allow = a;
		srv->n_allow = cfg->n_allow;
	}
	srv->max_conns = cfg->tcp_max_connections;
	srv->idle.tv_sec = cfg->tcp_idle_timeout_ms / 1000;
	srv->idle.tv_usec = (cfg->tcp_idle_timeout_ms % 1000) * 1000;
}

struct dns_server *dns_server_create(struct event_base *base,
				     const struct config *cfg,
				     struct registry *reg)
{
	struct dns_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->base = base;
	srv->reg = reg;
	srv->edns_size = cfg->edns_buffer_size;
	set_idle(srv, cfg);
	/* seeded once; the selector draws from it without syscalls */
	uint64_t seed;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = clock_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)srv;
	sel_rng_seed(&srv->scratch.rng, seed);
	srv->udp = calloc(cfg->n_listen, sizeof(*srv->udp));
	srv->tcp = calloc(cfg->n_listen, sizeof(*srv->tcp));
	if (!srv->udp || !srv->tcp)
		goto fail;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct config_listen *l = &cfg->listen[i];
		struct udp_sock *us = &srv->udp[srv->n_udp];
		int fd;

		us->fd = open_socket(l, SOCK_DGRAM);
		if (us->fd < 0) {
			log_err("cannot listen on udp %s: %s", l->text, strerror(errno));
			goto fail;
		}
		us->srv = srv;
		us->family = l->addr.ss_family;
		us->ev = event_new(base, us->fd, EV_READ | EV_PERSIST, udp_read_cb, us);
		srv->n_udp++;
		if (!us->ev || event_add(us->ev, NULL) < 0)
			goto fail;

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

void dns_server_delete(struct dns_server *srv)
{
	if (!srv)
		return;
	forwarder_delete(srv->fwd);
	while (srv->conns)
		conn_free(srv->conns);
	for (size_t i = 0; i < srv->n_udp; i++) {
		if (srv->udp[i].ev)
			event_free(srv->udp[i].ev);
		close(srv->udp[i].fd);
	}
	for (size_t i = 0; i < srv->n_tcp; i++)
		evconnlistener_free(srv->tcp[i]);
	free(srv->udp);
	free(srv->tcp);
	free(srv->allow);
	free(srv);
}

void dns_server_reconfigure(struct dns_server *srv, const struct config *cfg)
{
	set_idle(srv, cfg);
}

/* ------------------------------------------------------------ handover */

/*
 * Is a UDP socket other than inode @p self (0: any) bound to @p ss's
 * address and port, or, with @p wildcard, to the wildcard address on that
 * port? /proc/net/udp{,6} lists every socket with its local address, as
 * the kernel prints it (IPv4 as a host-order u32), and its inode.
 */
static bool udp_bound(const struct sockaddr_storage *ss, unsigned long self, bool wildcard)
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
		found = inode != self &&
			(strcmp(local, want) == 0 || (wildcard && strcmp(local, any) == 0));
	}
	fclose(f);
	return found;
}

bool dns_server_addresses_in_use(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (udp_bound(&cfg->listen[i].addr, 0, true))
			return true;
	}
	return false;
}

/* Has another socket (a new meshdns) bound our UDP address and port? */
static bool other_socket(const struct udp_sock *us)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct stat st;

	if (getsockname(us->fd, (struct sockaddr *)&ss, &sl) < 0 || fstat(us->fd, &st) < 0)
		return false;
	return udp_bound(&ss, (unsigned long)st.st_ino, false);
}

bool dns_server_successor_ready(const struct dns_server *srv)
{
	for (size_t i = 0; i < srv->n_udp; i++) {
		if (!other_socket(&srv->udp[i]))
			return false;
	}
	return srv->n_udp > 0;
}

/*
 * Steer the reuseport group to its second socket (index 1: the
 * successor, which joined after us). An index that does not exist makes
 * the kernel fall back to its hash, so with no successor nothing changes.
 */
static void steer_away(int fd)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, 1) };
	struct sock_fprog prog = { 1, code };

	setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

void dns_server_handover(struct dns_server *srv)
{
	/* new queries go to the successor from now on; answer what is
	 * queued here, then close (a closed reuseport socket drops its queue) */
	for (size_t i = 0; i < srv->n_udp; i++)
		steer_away(srv->udp[i].fd);
	for (size_t i = 0; i < srv->n_tcp; i++)
		steer_away(evconnlistener_get_fd(srv->tcp[i]));
	for (size_t i = 0; i < srv->n_udp; i++) {
		udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
		/* datagrams hashed to us just before the steering */
		udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
	}
	dns_server_stop_listening(srv);
}

void dns_server_stop_listening(struct dns_server *srv)
{
	for (size_t i = 0; i < srv->n_udp; i++) {
		/* whatever is still queued gets its answer */
		for (int k = 0; k < 1000; k++) {
			uint64_t before = srv->stats.queries_udp;
			udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
			if (srv->stats.queries_udp - before < UDP_BATCH * UDP_ROUNDS)
				break;
		}
		if (srv->udp[i].ev)
			event_free(srv->udp[i].ev);
		srv->udp[i].ev = NULL;
		close(srv->udp[i].fd);
	}
	srv->n_udp = 0;
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
static void fwd_send(void *arg, const struct fwd_reply_to *to, const uint8_t *m, size_t len)
{
	struct dns_server *srv = arg;

	if (to->tcp) {
		for (struct tcp_conn *c = srv->conns; c; c = c->next) {
			if (c->id != to->conn_id)
				continue;
			uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
			struct evbuffer *out = bufferevent_get_output(c->bev);
			evbuffer_add(out, hdr, 2);
			evbuffer_add(out, m, len);
			return;
		}
		return;	/* the client went away */
	}
	union {
		struct cmsghdr align;
		uint8_t buf[64];
	} ctl;
	struct msghdr msg = {
		.msg_name = (void *)&to->addr, .msg_namelen = to->addr_len,
		.msg_iov = &(struct iovec){ (void *)m, len }, .msg_iovlen = 1,
	};
	if (to->ctl_len) {
		memcpy(ctl.buf, to->ctl, to->ctl_len);
		struct cmsghdr *c = &ctl.align;
		if (c->cmsg_level == IPPROTO_IP)
			((struct in_pktinfo *)CMSG_DATA(c))->ipi_ifindex = 0;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
	}
	if (sendmsg(to->fd, &msg, 0) < 0)
		srv->stats.send_errors++;
}

int dns_server_set_forwarder(struct dns_server *srv, const struct fwd_params *p)
{
	srv->fwd = forwarder_create(srv->base, p, fwd_send, srv);
	srv->scratch.forwarding = srv->fwd != NULL;
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
	srv->scratch.facts = cb;
	srv->scratch.facts_arg = arg;
}

const struct dns_stats *dns_server_stats(const struct dns_server *srv)
{
	((struct dns_server *)srv)->stats.rate_limited = srv->rrl.limited;
	((struct dns_server *)srv)->stats.rate_limit_slipped = srv->rrl.slipped;
	return &srv->stats;
}
