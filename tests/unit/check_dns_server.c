/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The DNS server (src/net/) on a real event loop and real loopback
 * sockets: serve_query() through UDP and TCP alike (answers, pipelining,
 * the allow list, counters), worker threads, a reconfigure, and what is
 * left after stop_listening. The config and its parameters come from
 * config_parse() and params_*(), as in the daemon.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "meshdns/config.h"
#include "meshdns/dns_server.h"
#include "meshdns/params.h"
#include "meshdns/registry.h"
#include "suites.h"

static struct event_base *base;
static struct registry *reg;
static struct config *cfg;
static struct dns_server *srv;
static uint16_t port;

/* A port nobody on 127.0.0.1 uses right now, for UDP and TCP. */
static uint16_t free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Start a server on a config with @p extra keys (JSON members). */
static void start(const char *extra)
{
	char text[2048];
	struct config_errors errs = { 0 };
	struct sockaddr_storage ns[4];
	struct snapshot_params sp;
	struct dns_server_params dp;

	port = free_port();
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%u\"], \"http\": \"off\", %s%s"
		 "  \"services\": [ { \"name\": \"web\", \"namespace\": \"default\","
		 "    \"endpoints\": [ {\"address\": \"10.0.0.1\"}, {\"address\": \"10.0.0.2\"} ] } ] }",
		 port, extra, *extra ? "," : "");
	ck_assert_msg(config_parse("t", text, strlen(text), &cfg, &errs) == 0, "%s", errs.text);
	free(errs.text);
	base = event_base_new();
	params_snapshot(cfg, NULL, "node-1", ns, &sp);
	reg = registry_create(&sp);
	ck_assert_int_eq(registry_replace_all(reg, REGISTRY_SOURCE_STATIC, cfg->services,
					      cfg->n_services), 0);
	ck_assert_int_eq(registry_publish(reg), 0);
	params_dns_server(cfg, &dp);
	srv = dns_server_create(base, &dp, reg);
	ck_assert_ptr_nonnull(srv);
	ck_assert_int_eq(dns_server_start(srv), 0);
}

static void teardown(void)
{
	dns_server_delete(srv);
	registry_delete(reg);
	config_delete(cfg);
	event_base_free(base);
	srv = NULL;
	reg = NULL;
	cfg = NULL;
	base = NULL;
}

static size_t make_query(uint8_t *buf, size_t cap, const char *name, ldns_rr_type t,
			 uint16_t id)
{
	ldns_pkt *q = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&q, name, t, LDNS_RR_CLASS_IN, LDNS_RD),
			 LDNS_STATUS_OK);
	ldns_pkt_set_id(q, id);
	ck_assert_int_eq(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
	ck_assert_uint_le(len, cap);
	memcpy(buf, wire, len);
	free(wire);
	ldns_pkt_free(q);
	return len;
}

/* Run the loop until @p fd is readable (at most ~2 s). */
static void loop_until_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int i = 0; i < 2000; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 1) > 0)
			return;
	}
	ck_abort_msg("no reply within 2 s");
}

static struct sockaddr_in server_addr(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sin;
}

/* One UDP query from a fresh socket; the reply parsed (caller frees). */
static ldns_pkt *ask_udp(const char *name, ldns_rr_type t, uint16_t id)
{
	uint8_t q[512], r[4096];
	struct sockaddr_in sin = server_addr();
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ldns_pkt *pkt = NULL;

	size_t ql = make_query(q, sizeof(q), name, t, id);
	ck_assert_int_eq(sendto(fd, q, ql, 0, (struct sockaddr *)&sin, sizeof(sin)), (ssize_t)ql);
	loop_until_readable(fd);
	ssize_t n = recv(fd, r, sizeof(r), 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(ldns_wire2pkt(&pkt, r, (size_t)n), LDNS_STATUS_OK);
	return pkt;
}

START_TEST(udp_answers_a)
{
	start("");
	ldns_pkt *p = ask_udp("web.default.svc.mesh.local.", LDNS_RR_TYPE_A, 7);

	ck_assert_uint_eq(ldns_pkt_id(p), 7);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert(ldns_pkt_aa(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
	ldns_pkt_free(p);
	const struct dns_stats *st = dns_server_stats(srv);
	ck_assert_uint_eq(st->queries_udp, 1);
	ck_assert_uint_eq(st->queries_tcp, 0);
	ck_assert_uint_eq(st->qtype[DNS_STAT_A], 1);
	ck_assert_uint_eq(st->rcode[0], 1);
	ck_assert_uint_eq(dns_server_thread_queries(srv, 0), 1);
}
END_TEST

/* Read one length-prefixed TCP message. */
static ldns_pkt *read_tcp(int fd)
{
	uint8_t lb[2], r[65535];
	ldns_pkt *pkt = NULL;
	size_t got = 0, want = 2;

	while (got < want) {
		loop_until_readable(fd);
		ssize_t n = recv(fd, want == 2 ? lb + got : r + got, want - got, 0);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
		if (want == 2 && got == 2) {
			want = (size_t)lb[0] << 8 | lb[1];
			got = 0;
		}
	}
	ck_assert_int_eq(ldns_wire2pkt(&pkt, r, want), LDNS_STATUS_OK);
	return pkt;
}

START_TEST(tcp_pipelined_through_the_same_path)
{
	start("");
	struct sockaddr_in sin = server_addr();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	uint8_t buf[1024];
	size_t len = 0;

	connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	/* two queries in one write: answered in order (RFC 7766) */
	for (uint16_t id = 1; id <= 2; id++) {
		size_t ql = make_query(buf + len + 2, sizeof(buf) - len - 2,
				       id == 1 ? "web.default.svc.mesh.local." :
						 "nosuch.default.svc.mesh.local.",
				       LDNS_RR_TYPE_A, id);
		buf[len] = (uint8_t)(ql >> 8);
		buf[len + 1] = (uint8_t)ql;
		len += 2 + ql;
	}
	for (int i = 0; i < 50; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);	/* accept */
	ck_assert_int_eq(send(fd, buf, len, 0), (ssize_t)len);
	ldns_pkt *a = read_tcp(fd), *b = read_tcp(fd);
	ck_assert_uint_eq(ldns_pkt_id(a), 1);
	ck_assert_uint_eq(ldns_pkt_ancount(a), 2);
	ck_assert_uint_eq(ldns_pkt_id(b), 2);
	ck_assert_int_eq(ldns_pkt_get_rcode(b), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(a);
	ldns_pkt_free(b);
	close(fd);
	const struct dns_stats *st = dns_server_stats(srv);
	ck_assert_uint_eq(st->queries_tcp, 2);
	ck_assert_uint_eq(st->queries_udp, 0);
	ck_assert_uint_eq(st->tcp_accepted, 1);
	ck_assert_uint_eq(st->rcode[3], 1);
}
END_TEST

START_TEST(allow_list_refuses_udp_and_closes_tcp)
{
	start("\"allow\": [\"10.0.0.0/8\"]");
	ldns_pkt *p = ask_udp("web.default.svc.mesh.local.", LDNS_RR_TYPE_A, 9);

	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	ck_assert_uint_eq(dns_server_stats(srv)->refused_clients, 1);

	struct sockaddr_in sin = server_addr();
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	loop_until_readable(fd);
	char c;
	ck_assert_int_le(recv(fd, &c, 1, 0), 0);	/* closed at accept */
	close(fd);
	ck_assert_uint_eq(dns_server_stats(srv)->refused_clients, 2);
	ck_assert_uint_eq(dns_server_stats(srv)->tcp_accepted, 0);
}
END_TEST

START_TEST(reconfigure_applies_the_allow_list)
{
	start("");
	struct config *c2 = NULL;
	struct config_errors errs = { 0 };
	const char *t = "{ \"allow\": [\"10.0.0.0/8\"] }";
	struct dns_server_params dp;

	ck_assert_int_eq(config_parse("t2", t, strlen(t), &c2, &errs), 0);
	free(errs.text);
	params_dns_server(c2, &dp);
	dns_server_reconfigure(srv, &dp);
	config_delete(c2);
	ldns_pkt *p = ask_udp("web.default.svc.mesh.local.", LDNS_RR_TYPE_A, 3);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(worker_threads_answer_and_hand_over_ptr)
{
	start("\"threads\": 2");
	ck_assert_uint_eq(dns_server_threads(srv), 2);
	for (uint16_t i = 0; i < 20; i++) {
		ldns_pkt *p = ask_udp("web.default.svc.mesh.local.", LDNS_RR_TYPE_A, i);
		ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
		ldns_pkt_free(p);
	}
	/* PTR needs the loop thread's reverse map: a worker hands it over */
	ldns_pkt *p = ask_udp("1.0.0.10.in-addr.arpa.", LDNS_RR_TYPE_PTR, 99);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	uint64_t w = dns_server_thread_queries(srv, 1) + dns_server_thread_queries(srv, 2);
	ck_assert_uint_eq(w, 20);
	ck_assert_uint_eq(dns_server_thread_queries(srv, 0), 1);
	ck_assert_uint_eq(dns_server_stats(srv)->queries_udp, 21);
}
END_TEST

START_TEST(stop_listening_closes_the_port)
{
	start("");
	dns_server_stop_listening(srv);
	ck_assert_uint_eq(dns_server_busy_connections(srv), 0);
	ck_assert(!dns_server_successor_ready(srv));
	/* the port is free again: we can bind it without SO_REUSEPORT */
	struct sockaddr_in sin = server_addr();
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(fd);
}
END_TEST

START_TEST(addresses_in_use_sees_another_socket)
{
	struct config_listen l;

	start("");
	ck_assert_int_eq(config_parse_listen("127.0.0.1:1", &l), 0);
	((struct sockaddr_in *)&l.addr)->sin_port = htons(port);
	/* our own sockets count: this asks whether anyone serves it */
	ck_assert(dns_server_addresses_in_use(&l, 1));
	dns_server_stop_listening(srv);
	ck_assert(!dns_server_addresses_in_use(&l, 1));
}
END_TEST

Suite *dns_server_suite(void)
{
	Suite *s = suite_create("dns_server");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, udp_answers_a);
	tcase_add_test(tc, tcp_pipelined_through_the_same_path);
	tcase_add_test(tc, allow_list_refuses_udp_and_closes_tcp);
	tcase_add_test(tc, reconfigure_applies_the_allow_list);
	tcase_add_test(tc, worker_threads_answer_and_hand_over_ptr);
	tcase_add_test(tc, stop_listening_closes_the_port);
	tcase_add_test(tc, addresses_in_use_sees_another_socket);
	suite_add_tcase(s, tc);
	return s;
}
