/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * struct svc_spec helpers: names of protocols and probe types, probe
 * defaults and equality, the probe's port, the deep copy (nothing shared
 * with the source, empty specs too) and endpoint host labels.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/service.h"
#include "suites.h"

START_TEST(test_names)
{
	ck_assert_str_eq(svc_proto_name(SVC_PROTO_TCP), "tcp");
	ck_assert_str_eq(svc_proto_name(SVC_PROTO_UDP), "udp");
	ck_assert_str_eq(svc_proto_name(SVC_PROTO_SCTP), "sctp");
	ck_assert_str_eq(svc_probe_type_name(SVC_PROBE_NONE), "none");
	ck_assert_str_eq(svc_probe_type_name(SVC_PROBE_HTTP), "http");
	ck_assert_str_eq(svc_probe_type_name(SVC_PROBE_HTTPS), "https");
	ck_assert_str_eq(svc_probe_type_name(SVC_PROBE_TCP), "tcp");
}
END_TEST

START_TEST(test_probe_defaults)
{
	struct svc_probe p;

	memset(&p, 0xa5, sizeof(p));
	svc_probe_init(&p);
	ck_assert_int_eq(p.type, SVC_PROBE_NONE);
	ck_assert_uint_eq(p.port, 0);
	ck_assert_ptr_null(p.path);
	ck_assert_ptr_null(p.host);
	ck_assert(p.tls_verify);
	/* a passing status is 2xx or 3xx */
	ck_assert_uint_eq(p.status_min, 200);
	ck_assert_uint_eq(p.status_max, 399);
	ck_assert_uint_eq(p.interval_ms, SVC_PROBE_DEFAULT_INTERVAL_MS);
	ck_assert_uint_eq(p.timeout_ms, SVC_PROBE_DEFAULT_TIMEOUT_MS);
	ck_assert_uint_eq(p.rise, SVC_PROBE_DEFAULT_RISE);
	ck_assert_uint_eq(p.fall, SVC_PROBE_DEFAULT_FALL);
	ck_assert_uint_eq(p.jitter_pct, SVC_PROBE_DEFAULT_JITTER_PCT);
}
END_TEST

START_TEST(test_probe_equal)
{
	struct svc_probe a, b;
	char path1[] = "/healthz", path2[] = "/healthz";

	svc_probe_init(&a);
	svc_probe_init(&b);
	ck_assert(svc_probe_equal(&a, &b));
	/* strings compare by content, NULL only equals NULL */
	a.path = path1;
	ck_assert(!svc_probe_equal(&a, &b));
	ck_assert(!svc_probe_equal(&b, &a));
	b.path = path2;
	ck_assert(svc_probe_equal(&a, &b));
	b.path = "/ready";
	ck_assert(!svc_probe_equal(&a, &b));
	b.path = path2;
	b.host = "web.local";
	ck_assert(!svc_probe_equal(&a, &b));
	a.host = "web.local";
	ck_assert(svc_probe_equal(&a, &b));

	/* each field on its own makes a difference */
	struct svc_probe c;
#define DIFFERS(field, value) do { \
		c = a; \
		c.field = (value); \
		ck_assert_msg(!svc_probe_equal(&a, &c), "%s ignored", #field); \
	} while (0)
	DIFFERS(type, SVC_PROBE_TCP);
	DIFFERS(port, 81);
	DIFFERS(tls_verify, false);
	DIFFERS(status_min, 201);
	DIFFERS(status_max, 299);
	DIFFERS(interval_ms, 2001);
	DIFFERS(timeout_ms, 999);
	DIFFERS(rise, 3);
	DIFFERS(fall, 4);
	DIFFERS(jitter_pct, 0);
#undef DIFFERS
}
END_TEST

START_TEST(test_probe_port)
{
	struct svc_port ports[2] = { { .port = 8080 }, { .port = 9090 } };
	struct svc_spec s = { .name = "web", .namespace = "default" };

	svc_probe_init(&s.probe);
	ck_assert_uint_eq(svc_probe_port(&s), 0);
	s.ports = ports;
	s.n_ports = 2;
	ck_assert_uint_eq(svc_probe_port(&s), 8080);
	s.probe.port = 8443;
	ck_assert_uint_eq(svc_probe_port(&s), 8443);
}
END_TEST

START_TEST(test_copy_deep)
{
	char *zones[2] = { "zone-a", "zone-b" };
	struct svc_port ports[2] = {
		{ .name = "http", .port = 80, .proto = SVC_PROTO_TCP },
		{ .name = NULL, .port = 53, .proto = SVC_PROTO_UDP },
	};
	struct svc_endpoint eps[2] = {
		{ .family = AF_INET, .addr = { 10, 0, 0, 1 }, .hostname = "web-a",
		  .zone = "zone-a", .weight = 50, .ready = true,
		  .for_zones = zones, .n_for_zones = 2 },
		{ .family = AF_INET6, .addr = { 0xfd, [15] = 1 }, .weight = 100 },
	};
	struct svc_spec src = {
		.name = "web", .namespace = "default", .ports = ports, .n_ports = 2,
		.endpoints = eps, .n_endpoints = 2, .probe_mode = SVC_PROBE_MODE_ON_DEMAND,
		.panic_threshold_pct = 30, .has_max_answers = true, .max_answers = 3,
		.slow_start_s = 20,
	};
	struct svc_spec d;

	svc_probe_init(&src.probe);
	src.probe.type = SVC_PROBE_HTTP;
	src.probe.path = "/healthz";
	src.probe.host = "web.local";
	ck_assert_int_eq(svc_spec_copy(&d, &src), 0);

	/* the same contents ... */
	ck_assert_str_eq(d.name, "web");
	ck_assert_str_eq(d.namespace, "default");
	ck_assert(svc_probe_equal(&d.probe, &src.probe));
	ck_assert_int_eq(d.probe_mode, SVC_PROBE_MODE_ON_DEMAND);
	ck_assert_uint_eq(d.panic_threshold_pct, 30);
	ck_assert(d.has_max_answers);
	ck_assert_uint_eq(d.max_answers, 3);
	ck_assert_uint_eq(d.slow_start_s, 20);
	ck_assert_uint_eq(d.n_ports, 2);
	ck_assert_str_eq(d.ports[0].name, "http");
	ck_assert_ptr_null(d.ports[1].name);
	ck_assert_uint_eq(d.ports[1].port, 53);
	ck_assert_int_eq(d.ports[1].proto, SVC_PROTO_UDP);
	ck_assert_uint_eq(d.n_endpoints, 2);
	ck_assert_int_eq(d.endpoints[0].family, AF_INET);
	ck_assert_mem_eq(d.endpoints[0].addr, eps[0].addr, 16);
	ck_assert_mem_eq(d.endpoints[1].addr, eps[1].addr, 16);
	ck_assert_str_eq(d.endpoints[0].hostname, "web-a");
	ck_assert_str_eq(d.endpoints[0].zone, "zone-a");
	ck_assert_uint_eq(d.endpoints[0].weight, 50);
	ck_assert(d.endpoints[0].ready && !d.endpoints[1].ready);
	ck_assert_uint_eq(d.endpoints[0].n_for_zones, 2);
	ck_assert_str_eq(d.endpoints[0].for_zones[1], "zone-b");
	ck_assert_ptr_null(d.endpoints[1].hostname);
	ck_assert_ptr_null(d.endpoints[1].zone);
	ck_assert_uint_eq(d.endpoints[1].n_for_zones, 0);

	/* ... in memory of its own */
	ck_assert_ptr_ne(d.name, src.name);
	ck_assert_ptr_ne(d.probe.path, src.probe.path);
	ck_assert_ptr_ne(d.probe.host, src.probe.host);
	ck_assert_ptr_ne(d.ports, src.ports);
	ck_assert_ptr_ne(d.ports[0].name, ports[0].name);
	ck_assert_ptr_ne(d.endpoints, src.endpoints);
	ck_assert_ptr_ne(d.endpoints[0].hostname, eps[0].hostname);
	ck_assert_ptr_ne(d.endpoints[0].for_zones, zones);
	ck_assert_ptr_ne(d.endpoints[0].for_zones[0], zones[0]);

	/* deinit frees it all (valgrind) and leaves an empty spec */
	svc_spec_deinit(&d);
	ck_assert_ptr_null(d.name);
	ck_assert_ptr_null(d.endpoints);
	ck_assert_uint_eq(d.n_endpoints, 0);
	ck_assert_uint_eq(d.n_ports, 0);
	ck_assert_ptr_null(d.probe.path);
}
END_TEST

START_TEST(test_copy_empty)
{
	struct svc_spec src = { .name = "empty", .namespace = "ns" }, d;

	ck_assert_int_eq(svc_spec_copy(&d, &src), 0);
	ck_assert_str_eq(d.name, "empty");
	ck_assert_uint_eq(d.n_ports, 0);
	ck_assert_uint_eq(d.n_endpoints, 0);
	ck_assert_ptr_null(d.probe.path);
	svc_spec_deinit(&d);
	/* deinit twice is harmless: the first one left it empty */
	svc_spec_deinit(&d);
}
END_TEST

static void host_of(int family, const char *addr, const char *hostname, char out[64])
{
	struct svc_endpoint e = { .family = family, .hostname = (char *)hostname };

	if (addr)
		ck_assert_int_eq(inet_pton(family, addr, e.addr), 1);
	svc_endpoint_host(&e, out);
}

START_TEST(test_endpoint_host)
{
	char out[64], longname[80];

	host_of(AF_INET, "10.0.0.1", NULL, out);
	ck_assert_str_eq(out, "10-0-0-1");
	host_of(AF_INET6, "fd00::1", NULL, out);
	ck_assert_str_eq(out, "fd00--1");
	host_of(AF_INET6, "2001:db8:0:1::a:b", NULL, out);
	ck_assert_str_eq(out, "2001-db8-0-1--a-b");
	/* a hostname wins over the address */
	host_of(AF_INET, "10.0.0.1", "web-0", out);
	ck_assert_str_eq(out, "web-0");
	/* a name too long for a label is cut to fit the buffer */
	memset(longname, 'h', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	host_of(AF_INET, "10.0.0.1", longname, out);
	ck_assert_uint_eq(strlen(out), 63);
	/* no family it knows: no label */
	host_of(AF_UNIX, NULL, NULL, out);
	ck_assert_str_eq(out, "");
}
END_TEST

Suite *service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("service");

	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_probe_defaults);
	tcase_add_test(tc, test_probe_equal);
	tcase_add_test(tc, test_probe_port);
	tcase_add_test(tc, test_copy_deep);
	tcase_add_test(tc, test_copy_empty);
	tcase_add_test(tc, test_endpoint_host);
	suite_add_tcase(s, tc);
	return s;
}
