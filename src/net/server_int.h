/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Inside the DNS server (src/net/): what its files share. Nothing outside
 * src/net/ includes this; the contract is include/meshdns/dns_server.h.
 *
 *	dns_server.c	create, reconfigure, delete; the forwarder; counters
 *	serve.c		serve_query(): one query, whatever the transport
 *	udp.c		batches in and out (recvmmsg/sendmmsg), coalescing naps
 *	tcp.c		connections: limits, idle timeouts, pipelining
 *	workers.c	worker threads, their rings to and from the loop thread
 *	handover.c	rolling updates: who else is bound, BPF steering
 *
 * Threads: the loop thread (libevent) owns everything but a worker's
 * struct udp_ctx, its sockets and the consumer ends of its rings. See
 * docs/internals.md.
 */
#ifndef MESHDNS_NET_SERVER_INT_H
#define MESHDNS_NET_SERVER_INT_H

#include <event2/util.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>

#include "meshdns/coalesce.h"
#include "meshdns/dns_answer.h"
#include "meshdns/dns_server.h"
#include "meshdns/reclaim.h"
#include "meshdns/rrl.h"

struct cache_params;
struct config_listen;

#define UDP_BATCH		32	/* datagrams per recvmmsg/sendmmsg */
#define UDP_ROUNDS		4	/* batches per wakeup before yielding */
#define UDP_IN_MAX		4096	/* larger datagrams are no queries */
#define UDP_OUT_MAX		4096	/* edns_buffer_size is at most this */
#define CTL_LEN			CMSG_SPACE(sizeof(struct in6_pktinfo))
#define TCP_BACKLOG		128
#define TCP_OUT_HIGH		(256u << 10)	/* stop reading above this */
#define SOCKET_RCVBUF		(1u << 20)

/*
 * A worker's wait ends within this (its socket's receive timeout, its
 * epoll timeout), so that a stop is noticed.
 */
#define WORKER_POLL_MS		20

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
	struct sockaddr_storage peer;	/* for logs */
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
static inline int spsc_slot(const struct spsc *r, uint32_t n)
{
	if (r->tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) >= n)
		return -1;
	return (int)(r->tail % n);
}

static inline void spsc_push(struct spsc *r)
{
	__atomic_store_n(&r->tail, r->tail + 1, __ATOMIC_RELEASE);
}

/* Consumer: slots ready, from head % n on. */
static inline uint32_t spsc_ready(const struct spsc *r)
{
	return __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) - r->head;
}

static inline void spsc_pop(struct spsc *r, uint32_t k)
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
	struct reclaim_reader *rd;	/* the snapshots it may be reading */
	struct spsc deferq;		/* worker -> loop thread */
	struct defer_slot ring[RING_SLOTS];
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
	struct reclaim *reclaim;	/* retired snapshots workers may hold */
	int notify_fd;			/* eventfd: a ring has queries */
	int notify_pending;
	struct event *notify_ev;
	uint8_t in[DNS_MAX_MSG];
	uint8_t out[DNS_MAX_MSG];
};

/* One writer per counter (the thread that owns it); /metrics reads them
 * from the loop thread. Plain add, atomic store: no locked instruction. */
#define STAT_ADD(c, n)	__atomic_store_n(&(c), (c) + (uint64_t)(n), __ATOMIC_RELAXED)

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- serve.c: one query, whatever the transport */

/* Where a query came from: where its answer goes, now or later. */
struct query_from {
	const struct sockaddr_storage *addr;
	socklen_t addr_len;
	bool tcp;
	int fd;				/* UDP: the socket it came to */
	const struct msghdr *hdr;	/* UDP: its control messages */
	uint64_t conn_id;		/* TCP: the connection */
};

bool serve_allowed(const struct dns_server *srv, const struct sockaddr_storage *ss);
size_t serve_query(struct udp_ctx *cx, const struct snapshot *snap,
		   const uint8_t *in, size_t len, const struct query_from *from,
		   uint8_t *out, size_t cap);
void serve_count_latency(struct dns_stats *st, uint64_t ns, unsigned n);
void serve_count_forwarded(struct dns_stats *st, const uint8_t *m, size_t len);

/* --- udp.c */
size_t udp_reply_ctl(const struct msghdr *msg, uint8_t *ctl_out);
void udp_answer(struct udp_ctx *cx, struct mmsghdr *in, const int *fd, int got);
void udp_serve(struct udp_ctx *cx, int fd, int flags);
void udp_read_cb(evutil_socket_t fd, short what, void *arg);
void udp_ctx_init(struct udp_ctx *cx, struct dns_server *srv, struct worker *w);
int net_open_socket(const struct config_listen *l, int type);

/* --- dns_server.c */
void net_close_listeners(struct dns_server *srv);

/* --- tcp.c */
int tcp_listen(struct dns_server *srv, const struct config_listen *l);
void tcp_conn_free(struct tcp_conn *c);
void tcp_send_to(struct dns_server *srv, uint64_t conn_id, const uint8_t *m, size_t len);

/* --- workers.c */
int workers_create(struct dns_server *srv, unsigned n);
int workers_start(struct dns_server *srv);
void workers_stop(struct dns_server *srv);
bool workers_running(const struct dns_server *srv);
void workers_delete(struct dns_server *srv);
int workers_add_socket(struct worker *w, int fd);
int workers_set_cache(struct dns_server *srv, const struct cache_params *cp);
void worker_online(struct worker *w);
void worker_fill_take(struct worker *w);
void worker_defer(struct worker *w, int fd, const uint8_t *in, size_t len,
		  const struct msghdr *hdr);
size_t worker_cache_hit(struct udp_ctx *cx, uint8_t *out, size_t cap);
void workers_fill(const struct dns_server *srv, int fd, const uint8_t *m, size_t len);
void workers_notify_loop(struct udp_ctx *cx);

#endif
