/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * config_parse(): defaults, every error class with its line and key, and
 * that comments do not shift line numbers.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/config.h"
#include "suites.h"

static struct config *cfg;
static struct config_errors errs;

static void teardown(void)
{
	config_delete(cfg);
	cfg = NULL;
	free(errs.text);
	memset(&errs, 0, sizeof(errs));
}

static int parse(const char *text)
{
	teardown();
	return config_parse("t.conf", text, strlen(text), &cfg, &errs);
}

/* The error text must hold exactly this "t.conf:LINE: KEY: ..." prefix. */
static void expect_error(const char *text, int line, const char *key,
			 const char *words)
{
	char prefix[256];

	ck_assert_msg(parse(text) == MESHDNS_ECONFIG,
		      "config_parse accepted a bad config:\n%s", text);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(errs.text);
	snprintf(prefix, sizeof(prefix), "t.conf:%d: %s: ", line, key);
	ck_assert_msg(strstr(errs.text, prefix) != NULL,
		      "config_parse: expected '%s' in:\n%s", prefix, errs.text);
	if (words)
		ck_assert_msg(strstr(errs.text, words) != NULL,
			      "config_parse: expected '%s' in:\n%s", words, errs.text);
}

START_TEST(test_defaults)
{
	ck_assert_int_eq(parse("{}"), 0);
	ck_assert_str_eq(cfg->domain, "mesh.local");
	ck_assert_uint_eq(cfg->ttl_s, 5);
	ck_assert_uint_eq(cfg->negative_ttl_s, 5);
	ck_assert_uint_eq(cfg->edns_buffer_size, 1232);
	ck_assert_uint_eq(cfg->n_listen, 1);
	ck_assert_str_eq(cfg->listen[0].text, "127.0.0.1:53");
	ck_assert_uint_eq(cfg->n_services, 0);
	ck_assert_uint_eq(cfg->threads, 1);
	ck_assert_uint_eq(cfg->udp_coalesce_us, 400);
}
END_TEST

/* udp_coalesce_us: 0 (off) to 1000 us */
START_TEST(test_coalesce_range)
{
	ck_assert_int_eq(parse("{\"udp_coalesce_us\": 0}"), 0);
	ck_assert_uint_eq(cfg->udp_coalesce_us, 0);
	ck_assert_int_eq(parse("{\"udp_coalesce_us\": 1000}"), 0);
	ck_assert_uint_eq(cfg->udp_coalesce_us, 1000);
	expect_error("{\"udp_coalesce_us\": 1001}", 1, "udp_coalesce_us", NULL);
	expect_error("{\"udp_coalesce_us\": -1}", 1, "udp_coalesce_us", NULL);
}
END_TEST

START_TEST(test_full)
{
	const char *text =
		"// leading comment\n"
		"{\n"
		"  /* block\n     comment */\n"
		"  \"listen\": [\"127.0.0.1:5353\", \"[::1]:5354\"],\n"
		"  \"domain\": \"Mesh.Example.\",\n"
		"  \"ttl\": 30, \"negative_ttl\": 7,\n"
		"  \"services\": [ { \"name\": \"web\", \"namespace\": \"prod\",\n"
		"     \"ports\": [ {\"name\": \"http\", \"port\": 80, \"protocol\": \"TCP\"},\n"
		"                  {\"name\": \"dns\", \"port\": 53, \"protocol\": \"udp\"} ],\n"
		"     \"endpoints\": [ {\"address\": \"10.0.0.1\", \"zone\": \"a\", \"weight\": 0},\n"
		"                      {\"address\": \"fd00::1\", \"hostname\": \"web-0\"} ] } ]\n"
		"}\n";

	ck_assert_msg(parse(text) == 0, "config_parse: %s", errs.text);
	ck_assert_str_eq(cfg->domain, "mesh.example");
	ck_assert_uint_eq(cfg->ttl_s, 30);
	ck_assert_uint_eq(cfg->negative_ttl_s, 7);
	ck_assert_uint_eq(cfg->n_listen, 2);
	ck_assert_int_eq(cfg->listen[1].addr.ss_family, AF_INET6);
	ck_assert_uint_eq(cfg->n_services, 1);
	const struct svc_spec *s = &cfg->services[0];
	ck_assert_str_eq(s->name, "web");
	ck_assert_str_eq(s->namespace, "prod");
	ck_assert_uint_eq(s->n_ports, 2);
	ck_assert_int_eq(s->ports[1].proto, SVC_PROTO_UDP);
	ck_assert_uint_eq(s->ports[1].port, 53);
	ck_assert_uint_eq(s->n_endpoints, 2);
	ck_assert_int_eq(s->endpoints[0].family, AF_INET);
	ck_assert_uint_eq(s->endpoints[0].weight, 0);
	ck_assert_str_eq(s->endpoints[0].zone, "a");
	ck_assert_uint_eq(s->endpoints[1].weight, 100);
	ck_assert_str_eq(s->endpoints[1].hostname, "web-0");
	ck_assert(s->endpoints[1].ready);
}
END_TEST

START_TEST(test_namespace_default)
{
	ck_assert_int_eq(parse("{\"services\":[{\"name\":\"a\"}]}"), 0);
	ck_assert_str_eq(cfg->services[0].namespace, "default");
}
END_TEST

START_TEST(test_unknown_key)
{
	expect_error("{\n\"listen\": [\"127.0.0.1:53\"],\n\"tll\": 5\n}", 3, "tll",
		     "unknown key");
	expect_error("{\"services\": [\n {\"name\": \"a\",\n  \"endpoints\": [{\"address\": \"10.0.0.1\",\n \"wieght\": 3}]}]}",
		     4, "services[0].endpoints[0].wieght", "unknown key");
}
END_TEST

START_TEST(test_wrong_type)
{
	expect_error("{\n  \"ttl\": \"5\"\n}", 2, "ttl", "must be a number");
	expect_error("{\"listen\": \"127.0.0.1:53\"}", 1, "listen", "must be an array");
	expect_error("{\"services\": {}}", 1, "services", "must be an array");
	expect_error("{\"services\": [1]}", 1, "services[0]", "must be an object");
	expect_error("{\"ttl\": 2.5}", 1, "ttl", "whole number");
	expect_error("{\"ttl\": 99999}", 1, "ttl", "from 0 to 3600");
}
END_TEST

START_TEST(test_bad_address)
{
	expect_error("{\"services\": [{\"name\": \"web\",\n"
		     "\"endpoints\": [\n"
		     "  {\"address\": \"10.0.0.1\"},\n"
		     "  {\"address\": \"10.0.0.300\"}]}]}",
		     4, "services[0].endpoints[1].address", "\"10.0.0.300\" is not an IP address");
	expect_error("{\"services\": [{\"name\": \"web\", \"endpoints\": [{\"zone\": \"a\"}]}]}",
		     1, "services[0].endpoints[0].address", "is required");
}
END_TEST

START_TEST(test_bad_port)
{
	expect_error("{\"services\": [{\"name\": \"web\",\n \"ports\": [{\"name\": \"http\",\n \"port\": 0}]}]}",
		     3, "services[0].ports[0].port", "from 1 to 65535");
	expect_error("{\"services\": [{\"name\": \"web\", \"ports\": [{\"name\": \"http\", \"port\": 70000}]}]}",
		     1, "services[0].ports[0].port", "from 1 to 65535");
	expect_error("{\"services\": [{\"name\": \"web\", \"ports\": [{\"name\": \"Http_1\", \"port\": 80}]}]}",
		     1, "services[0].ports[0].name", "not a port name");
	expect_error("{\"services\": [{\"name\": \"web\", \"ports\": [{\"name\": \"http\", \"port\": 80, \"protocol\": \"icmp\"}]}]}",
		     1, "services[0].ports[0].protocol", "not tcp, udp or sctp");
	expect_error("{\"services\": [{\"name\": \"web\", \"ports\": [{\"name\": \"a\", \"port\": 80},\n{\"name\": \"a\", \"port\": 81}]}]}",
		     2, "services[0].ports[1]", "used twice");
}
END_TEST

START_TEST(test_bad_listen)
{
	expect_error("{\"listen\": [\"127.0.0.1\"]}", 1, "listen[0]", "ADDR:PORT");
	expect_error("{\"listen\": [\"127.0.0.1:0\"]}", 1, "listen[0]", NULL);
	expect_error("{\"listen\": [\"::1:53\"]}", 1, "listen[0]", NULL);
	expect_error("{\"listen\": [\"[::1]53\"]}", 1, "listen[0]", NULL);
	expect_error("{\"listen\": [\"localhost:53\"]}", 1, "listen[0]", NULL);
	expect_error("{\"listen\": [\n\"127.0.0.1:53\",\n\"127.0.0.1:53\"]}", 3, "listen[1]",
		     "listed twice");
	expect_error("{\"listen\": []}", 1, "listen", "at least one");
	ck_assert_int_eq(parse("{\"listen\": [\"[::1]:53\", \"0.0.0.0:5353\"]}"), 0);
}
END_TEST

START_TEST(test_duplicate_service)
{
	expect_error("{\"services\": [\n{\"name\": \"web\"},\n{\"name\": \"api\"},\n"
		     "{\"name\": \"web\", \"namespace\": \"default\"}]}",
		     4, "services[2]", "defined twice");
	/* the same name in another namespace is another service */
	ck_assert_int_eq(parse("{\"services\": [{\"name\": \"web\"}, "
			       "{\"name\": \"web\", \"namespace\": \"b\"}]}"), 0);
}
END_TEST

START_TEST(test_duplicate_key)
{
	expect_error("{\n\"ttl\": 5,\n\"ttl\": 6\n}", 3, "ttl", "duplicate key (first at line 2)");
}
END_TEST

START_TEST(test_bad_names)
{
	expect_error("{\"services\": [{\"name\": \"Web_1\"}]}", 1, "services[0].name",
		     "not a service name");
	expect_error("{\"services\": [{\"name\": \"1web\"}]}", 1, "services[0].name", NULL);
	expect_error("{\"services\": [{\"name\": \"web\", \"namespace\": \"a.b\"}]}", 1,
		     "services[0].namespace", NULL);
	expect_error("{\"services\": [{\"namespace\": \"a\"}]}", 1, "services[0].name",
		     "is required");
	expect_error("{\"domain\": \"bad..name\"}", 1, "domain", NULL);
	expect_error("{\"services\": [{\"name\": \"web\", \"endpoints\": [{\"address\": \"10.0.0.1\", \"hostname\": \"A B\"}]}]}",
		     1, "services[0].endpoints[0].hostname", NULL);
}
END_TEST

START_TEST(test_duplicate_endpoint)
{
	expect_error("{\"services\": [{\"name\": \"web\", \"endpoints\": [\n"
		     "{\"address\": \"10.0.0.1\"},\n{\"address\": \"10.0.0.1\"}]}]}",
		     3, "services[0].endpoints[1]", "listed twice");
	expect_error("{\"services\": [{\"name\": \"web\", \"endpoints\": [\n"
		     "{\"address\": \"10.0.0.1\", \"hostname\": \"h\"},\n"
		     "{\"address\": \"10.0.0.2\", \"hostname\": \"h\"}]}]}",
		     3, "services[0].endpoints[1]", "used twice");
	/* one hostname for the v4 and the v6 address of a dual-stack pod */
	ck_assert_int_eq(parse("{\"services\": [{\"name\": \"web\", \"endpoints\": ["
			       "{\"address\": \"10.0.0.1\", \"hostname\": \"h\"},"
			       "{\"address\": \"fd00::1\", \"hostname\": \"h\"}]}]}"), 0);
}
END_TEST

START_TEST(test_syntax)
{
	expect_error("{\n \"ttl\": 5,\n}", 3, "syntax error", "trailing comma");
	ck_assert_int_eq(parse("{\n\"a\" 1}"), MESHDNS_ECONFIG);
	ck_assert_ptr_nonnull(strstr(errs.text, "t.conf:2: syntax error"));
	ck_assert_int_eq(parse("{\"ttl\": 5 /* open"), MESHDNS_ECONFIG);
	ck_assert_ptr_nonnull(strstr(errs.text, "unterminated"));
	ck_assert_int_eq(parse(""), MESHDNS_ECONFIG);
	ck_assert_int_eq(parse("{} {}"), MESHDNS_ECONFIG);
	ck_assert_int_eq(parse("{'ttl': 5}"), MESHDNS_ECONFIG);
	/* a "//" inside a string is not a comment */
	ck_assert_int_eq(parse("{\"domain\": \"a.b\", // c\n \"log_level\": \"debug\"}"), 0);
}
END_TEST

START_TEST(test_all_errors_reported)
{
	ck_assert_int_eq(parse("{\n\"ttl\": -1,\n\"x\": 1,\n\"listen\": [\"nope\"]\n}"),
			 MESHDNS_ECONFIG);
	ck_assert_uint_eq(errs.count, 3);
	ck_assert_ptr_nonnull(strstr(errs.text, "t.conf:2: ttl"));
	ck_assert_ptr_nonnull(strstr(errs.text, "t.conf:3: x"));
	ck_assert_ptr_nonnull(strstr(errs.text, "t.conf:4: listen[0]"));
}
END_TEST

START_TEST(test_missing_file)
{
	teardown();
	ck_assert_int_eq(config_load("/nonexistent/meshdns.conf", &cfg, &errs),
			 MESHDNS_ECONFIG);
	ck_assert_ptr_nonnull(strstr(errs.text, "/nonexistent/meshdns.conf: cannot open"));
}
END_TEST

START_TEST(test_labels)
{
	ck_assert(svc_is_dns1123_label("a-1"));
	ck_assert(!svc_is_dns1123_label("-a"));
	ck_assert(!svc_is_dns1123_label("a-"));
	ck_assert(!svc_is_dns1123_label("A"));
	ck_assert(!svc_is_dns1123_label(""));
	ck_assert(svc_is_port_name("http"));
	ck_assert(svc_is_port_name("h2c-1"));
	ck_assert(!svc_is_port_name("123"));
	ck_assert(!svc_is_port_name("a--b"));
	ck_assert(!svc_is_port_name("abcdefghijklmnop"));
}
END_TEST

START_TEST(test_probe)
{
	ck_assert_msg(parse("{\"probe_max_in_flight\": 50, \"probe_mode\": \"on_demand\",\n"
			    "\"services\": [{\"name\": \"web\", \"ports\": [{\"name\": \"http\", \"port\": 8080}],\n"
			    " \"panic_threshold_pct\": 30, \"probe_mode\": \"all\",\n"
			    " \"probe\": {\"type\": \"https\", \"path\": \"/healthz\", \"host\": \"web.example\",\n"
			    "   \"tls_verify\": false, \"expect_status\": \"200-204\", \"interval_ms\": 500,\n"
			    "   \"timeout_ms\": 250, \"rise\": 1, \"fall\": 5, \"jitter_pct\": 20}}]}") == 0,
		      "config_parse: %s", errs.text);
	ck_assert_uint_eq(cfg->probe_max_in_flight, 50);
	ck_assert_int_eq(cfg->probe_mode, SVC_PROBE_MODE_ON_DEMAND);
	const struct svc_spec *s = &cfg->services[0];
	ck_assert_int_eq(s->probe_mode, SVC_PROBE_MODE_ALL);
	ck_assert_uint_eq(s->panic_threshold_pct, 30);
	ck_assert_int_eq(s->probe.type, SVC_PROBE_HTTPS);
	ck_assert_str_eq(s->probe.path, "/healthz");
	ck_assert_str_eq(s->probe.host, "web.example");
	ck_assert(!s->probe.tls_verify);
	ck_assert_uint_eq(s->probe.status_min, 200);
	ck_assert_uint_eq(s->probe.status_max, 204);
	ck_assert_uint_eq(s->probe.interval_ms, 500);
	ck_assert_uint_eq(s->probe.timeout_ms, 250);
	ck_assert_uint_eq(s->probe.rise, 1);
	ck_assert_uint_eq(s->probe.fall, 5);
	ck_assert_uint_eq(s->probe.jitter_pct, 20);
	ck_assert_uint_eq(svc_probe_port(s), 8080);

	/* defaults */
	ck_assert_int_eq(parse("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],"
			       " \"probe\": {\"type\": \"tcp\"}}]}"), 0);
	s = &cfg->services[0];
	ck_assert_uint_eq(s->probe.interval_ms, 2000);
	ck_assert_uint_eq(s->probe.timeout_ms, 1000);
	ck_assert_uint_eq(s->probe.rise, 2);
	ck_assert_uint_eq(s->probe.fall, 3);
	ck_assert_uint_eq(s->probe.jitter_pct, 10);
	ck_assert_uint_eq(s->probe.status_min, 200);
	ck_assert_uint_eq(s->probe.status_max, 399);
	ck_assert(s->probe.tls_verify);
	ck_assert_uint_eq(s->panic_threshold_pct, 0);
	ck_assert_int_eq(cfg->probe_mode, SVC_PROBE_MODE_ALL);
}
END_TEST

START_TEST(test_probe_errors)
{
	expect_error("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],\n"
		     "\"probe\": {\"type\": \"icmp\"}}]}", 2, "services[0].probe.type", "not http");
	expect_error("{\"services\": [{\"name\": \"a\",\n\"probe\": {\"type\": \"tcp\"}}]}",
		     2, "services[0].probe", "needs a port");
	expect_error("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],\n"
		     "\"probe\": {\"type\": \"http\",\n\"timeout_ms\": 3000}}]}", 3,
		     "services[0].probe.timeout_ms", "longer than interval_ms");
	expect_error("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],"
		     "\"probe\": {\"type\": \"http\", \"path\": \"healthz\"}}]}", 1,
		     "services[0].probe.path", "start with '/'");
	expect_error("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],"
		     "\"probe\": {\"type\": \"http\", \"expect_status\": \"399-200\"}}]}", 1,
		     "services[0].probe.expect_status", NULL);
	expect_error("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],"
		     "\"probe\": {\"type\": \"http\", \"rise\": 0}}]}", 1,
		     "services[0].probe.rise", NULL);
	expect_error("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],"
		     "\"probe\": {\"type\": \"http\", \"tls_verify\": \"no\"}}]}", 1,
		     "services[0].probe.tls_verify", "true or false");
	expect_error("{\"services\": [{\"name\": \"a\", \"panic_threshold_pct\": 101}]}", 1,
		     "services[0].panic_threshold_pct", NULL);
	expect_error("{\"probe_mode\": \"sometimes\"}", 1, "probe_mode", "not all or on_demand");
	expect_error("{\"services\": [{\"name\": \"a\", \"ports\": [{\"port\": 80}],"
		     "\"probe\": {\"type\": \"http\", \"intervall_ms\": 5}}]}", 1,
		     "services[0].probe.intervall_ms", "unknown key");
}
END_TEST

START_TEST(test_allow)
{
	struct config_prefix p[3];
	uint8_t a[16];

	ck_assert_int_eq(config_parse_prefix("10.0.0.0/8", &p[0]), 0);
	ck_assert_int_eq(config_parse_prefix("fd00::/8", &p[1]), 0);
	ck_assert_int_eq(config_parse_prefix("192.0.2.7", &p[2]), 0);
	ck_assert_uint_eq(p[2].len, 32);
	inet_pton(AF_INET, "10.255.1.2", a);
	ck_assert(config_prefix_match(p, 3, AF_INET, a));
	inet_pton(AF_INET, "11.0.0.1", a);
	ck_assert(!config_prefix_match(p, 3, AF_INET, a));
	inet_pton(AF_INET, "192.0.2.7", a);
	ck_assert(config_prefix_match(p, 3, AF_INET, a));
	inet_pton(AF_INET, "192.0.2.8", a);
	ck_assert(!config_prefix_match(p, 3, AF_INET, a));
	inet_pton(AF_INET6, "fd12::1", a);
	ck_assert(config_prefix_match(p, 3, AF_INET6, a));
	inet_pton(AF_INET6, "fe80::1", a);
	ck_assert(!config_prefix_match(p, 3, AF_INET6, a));
	/* a v4-mapped address counts as IPv4 */
	inet_pton(AF_INET6, "::ffff:10.1.2.3", a);
	ck_assert(config_prefix_match(p, 3, AF_INET6, a));
	/* odd prefix lengths */
	ck_assert_int_eq(config_parse_prefix("172.16.0.0/12", &p[0]), 0);
	inet_pton(AF_INET, "172.31.255.255", a);
	ck_assert(config_prefix_match(p, 1, AF_INET, a));
	inet_pton(AF_INET, "172.32.0.0", a);
	ck_assert(!config_prefix_match(p, 1, AF_INET, a));
	static const char *const bad[] = { "10.0.0.0/33", "fd00::/129", "x/8", "/8", "10.0.0.0/",
					   "10.0.0.0/a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(config_parse_prefix(bad[i], &p[0]) < 0,
			      "config_parse_prefix accepted %s", bad[i]);
	/* the default list: loopback, RFC 1918, link-local, RFC 4193 */
	ck_assert_int_eq(parse("{}"), 0);
	inet_pton(AF_INET, "127.0.0.1", a);
	ck_assert(config_prefix_match(cfg->allow, cfg->n_allow, AF_INET, a));
	inet_pton(AF_INET, "192.168.1.1", a);
	ck_assert(config_prefix_match(cfg->allow, cfg->n_allow, AF_INET, a));
	inet_pton(AF_INET, "8.8.8.8", a);
	ck_assert(!config_prefix_match(cfg->allow, cfg->n_allow, AF_INET, a));
	expect_error("{\n\"allow\": [\"10.0.0.0/8\",\n \"nope\"]}", 3, "allow[1]", "prefix");
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_coalesce_range);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_namespace_default);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_wrong_type);
	tcase_add_test(tc, test_bad_address);
	tcase_add_test(tc, test_bad_port);
	tcase_add_test(tc, test_bad_listen);
	tcase_add_test(tc, test_duplicate_service);
	tcase_add_test(tc, test_duplicate_key);
	tcase_add_test(tc, test_bad_names);
	tcase_add_test(tc, test_duplicate_endpoint);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_labels);
	tcase_add_test(tc, test_probe);
	tcase_add_test(tc, test_probe_errors);
	tcase_add_test(tc, test_allow);
	suite_add_tcase(s, tc);
	return s;
}
