/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The forwarder on a real libevent loop against fake upstreams in this
 * process (UDP, and TCP on the same port, on 127.0.0.1 with a port the
 * kernel chose), whose replies are built with ldns: relaying with the
 * client's ID and case, cache hits, one upstream query for identical
 * questions, replies from the wrong place or for the wrong question
 * dropped, timeouts and SERVFAIL/REFUSED moving on to the next upstream,
 * SERVFAIL with EDE 22 when all fail, serve-stale with EDE 3, the TCP retry
 * after TC, the client's size limit, the in-flight bound, the three
 * policies, down upstreams skipped until their health query is answered,
 * and resolv.conf parsing.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "meshdns/clock.h"
#include "meshdns/forward.h"
#include "suites.h"

#define MAX_UP		3
#define MAX_REPLIES	80
#define SLOW_MS		2000	/* only reached when a test fails */

enum up_mode {
	UP_ANSWER = 0,
	UP_DROP,
	UP_TC,		/* truncated over UDP, whole over TCP */
	UP_RCODE,	/* an empty reply with up->rcode */
	UP_SPOOF,	/* wrong replies first, then the right one */
};

struct fake_up {
	int fd;
	struct event *ev;
	struct evconnlistener *tcp;
	struct bufferevent *conn[4];
	struct fwd_upstream_addr a;
	enum up_mode mode;
	uint8_t rcode;
	unsigned n_answers;	/* A records in an answer */
	uint32_t ttl;
	unsigned delay_ms;	/* answers wait this long */
	struct event *delay_ev;
	uint8_t held[512];	/* the query a delayed answer is for */
	size_t held_len;
	struct sockaddr_storage held_from;
	socklen_t held_from_len;
	unsigned queries, tcp_queries;
	ldns_pkt *last;		/* the last query it was asked */
};

struct reply {
	uint64_t client;
	bool fresh;
	size_t len;
	uint8_t msg[4096];
};

static struct event_base *base;
static struct forwarder *fwd;
static struct fake_up ups[MAX_UP];
static size_t n_ups;
static int spoof_fd = -1;
static struct reply replies[MAX_REPLIES];
static unsigned n_replies;
static uint8_t out[DNS_MAX_MSG];

/* ------------------------------------------------------------ upstreams */

/* Upstream @p idx's answers are 10.idx.x.y: who answered is in the reply. */
static size_t build_reply(const struct fake_up *up, const ldns_pkt *q, uint16_t id,
			  const char *qname, uint8_t rcode, bool tc, bool qr,
			  unsigned n_ans, uint8_t *buf, size_t cap)
{
	ldns_pkt *r = ldns_pkt_new();
	ldns_rr *qrr = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0));
	char *owner = ldns_rdf2str(ldns_rr_owner(qrr)), text[512];
	uint8_t *w = NULL;
	size_t len = 0;

	if (qname) {
		ldns_rdf_deep_free(ldns_rr_owner(qrr));
		ldns_rr_set_owner(qrr, ldns_dname_new_frm_str(qname));
	}
	ldns_pkt_set_id(r, id);
	ldns_pkt_set_qr(r, qr);
	ldns_pkt_set_rd(r, true);
	ldns_pkt_set_ra(r, true);
	ldns_pkt_set_tc(r, tc);
	ldns_pkt_set_rcode(r, rcode);
	ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, qrr);
	for (unsigned i = 0; i < n_ans; i++) {
		ldns_rr *rr = NULL;
		snprintf(text, sizeof(text), "%s %u IN A 10.%u.%u.%u", qname ? qname : owner,
			 up->ttl, (unsigned)(up - ups), i >> 8, i & 255);
		ck_assert_int_eq(ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr);
	}
	ldns_pkt_set_edns_udp_size(r, 1232);
	ck_assert_int_eq(ldns_pkt2wire(&w, r, &len), LDNS_STATUS_OK);
	ck_assert_uint_le(len, cap);
	memcpy(buf, w, len);
	free(w);
	free(owner);
	ldns_pkt_free(r);
	return len;
}

static void up_send(const struct fake_up *up, int fd, const ldns_pkt *q, uint16_t id,
		    const char *qname, uint8_t rcode, bool tc, bool qr, unsigned n_ans,
		    const struct sockaddr_storage *to, socklen_t tl)
{
	uint8_t buf[4096];
	size_t n = build_reply(up, q, id, qname, rcode, tc, qr, n_ans, buf, sizeof(buf));

	ck_assert_int_eq(sendto(fd, buf, n, 0, (const struct sockaddr *)to, tl), (ssize_t)n);
}

/* Four replies that must be dropped (their answers are the last
 * upstream's, 10.2.x.y), then the one to believe. */
static void spoof(struct fake_up *up, const ldns_pkt *q, const struct sockaddr_storage *from,
		  socklen_t fl)
{
	const struct fake_up *evil = &ups[MAX_UP - 1];
	uint16_t id = ldns_pkt_id(q);

	up_send(evil, spoof_fd, q, id, NULL, 0, false, true, 1, from, fl);  /* another port */
	up_send(evil, up->fd, q, id ^ 1, NULL, 0, false, true, 1, from, fl);	/* another ID */
	up_send(evil, up->fd, q, id, "evil.example.", 0, false, true, 1, from, fl);
	up_send(evil, up->fd, q, id, NULL, 0, false, false, 1, from, fl);	/* no QR */
	up_send(up, up->fd, q, id, NULL, 0, false, true, up->n_answers, from, fl);
}

static void answer_udp(struct fake_up *up, const uint8_t *m, size_t len,
		       const struct sockaddr_storage *from, socklen_t fl)
{
	ldns_pkt *q = NULL;

	ck_assert_int_eq(ldns_wire2pkt(&q, m, len), LDNS_STATUS_OK);
	ldns_pkt_free(up->last);
	up->last = q;
	switch (up->mode) {
	case UP_ANSWER:
		up_send(up, up->fd, q, ldns_pkt_id(q), NULL, 0, false, true, up->n_answers,
			from, fl);
		break;
	case UP_TC:
		up_send(up, up->fd, q, ldns_pkt_id(q), NULL, 0, true, true, 0, from, fl);
		break;
	case UP_RCODE:
		up_send(up, up->fd, q, ldns_pkt_id(q), NULL, up->rcode, false, true, 0, from, fl);
		break;
	case UP_SPOOF:
		spoof(up, q, from, fl);
		break;
	case UP_DROP:
		break;
	}
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_up *up = arg;

	answer_udp(up, up->held, up->held_len, &up->held_from, up->held_from_len);
}

static void up_udp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_up *up = arg;
	uint8_t m[512];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;

	while ((n = recvfrom(fd, m, sizeof(m), 0, (struct sockaddr *)&from, &fl)) > 0) {
		up->queries++;
		if (up->delay_ms && up->mode == UP_ANSWER) {
			struct timeval tv = { 0, (suseconds_t)up->delay_ms * 1000 };
			memcpy(up->held, m, (size_t)n);
			up->held_len = (size_t)n;
			up->held_from = from;
			up->held_from_len = fl;
			evtimer_add(up->delay_ev, &tv);
		} else {
			answer_udp(up, m, (size_t)n, &from, fl);
		}
		fl = sizeof(from);
	}
}

static void up_tcp_read(struct bufferevent *bev, void *arg)
{
	struct fake_up *up = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t l[2], m[512], buf[4096];

	while (evbuffer_get_length(in) >= 2) {
		evbuffer_copyout(in, l, 2);
		size_t len = (size_t)(l[0] << 8 | l[1]);
		if (evbuffer_get_length(in) < 2 + len)
			return;
		ck_assert_uint_le(len, sizeof(m));
		evbuffer_drain(in, 2);
		evbuffer_remove(in, m, len);
		up->tcp_queries++;
		ldns_pkt *q = NULL;
		ck_assert_int_eq(ldns_wire2pkt(&q, m, len), LDNS_STATUS_OK);
		size_t n = build_reply(up, q, ldns_pkt_id(q), NULL, 0, false, true,
				       up->n_answers, buf + 2, sizeof(buf) - 2);
		buf[0] = (uint8_t)(n >> 8);
		buf[1] = (uint8_t)n;
		bufferevent_write(bev, buf, n + 2);
		ldns_pkt_free(q);
	}
}

static void up_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct fake_up *up = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	for (int i = 0; i < 4; i++) {
		if (up->conn[i] == bev)
			up->conn[i] = NULL;
	}
	bufferevent_free(bev);
}

static void up_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct fake_up *up = arg;
	int i = 0;

	while (i < 4 && up->conn[i])
		i++;
	ck_assert_int_lt(i, 4);
	up->conn[i] = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(up->conn[i], up_tcp_read, NULL, up_tcp_event, up);
	bufferevent_enable(up->conn[i], EV_READ);
}

static int udp_socket(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sin, &len), 0);
	return fd;
}

/* A UDP upstream on 127.0.0.1 and a TCP listener on the same port (the
 * kernel picks a UDP port; the TCP one may be taken: try again). */
static void up_start(struct fake_up *up)
{
	struct sockaddr_in sin;

	memset(up, 0, sizeof(*up));
	up->n_answers = 1;
	up->ttl = 300;
	for (int tries = 0; !up->tcp && tries < 20; tries++) {
		if (up->ev) {
			event_free(up->ev);
			close(up->fd);
		}
		up->fd = udp_socket(&sin);
		up->ev = event_new(base, up->fd, EV_READ | EV_PERSIST, up_udp_cb, up);
		event_add(up->ev, NULL);
		up->tcp = evconnlistener_new_bind(base, up_accept, up,
						  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
						  8, (struct sockaddr *)&sin, sizeof(sin));
	}
	ck_assert_ptr_nonnull(up->tcp);
	up->delay_ev = evtimer_new(base, delayed_cb, up);
	memcpy(&up->a.addr, &sin, sizeof(sin));
	up->a.len = sizeof(sin);
	snprintf(up->a.text, sizeof(up->a.text), "127.0.0.1:%u", ntohs(sin.sin_port));
}

static void up_stop(struct fake_up *up)
{
	for (int i = 0; i < 4; i++) {
		if (up->conn[i])
			bufferevent_free(up->conn[i]);
	}
	evconnlistener_free(up->tcp);
	event_free(up->delay_ev);
	event_free(up->ev);
	close(up->fd);
	ldns_pkt_free(up->last);
	memset(up, 0, sizeof(*up));
}

/* ------------------------------------------------------------ forwarder */

static void on_send(void *arg, const struct fwd_reply_to *to, const uint8_t *msg, size_t len,
		    bool fresh)
{
	ck_assert_ptr_eq(arg, replies);
	ck_assert_uint_lt(n_replies, MAX_REPLIES);
	ck_assert_uint_le(len, sizeof(replies[0].msg));
	struct reply *r = &replies[n_replies++];
	r->client = to->conn_id;
	r->fresh = fresh;
	r->len = len;
	memcpy(r->msg, msg, len);
}

static struct fwd_params fparams(size_t n_up, uint32_t timeout_ms)
{
	static struct fwd_upstream_addr addrs[MAX_UP];

	for (size_t i = 0; i < n_up; i++)
		addrs[i] = ups[i].a;
	return (struct fwd_params){
		.upstreams = addrs, .n_upstreams = n_up, .timeout_ms = timeout_ms,
		.policy = FWD_POLICY_SEQUENTIAL, .edns_size = 1232, .cache_enabled = true,
		.cache = { .max_entries = 100, .min_ttl_s = 0, .max_ttl_s = 3600,
			   .neg_max_ttl_s = 900, .stale_s = 0 },
	};
}

static void start_with(const struct fwd_params *p)
{
	fwd = forwarder_create(base, p, on_send, replies);
	ck_assert_ptr_nonnull(fwd);
}

/* @p n upstreams, answering, and a forwarder on them (sequential, cache). */
static void start(size_t n, uint32_t timeout_ms)
{
	struct fwd_params p = fparams(n, timeout_ms);

	start_with(&p);
}

static void setup(void)
{
	struct sockaddr_in sin;

	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	for (size_t i = 0; i < MAX_UP; i++)
		up_start(&ups[i]);
	n_ups = MAX_UP;
	spoof_fd = udp_socket(&sin);
	n_replies = 0;
}

static void teardown(void)
{
	forwarder_delete(fwd);
	fwd = NULL;
	for (size_t i = 0; i < n_ups; i++)
		up_stop(&ups[i]);
	close(spoof_fd);
	event_base_free(base);
	base = NULL;
}

static void run_until(const unsigned *count, unsigned want, unsigned max_ms)
{
	th_run_until(base, count, want, max_ms);
}

static void run_for(unsigned ms)
{
	run_until(NULL, 0, ms);
}

/* Ask for @p name as client @p client (its conn_id); the cache-hit length. */
static size_t ask_full(const char *name, uint16_t type, uint16_t id, bool edns, bool do_bit,
		       uint64_t client, size_t limit)
{
	struct th_query tq;
	struct fwd_reply_to to = { .fd = -1, .conn_id = client };

	th_query(&tq, name, type, edns, do_bit, id);
	size_t n = forwarder_query(fwd, &tq.q, &to, limit, clock_now_ms(), out, sizeof(out));
	/* the packet was copied: this one may go */
	memset(&tq, 0xa5, sizeof(tq));
	return n;
}

static size_t ask(const char *name, uint16_t id, uint64_t client)
{
	return ask_full(name, DNS_TYPE_A, id, true, false, client, 1232);
}

static ldns_pkt *parse(const uint8_t *m, size_t len)
{
	ldns_pkt *p = NULL;

	ck_assert_int_eq(ldns_wire2pkt(&p, m, len), LDNS_STATUS_OK);
	return p;
}

static ldns_pkt *reply_pkt(unsigned i)
{
	ck_assert_uint_lt(i, n_replies);
	return parse(replies[i].msg, replies[i].len);
}

/* Which upstream's answer @p p holds (10.IDX.x.y), or -1. */
static int answered_by(const ldns_pkt *p)
{
	if (!ldns_pkt_ancount(p))
		return -1;
	const ldns_rdf *a = ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p), 0), 0);
	return ldns_rdf_data(a)[1];
}

static char *qname_of(const ldns_pkt *p)
{
	return ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
}

/* The EDE info code of @p p, or -1 without one. */
static int ede_of(const ldns_pkt *p)
{
	const ldns_rdf *d = ldns_pkt_edns_data(p);
	size_t n = d ? ldns_rdf_size(d) : 0;
	const uint8_t *o = d ? ldns_rdf_data(d) : NULL;

	for (size_t i = 0; i + 4 <= n;) {
		uint16_t code = (uint16_t)(o[i] << 8 | o[i + 1]);
		uint16_t len = (uint16_t)(o[i + 2] << 8 | o[i + 3]);
		if (code == 15 && len >= 2 && i + 6 <= n)
			return o[i + 4] << 8 | o[i + 5];
		i += 4u + len;
	}
	return -1;
}

/* Reply @p i has @p rcode and upstream @p by's answer (-1: no answer). */
static void expect_reply(unsigned i, ldns_pkt_rcode rcode, int by)
{
	ldns_pkt *r = reply_pkt(i);

	ck_assert_int_eq(ldns_pkt_get_rcode(r), rcode);
	ck_assert_int_eq(answered_by(r), by);
	ldns_pkt_free(r);
}

/* The first two upstreams were asked @p a and @p b times. */
static void expect_asked(unsigned a, unsigned b)
{
	ck_assert_uint_eq(ups[0].queries, a);
	ck_assert_uint_eq(ups[1].queries, b);
}

/* ------------------------------------------------------------ tests */

START_TEST(test_relay)
{
	start(1, SLOW_MS);
	ck_assert_uint_eq(ask_full("WWW.Example.ORG.", DNS_TYPE_A, 0x1234, true, false, 7, 1232),
			  0);
	ck_assert_uint_eq(n_replies, 0);	/* later, through the callback */
	run_until(&n_replies, 1, SLOW_MS);
	ck_assert_uint_eq(n_replies, 1);

	ldns_pkt *r = reply_pkt(0);
	ck_assert_uint_eq(replies[0].client, 7);
	ck_assert(replies[0].fresh);
	ck_assert_uint_eq(ldns_pkt_id(r), 0x1234);
	ck_assert(ldns_pkt_qr(r) && ldns_pkt_rd(r));
	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	ck_assert_int_eq(answered_by(r), 0);
	char *qn = qname_of(r);
	ck_assert_str_eq(qn, "WWW.Example.ORG.");
	free(qn);
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(r), 1232);	/* ours */
	ldns_pkt_free(r);

	/* what the upstream was asked: the question, recursion, EDNS */
	ck_assert_uint_eq(ups[0].queries, 1);
	ldns_pkt *q = ups[0].last;
	ck_assert(ldns_pkt_rd(q) && !ldns_pkt_qr(q));
	ck_assert(ldns_pkt_edns(q) && !ldns_pkt_edns_do(q));
	ck_assert_int_eq(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_question(q), 0)),
			 LDNS_RR_TYPE_A);
	qn = qname_of(q);
	ck_assert_int_eq(strcasecmp(qn, "www.example.org."), 0);
	free(qn);

	const struct fwd_stats *st = forwarder_stats(fwd);
	ck_assert_uint_eq(st->queries, 1);
	ck_assert_uint_eq(st->upstream_queries, 1);
	ck_assert_uint_eq(st->cache_hits, 0);
	ck_assert_uint_eq(st->dropped_replies, 0);

	/* a client without EDNS gets no OPT, though the upstream sent one */
	ask_full("plain.example.org.", DNS_TYPE_A, 9, false, false, 8, 512);
	run_until(&n_replies, 2, SLOW_MS);
	r = reply_pkt(1);
	ck_assert(!ldns_pkt_edns(r));
	ldns_pkt_free(r);
	expect_reply(1, LDNS_RCODE_NOERROR, 0);
}
END_TEST

START_TEST(test_cache_hit)
{
	start(1, SLOW_MS);
	ask("www.example.org.", 1, 1);
	run_until(&n_replies, 1, SLOW_MS);
	/* another client, ID and case: answered at once, not asked upstream */
	size_t n = ask_full("WWW.example.org.", DNS_TYPE_A, 4321, true, false, 2, 1232);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_eq(n_replies, 1);
	ldns_pkt *r = parse(out, n);
	ck_assert_uint_eq(ldns_pkt_id(r), 4321);
	ck_assert_int_eq(answered_by(r), 0);
	ck_assert_uint_le(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 300);
	char *qn = qname_of(r);
	ck_assert_str_eq(qn, "WWW.example.org.");
	free(qn);
	ldns_pkt_free(r);
	ck_assert_uint_eq(ups[0].queries, 1);
	ck_assert_uint_eq(forwarder_stats(fwd)->cache_hits, 1);
	ck_assert_uint_eq(forwarder_stats(fwd)->queries, 2);
	ck_assert_uint_eq(forwarder_cache_stats(fwd)->entries, 1);
	/* another type is another question */
	ck_assert_uint_eq(ask_full("www.example.org.", DNS_TYPE_AAAA, 5, true, false, 3, 1232), 0);
	run_until(&n_replies, 2, SLOW_MS);
	ck_assert_uint_eq(ups[0].queries, 2);
}
END_TEST

START_TEST(test_no_cache)
{
	struct fwd_params p = fparams(1, SLOW_MS);

	p.cache_enabled = false;
	start_with(&p);
	ck_assert_ptr_null(forwarder_cache_stats(fwd));
	ask("www.example.org.", 1, 1);
	run_until(&n_replies, 1, SLOW_MS);
	ck_assert_uint_eq(ask("www.example.org.", 2, 2), 0);
	run_until(&n_replies, 2, SLOW_MS);
	ck_assert_uint_eq(ups[0].queries, 2);
	ck_assert_uint_eq(forwarder_stats(fwd)->cache_hits, 0);
}
END_TEST

/* Identical questions in flight share one upstream query. */
START_TEST(test_coalesce)
{
	start(1, SLOW_MS);
	ask("www.example.org.", 11, 1);
	ask("WWW.EXAMPLE.ORG.", 22, 2);
	/* with DO it is another question (the answer differs) */
	ask_full("www.example.org.", DNS_TYPE_A, 33, true, true, 3, 1232);
	run_until(&n_replies, 3, SLOW_MS);
	ck_assert_uint_eq(n_replies, 3);
	ck_assert_uint_eq(ups[0].queries, 2);
	ck_assert_uint_eq(forwarder_stats(fwd)->coalesced, 1);
	for (unsigned i = 0; i < 3; i++) {
		ldns_pkt *r = reply_pkt(i);
		/* each client its own ID */
		ck_assert_uint_eq(ldns_pkt_id(r), 11 * replies[i].client);
		ck_assert_int_eq(answered_by(r), 0);
		ck_assert(replies[i].fresh);
		ldns_pkt_free(r);
	}
	ck_assert(ldns_pkt_edns_do(ups[0].last));	/* the DO query went last */
}
END_TEST

/* Replies from another port, with another ID, for another question or
 * without QR are not believed; the right one after them is. */
START_TEST(test_spoofed)
{
	ups[0].mode = UP_SPOOF;
	start(1, SLOW_MS);
	ask("www.example.org.", 5, 1);
	run_until(&n_replies, 1, SLOW_MS);
	run_for(20);	/* nothing else comes */
	ck_assert_uint_eq(n_replies, 1);
	ldns_pkt *r = reply_pkt(0);
	char *qn = qname_of(r);
	ck_assert_str_eq(qn, "www.example.org.");
	free(qn);
	ck_assert_uint_eq(ldns_pkt_id(r), 5);
	ldns_pkt_free(r);
	expect_reply(0, LDNS_RCODE_NOERROR, 0);
	ck_assert_uint_eq(forwarder_stats(fwd)->dropped_replies, 4);
}
END_TEST

START_TEST(test_timeout_next)
{
	ups[0].mode = UP_DROP;
	start(2, 60);
	uint64_t t0 = clock_now_ms();
	ask("www.example.org.", 5, 1);
	run_until(&n_replies, 1, SLOW_MS);
	uint64_t took = clock_now_ms() - t0;
	ck_assert_uint_eq(n_replies, 1);
	expect_reply(0, LDNS_RCODE_NOERROR, 1);
	ck_assert(replies[0].fresh);
	/* the first had its full try (coarse clock: a few ms of slack) */
	ck_assert_uint_ge(took, 55);
	expect_asked(1, 1);
	ck_assert_uint_eq(forwarder_stats(fwd)->timeouts, 1);
	ck_assert_uint_eq(forwarder_stats(fwd)->upstream_queries, 2);
}
END_TEST

/* An upstream that says SERVFAIL or REFUSED cannot help: the next one is
 * asked at once, without waiting for the timeout. */
START_TEST(test_rcode_next)
{
	static const uint8_t rcodes[] = { LDNS_RCODE_SERVFAIL, LDNS_RCODE_REFUSED };

	ups[0].mode = UP_RCODE;
	start(2, SLOW_MS);
	for (unsigned i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof(name), "n%u.example.org.", i);
		ups[0].rcode = rcodes[i];
		ask(name, 1, i);
		run_until(&n_replies, i + 1, SLOW_MS / 2);
		ck_assert_uint_eq(n_replies, i + 1);
		expect_reply(i, LDNS_RCODE_NOERROR, 1);
	}
	ck_assert_uint_eq(forwarder_stats(fwd)->timeouts, 0);
	/* the last one says SERVFAIL: that is the answer */
	ups[1].mode = UP_RCODE;
	ups[1].rcode = LDNS_RCODE_SERVFAIL;
	ask("n2.example.org.", 1, 2);
	run_until(&n_replies, 3, SLOW_MS / 2);
	ck_assert_uint_eq(n_replies, 3);
	expect_reply(2, LDNS_RCODE_SERVFAIL, -1);
	ck_assert_uint_eq(ups[1].queries, 3);
}
END_TEST

START_TEST(test_all_fail)
{
	ups[0].mode = ups[1].mode = UP_DROP;
	start(2, 50);
	ask_full("WWW.Example.ORG.", DNS_TYPE_A, 0x4242, true, false, 1, 1232);
	ask_full("plain.example.org.", DNS_TYPE_A, 0x4343, false, false, 2, 512);
	run_until(&n_replies, 2, SLOW_MS);
	ck_assert_uint_eq(n_replies, 2);
	for (unsigned i = 0; i < 2; i++) {
		ldns_pkt *r = reply_pkt(i);
		bool edns = replies[i].client == 1;
		ck_assert(!replies[i].fresh);
		ck_assert_uint_eq(ldns_pkt_id(r), edns ? 0x4242 : 0x4343);
		ck_assert(ldns_pkt_qr(r) && ldns_pkt_rd(r) && ldns_pkt_ra(r));
		ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_SERVFAIL);
		ck_assert_uint_eq(ldns_pkt_qdcount(r), 1);
		ck_assert_uint_eq(ldns_pkt_ancount(r), 0);
		char *qn = qname_of(r);
		ck_assert_str_eq(qn, edns ? "WWW.Example.ORG." : "plain.example.org.");
		free(qn);
		/* with EDNS: why, as EDE 22 (no reachable authority) */
		ck_assert_int_eq(ldns_pkt_edns(r), edns);
		ck_assert_int_eq(ede_of(r), edns ? 22 : -1);
		ldns_pkt_free(r);
	}
	expect_asked(2, 2);
	ck_assert_uint_eq(forwarder_stats(fwd)->servfail, 2);
	ck_assert_uint_eq(forwarder_stats(fwd)->timeouts, 4);
}
END_TEST

/* No upstream at all: SERVFAIL at once. */
START_TEST(test_no_upstreams)
{
	start(0, SLOW_MS);
	ck_assert_uint_eq(ask("www.example.org.", 3, 1), 0);
	ck_assert_uint_eq(n_replies, 1);
	expect_reply(0, LDNS_RCODE_SERVFAIL, -1);
}
END_TEST

/*
 * RFC 8767: an expired entry is served when every upstream fails, with
 * EDE 3. Cache TTLs are whole seconds and the forwarder reads the clock
 * itself, so this one waits a second.
 */
START_TEST(test_serve_stale)
{
	struct fwd_params p = fparams(1, 50);

	p.cache.stale_s = 60;
	ups[0].ttl = 1;
	start_with(&p);
	ask("www.example.org.", 1, 1);
	run_until(&n_replies, 1, SLOW_MS);
	ck_assert_uint_eq(n_replies, 1);
	run_for(1010);
	ups[0].mode = UP_DROP;
	ck_assert_uint_eq(ask("www.example.org.", 2, 2), 0);	/* expired: a miss */
	run_until(&n_replies, 2, SLOW_MS);
	ck_assert_uint_eq(n_replies, 2);
	ck_assert_uint_eq(ups[0].queries, 2);
	ldns_pkt *r = reply_pkt(1);
	ck_assert(!replies[1].fresh);
	ck_assert_uint_eq(ldns_pkt_id(r), 2);
	ck_assert_int_eq(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
	ck_assert_int_eq(answered_by(r), 0);
	ck_assert_uint_eq(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 30);
	ck_assert_int_eq(ede_of(r), 3);
	ldns_pkt_free(r);
	ck_assert_uint_eq(forwarder_stats(fwd)->stale, 1);
	ck_assert_uint_eq(forwarder_stats(fwd)->servfail, 0);
}
END_TEST

START_TEST(test_tcp_retry)
{
	ups[0].mode = UP_TC;
	ups[0].n_answers = 3;
	start(1, SLOW_MS);
	ask("www.example.org.", 9, 1);
	run_until(&n_replies, 1, SLOW_MS);
	ck_assert_uint_eq(n_replies, 1);
	ldns_pkt *r = reply_pkt(0);
	ck_assert(!ldns_pkt_tc(r));
	ck_assert_uint_eq(ldns_pkt_ancount(r), 3);
	ck_assert_uint_eq(ldns_pkt_id(r), 9);
	ldns_pkt_free(r);
	ck_assert(replies[0].fresh);
	ck_assert_uint_eq(ups[0].queries, 1);
	ck_assert_uint_eq(ups[0].tcp_queries, 1);
	ck_assert_uint_eq(forwarder_stats(fwd)->tcp_retries, 1);
}
END_TEST

/* An answer too big for the client's UDP limit: TC, empty; over TCP, all. */
START_TEST(test_client_limit)
{
	struct fwd_params p = fparams(1, SLOW_MS);

	p.cache_enabled = false;
	ups[0].n_answers = 40;	/* 40 x 16 bytes > 512 */
	start_with(&p);
	ask_full("big.example.org.", DNS_TYPE_A, 1, false, false, 1, 512);
	ask_full("big.example.org.", DNS_TYPE_A, 2, false, false, 2, 65535);
	run_until(&n_replies, 2, SLOW_MS);
	ck_assert_uint_eq(n_replies, 2);
	for (unsigned i = 0; i < 2; i++) {
		ldns_pkt *r = reply_pkt(i);
		bool udp = replies[i].client == 1;
		ck_assert_int_eq(ldns_pkt_tc(r), udp);
		ck_assert_uint_eq(ldns_pkt_ancount(r), udp ? 0 : 40);
		if (udp)
			ck_assert_uint_le(replies[i].len, 512);
		ldns_pkt_free(r);
	}
}
END_TEST

START_TEST(test_in_flight_limit)
{
	struct fwd_params p = fparams(1, SLOW_MS);

	p.max_in_flight = 2;
	start_with(&p);
	ask("a.example.org.", 1, 1);
	ask("b.example.org.", 2, 2);
	ck_assert_uint_eq(n_replies, 0);
	/* a third question: SERVFAIL at once; a second asker of a question in
	 * flight waits with the first */
	ask("c.example.org.", 3, 3);
	ck_assert_uint_eq(n_replies, 1);
	ask("a.example.org.", 4, 4);
	ck_assert_uint_eq(n_replies, 1);
	ck_assert_uint_eq(replies[0].client, 3);
	expect_reply(0, LDNS_RCODE_SERVFAIL, -1);
	const struct fwd_stats *st = forwarder_stats(fwd);
	ck_assert_uint_eq(st->over_limit, 1);
	ck_assert_uint_eq(st->coalesced, 1);
	/* answered, they make room again */
	run_until(&n_replies, 4, SLOW_MS);
	ck_assert_uint_eq(n_replies, 4);
	ask("c.example.org.", 5, 5);
	run_until(&n_replies, 5, SLOW_MS);
	expect_reply(4, LDNS_RCODE_NOERROR, 0);
	ck_assert_uint_eq(ups[0].queries, 3);
	ck_assert_uint_eq(st->over_limit, 1);
	/* deleted with queries in flight: no callbacks (and no leak) */
	ups[0].mode = UP_DROP;
	ask("d.example.org.", 6, 6);
	ask("e.example.org.", 7, 7);
	run_for(10);
	ck_assert_uint_eq(ups[0].queries, 5);
	forwarder_delete(fwd);
	fwd = NULL;
	ck_assert_uint_eq(n_replies, 5);
}
END_TEST

/* Ask @p n distinct names one after the other, each answered. */
static void ask_each(unsigned n, const char *tag)
{
	char name[64];

	for (unsigned i = 0; i < n; i++) {
		unsigned want = n_replies + 1;
		snprintf(name, sizeof(name), "%s%u.example.org.", tag, i);
		ask(name, (uint16_t)i, i);
		run_until(&n_replies, want, SLOW_MS);
		ck_assert_uint_eq(n_replies, want);
	}
}

START_TEST(test_policy_sequential)
{
	start(3, SLOW_MS);
	ask_each(10, "s");
	ck_assert_uint_eq(ups[0].queries, 10);
	ck_assert_uint_eq(ups[1].queries + ups[2].queries, 0);
}
END_TEST

START_TEST(test_policy_random)
{
	struct fwd_params p = fparams(3, SLOW_MS);

	p.policy = FWD_POLICY_RANDOM;
	start_with(&p);
	ask_each(60, "r");
	/* all three are used (each missed with odds (2/3)^60, 3e-11) */
	for (int i = 0; i < 3; i++)
		ck_assert_uint_gt(ups[i].queries, 0);
	ck_assert_uint_eq(ups[0].queries + ups[1].queries + ups[2].queries, 60);
}
END_TEST

/* The fastest: the first one answers in 30 ms, the second at once. */
START_TEST(test_policy_fastest)
{
	struct fwd_params p = fparams(2, SLOW_MS);

	p.policy = FWD_POLICY_FASTEST;
	ups[0].delay_ms = 30;
	start_with(&p);
	/* neither measured: the first; then the unmeasured one; then the faster */
	ask_each(12, "f");
	expect_asked(1, 11);
}
END_TEST

/*
 * Two timeouts in a row mark an upstream down: later queries skip it. A
 * health query (". NS") goes to it until it answers, then it is used
 * again. Health queries run every half second, so this one takes one.
 */
START_TEST(test_down_and_back)
{
	ups[0].mode = UP_DROP;
	start(2, 40);
	ask_each(2, "d");
	ck_assert_uint_eq(ups[0].queries, 2);
	ck_assert_uint_eq(forwarder_stats(fwd)->timeouts, 2);
	ask_each(3, "skip");
	expect_asked(2, 5);	/* the first skipped */

	ups[0].mode = UP_ANSWER;
	run_until(&ups[0].queries, 3, 1500);
	ck_assert_uint_eq(ups[0].queries, 3);
	ldns_rr *q = ldns_rr_list_rr(ldns_pkt_question(ups[0].last), 0);
	ck_assert_int_eq(ldns_rr_get_type(q), LDNS_RR_TYPE_NS);
	ck_assert_uint_eq(ldns_dname_label_count(ldns_rr_owner(q)), 0);
	run_for(10);	/* its answer is read */
	ck_assert_uint_eq(n_replies, 5);	/* not relayed to anyone */
	ask_each(1, "back");
	ck_assert_uint_eq(ups[0].queries, 4);
	expect_reply(5, LDNS_RCODE_NOERROR, 0);
}
END_TEST

START_TEST(test_resolv_conf)
{
	static const char text[] =
		"# generated\n"
		"search default.svc.cluster.local svc.cluster.local\n"
		"nameserver 10.96.0.10\n"
		"  nameserver\t2001:db8::53\n"
		"nameserver fe80::1%eth0\n"
		"; nameserver 192.0.2.99\n"
		"nameserver not-an-address\n"
		"options ndots:5\n"
		"nameserver 192.0.2.1";
	struct fwd_upstream_addr u[8];
	char a[INET6_ADDRSTRLEN];

	ck_assert_uint_eq(fwd_parse_resolv_conf(text, u, 8), 4);
	const struct sockaddr_in *s4 = (const void *)&u[0].addr;
	ck_assert_int_eq(s4->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(s4->sin_port), 53);
	ck_assert_uint_eq(u[0].len, sizeof(*s4));
	ck_assert_str_eq(inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)), "10.96.0.10");
	ck_assert_str_eq(u[0].text, "10.96.0.10:53");
	const struct sockaddr_in6 *s6 = (const void *)&u[1].addr;
	ck_assert_int_eq(s6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 53);
	ck_assert_uint_eq(u[1].len, sizeof(*s6));
	ck_assert_str_eq(inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)), "2001:db8::53");
	ck_assert_str_eq(u[1].text, "[2001:db8::53]:53");
	/* a zone id is dropped */
	s6 = (const void *)&u[2].addr;
	ck_assert_str_eq(inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a)), "fe80::1");
	/* the last line needs no newline */
	ck_assert_str_eq(u[3].text, "192.0.2.1:53");
	/* at most max */
	ck_assert_uint_eq(fwd_parse_resolv_conf(text, u, 2), 2);
	ck_assert_uint_eq(fwd_parse_resolv_conf("", u, 8), 0);
}
END_TEST

/*
 * The config takes forward.max_in_flight up to 1,000,000, but pending
 * queries are told apart by their 16-bit ID: the forwarder caps the limit
 * at FWD_MAX_IN_FLIGHT (it used to spin forever looking for a free ID at
 * 65,536 in flight, and the loop thread with it). The query over what the
 * IDs allow gets SERVFAIL (over_limit), as one over max_in_flight does.
 */
START_TEST(test_ids_run_out)
{
	struct fwd_params p = fparams(1, 30000);
	struct fwd_reply_to to = { .fd = -1 };
	struct th_query tq;

	p.max_in_flight = 100000;
	p.cache_enabled = false;
	ups[0].mode = UP_DROP;
	start_with(&p);
	/* q00000 to q65536: the digits rewritten in place, parsed again */
	th_query(&tq, "q00000.example.org.", DNS_TYPE_A, true, false, 1);
	for (unsigned i = 0; i <= FWD_MAX_IN_FLIGHT; i++) {
		char d[8];
		snprintf(d, sizeof(d), "%05u", i);
		memcpy(tq.wire + DNS_HDR_LEN + 2, d, 5);
		ck_assert_int_eq(dns_query_parse(&tq.q, tq.wire, tq.len), DNS_PARSE_OK);
		to.conn_id = i;
		forwarder_query(fwd, &tq.q, &to, 1232, clock_now_ms(), out, sizeof(out));
	}
	ck_assert_uint_eq(n_replies, 1);
	ck_assert_uint_eq(replies[0].client, FWD_MAX_IN_FLIGHT);
	expect_reply(0, LDNS_RCODE_SERVFAIL, -1);
}
END_TEST

Suite *forward_suite(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = tcase_create("forward");
	TCase *tp = tcase_create("parse");
	TCase *ti = tcase_create("ids");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_relay);
	tcase_add_test(tc, test_cache_hit);
	tcase_add_test(tc, test_no_cache);
	tcase_add_test(tc, test_coalesce);
	tcase_add_test(tc, test_spoofed);
	tcase_add_test(tc, test_timeout_next);
	tcase_add_test(tc, test_rcode_next);
	tcase_add_test(tc, test_all_fail);
	tcase_add_test(tc, test_no_upstreams);
	tcase_add_test(tc, test_serve_stale);
	tcase_add_test(tc, test_tcp_retry);
	tcase_add_test(tc, test_client_limit);
	tcase_add_test(tc, test_in_flight_limit);
	tcase_add_test(tc, test_policy_sequential);
	tcase_add_test(tc, test_policy_random);
	tcase_add_test(tc, test_policy_fastest);
	tcase_add_test(tc, test_down_and_back);
	suite_add_tcase(s, tc);
	/* 65,536 queries through a real loop: seconds under a sanitizer */
	tcase_add_checked_fixture(ti, setup, teardown);
	tcase_set_timeout(ti, 60);
	tcase_add_test(ti, test_ids_run_out);
	suite_add_tcase(s, ti);
	tcase_add_test(tp, test_resolv_conf);
	suite_add_tcase(s, tp);
	return s;
}
