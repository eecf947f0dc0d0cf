/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Test helpers (see helpers.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <string.h>

#include "helpers.h"

static int family_of(const char *addr)
{
	return strchr(addr, ':') ? AF_INET6 : AF_INET;
}

struct svc_endpoint th_ep(const char *addr, uint32_t weight)
{
	struct svc_endpoint e = { .family = family_of(addr), .weight = weight, .ready = true };

	ck_assert_msg(inet_pton(e.family, addr, e.addr) == 1, "bad address %s", addr);
	return e;
}

struct sockaddr_storage th_sockaddr(const char *addr, uint16_t port, socklen_t *len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	void *dst = &s4->sin_addr;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family_of(addr);
	if (ss.ss_family == AF_INET) {
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
	} else {
		s6->sin6_port = htons(port);
		dst = &s6->sin6_addr;
		*len = sizeof(*s6);
	}
	ck_assert_msg(inet_pton(ss.ss_family, addr, dst) == 1, "bad address %s", addr);
	return ss;
}

void th_query(struct th_query *tq, const char *name, uint16_t type, bool edns,
	      bool do_bit, uint16_t id)
{
	ldns_pkt *p = NULL;
	uint8_t *w = NULL;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&p, name, (ldns_rr_type)type,
						    LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(p, id);
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, 1232);
		ldns_pkt_set_edns_do(p, do_bit);
	}
	ck_assert_int_eq(ldns_pkt2wire(&w, p, &tq->len), LDNS_STATUS_OK);
	ck_assert_uint_le(tq->len, sizeof(tq->wire));
	memcpy(tq->wire, w, tq->len);
	free(w);
	ldns_pkt_free(p);
	ck_assert_int_eq(dns_query_parse(&tq->q, tq->wire, tq->len), DNS_PARSE_OK);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	*(bool *)arg = true;
}

void th_run_until(struct event_base *base, const unsigned *count, unsigned want,
		  unsigned max_ms)
{
	bool expired = false;
	struct event *t = evtimer_new(base, deadline_cb, &expired);
	struct timeval tv = { max_ms / 1000, (suseconds_t)(max_ms % 1000) * 1000 };

	ck_assert_ptr_nonnull(t);
	evtimer_add(t, &tv);
	while ((!count || *count < want) && !expired)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}
