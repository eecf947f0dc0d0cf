/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * One query, whatever the transport: the allow list, the answer, then a
 * worker's own cache or the hand-over to the loop thread, or the
 * forwarder; the counters and the debug log. UDP (udp.c) and TCP (tcp.c)
 * read and send; everything between is here, once.
 */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>

#include "meshdns/cache.h"
#include "meshdns/forward.h"
#include "meshdns/log.h"
#include "server_int.h"

const uint32_t dns_lat_bounds_us[DNS_LAT_BUCKETS] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 5000, 25000,
};

bool serve_allowed(const struct dns_server *srv, const struct sockaddr_storage *ss)
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
void serve_count_latency(struct dns_stats *st, uint64_t ns, unsigned n)
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
		return;		/* counted by serve_count_forwarded() when answered */
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
void serve_count_forwarded(struct dns_stats *st, const uint8_t *m, size_t len)
{
	if (len >= 4)
		STAT_ADD(st->rcode[m[3] & 15], 1);
}

static void log_bad(const struct dns_answer_info *info, const struct query_from *from)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_storage *ss = from->addr;

	if (!log_enabled(LOG_LEVEL_DEBUG) || info->parse == DNS_PARSE_OK)
		return;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
			  addr, sizeof(addr));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
			  addr, sizeof(addr));
	static const char *const what[] = {
		[DNS_PARSE_OK] = "ok", [DNS_PARSE_DROP] = "dropped (no header or not a query)",
		[DNS_PARSE_FORMERR] = "FORMERR", [DNS_PARSE_NOTIMP] = "NOTIMP (opcode)",
		[DNS_PARSE_BADVERS] = "BADVERS (EDNS version)",
	};
	log_debug("bad query over %s from %s: %s", from->tcp ? "tcp" : "udp", addr,
		  what[info->parse]);
}

/* Loop thread: a name outside the mesh to the forwarder; the answer, if
 * the cache has it, in @p out now, else sent later (fwd_send). */
static size_t forward(struct udp_ctx *cx, const struct query_from *from, uint8_t *out,
		      size_t cap)
{
	struct dns_server *srv = cx->srv;
	struct fwd_reply_to to = { .tcp = from->tcp, .fd = from->fd,
				   .conn_id = from->conn_id };
	const struct dns_query *q = &cx->scratch.q;

	if (from->tcp)
		return forwarder_query(srv->fwd, q, &to, DNS_MAX_MSG, cx->scratch.now_ms,
				       out, cap);
	union {
		struct cmsghdr align;
		uint8_t buf[CTL_LEN];
	} ctl;

	to.addr_len = from->addr_len;
	memcpy(&to.addr, from->addr, from->addr_len);
	/* the reply's control message, ready to send later (fwd_send) */
	to.ctl_len = udp_reply_ctl(from->hdr, ctl.buf);
	memcpy(to.ctl, ctl.buf, to.ctl_len);
	size_t n = forwarder_query(srv->fwd, q, &to, dns_udp_limit(q, srv->edns_size),
				   cx->scratch.now_ms, out, cap);
	if (n && srv->n_workers)
		workers_fill(srv, from->fd, out, n);
	return n;
}

/*
 * Answer the query @p in (@p len bytes) from @p from, on @p cx's thread:
 * allow list, answer from @p snap, then what the answer asks for (a
 * worker's cache or the loop thread; the forwarder), counters, debug log.
 * @p cx->scratch.now_ms is the caller's. @return the reply's length in
 * @p out, or 0: nothing to send now (dropped, handed to the loop thread,
 * or forwarded and answered later).
 */
size_t serve_query(struct udp_ctx *cx, const struct snapshot *snap,
		   const uint8_t *in, size_t len, const struct query_from *from,
		   uint8_t *out, size_t cap)
{
	struct dns_server *srv = cx->srv;
	struct dns_answer_info info;

	/* TCP clients were checked when they connected */
	cx->scratch.refuse = !from->tcp && !serve_allowed(srv, from->addr);
	size_t n = dns_answer(snap, in, len, from->tcp, out, cap, &cx->scratch, &info);
	if (info.defer) {
		/* a worker: its own cache, else the loop thread (which
		 * counts it when it answers) */
		if (info.forward && cx->w->cache)
			n = worker_cache_hit(cx, out, cap);
		if (!n) {
			worker_defer(cx->w, from->fd, in, len, from->hdr);
			return 0;
		}
	} else if (info.forward && srv->fwd) {
		n = forward(cx, from, out, cap);
	}
	if (from->tcp)
		STAT_ADD(cx->stats.queries_tcp, 1);
	else
		STAT_ADD(cx->stats.queries_udp, 1);
	STAT_ADD(cx->stats.refused_clients, cx->scratch.refuse);
	count_reply(&cx->stats, &info);
	if (info.forward)
		serve_count_forwarded(&cx->stats, out, n);
	log_bad(&info, from);
	return n;
}
