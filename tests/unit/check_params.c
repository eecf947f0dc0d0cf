/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * src/ops/params.c: the one place the config and the learned node zone
 * become module parameters. The reload case: a config without node.zone,
 * reloaded, keeps the zone learned from the Node object.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/params.h"
#include "suites.h"

static struct config *parse(const char *text)
{
	struct config *cfg = NULL;
	struct config_errors errs = { 0 };

	ck_assert_msg(config_parse("t", text, strlen(text), &cfg, &errs) == 0, "%s", errs.text);
	free(errs.text);
	return cfg;
}

START_TEST(learned_zone_when_the_config_has_none)
{
	struct config *cfg = parse("{}");
	struct params_learned l = { .node_zone = "zone-b" };
	struct snap_policy p;

	params_policy(cfg, &l, &p);
	ck_assert_str_eq(p.node_zone, "zone-b");
	ck_assert(p.zone_preference);
	params_policy(cfg, NULL, &p);
	ck_assert_ptr_null(p.node_zone);
	config_delete(cfg);
}
END_TEST

START_TEST(config_zone_wins_over_learned)
{
	struct config *cfg = parse("{ \"node\": { \"zone\": \"zone-a\" }, "
				   "\"zone_min_share_pct\": 40, \"max_answers\": 3 }");
	struct params_learned l = { .node_zone = "zone-b" };
	struct snap_policy p;

	params_policy(cfg, &l, &p);
	ck_assert_str_eq(p.node_zone, "zone-a");
	ck_assert_uint_eq(p.zone_min_share_pct, 40);
	ck_assert_uint_eq(p.max_answers, 3);
	config_delete(cfg);
}
END_TEST

START_TEST(reload_keeps_the_learned_zone)
{
	/* what daemon.c does on SIGHUP: the new config, the same facts */
	struct config *before = parse("{ \"zone_preference\": true }");
	struct config *after = parse("{ \"zone_preference\": true, \"ttl\": 9 }");
	struct params_learned l = { .node_zone = "zone-c" };
	struct snap_policy p1, p2;

	params_policy(before, &l, &p1);
	params_policy(after, &l, &p2);
	ck_assert_str_eq(p1.node_zone, "zone-c");
	ck_assert_str_eq(p2.node_zone, "zone-c");
	config_delete(before);
	config_delete(after);
}
END_TEST

START_TEST(dns_server_params_follow_the_config)
{
	struct config *cfg = parse("{ \"listen\": [\"127.0.0.1:5301\", \"[::1]:5301\"], "
				   "\"threads\": 3, \"edns_buffer_size\": 1400, "
				   "\"allow\": [\"10.0.0.0/8\"], \"tcp_max_connections\": 7, "
				   "\"tcp_idle_timeout_ms\": 1500, \"udp_coalesce_us\": 0, "
				   "\"rate_limit\": { \"responses_per_second\": 50, \"slip\": 3, "
				   "\"ipv4_prefix\": 20, \"ipv6_prefix\": 48, "
				   "\"exempt_loopback\": false } }");
	struct dns_server_params p;

	params_dns_server(cfg, &p);
	ck_assert_uint_eq(p.n_listen, 2);
	ck_assert_str_eq(p.listen[1].text, "[::1]:5301");
	ck_assert_uint_eq(p.threads, 3);
	ck_assert_uint_eq(p.edns_size, 1400);
	ck_assert_uint_eq(p.n_allow, 1);
	ck_assert_uint_eq(p.allow[0].len, 8);
	ck_assert_uint_eq(p.tcp_max_connections, 7);
	ck_assert_uint_eq(p.tcp_idle_timeout_ms, 1500);
	ck_assert_uint_eq(p.udp_coalesce_us, 0);
	ck_assert_uint_eq(p.rrl.rate, 50);
	ck_assert_uint_eq(p.rrl.slip, 3);
	ck_assert_uint_eq(p.rrl.ipv4_prefix, 20);
	ck_assert_uint_eq(p.rrl.ipv6_prefix, 48);
	ck_assert(!p.rrl.exempt_loopback);
	config_delete(cfg);
}
END_TEST

START_TEST(snapshot_params_name_our_addresses)
{
	struct config *cfg = parse("{ \"listen\": [\"127.0.0.1:5301\", \"[::1]:5302\"], "
				   "\"domain\": \"Example.Mesh.\", \"ttl\": 11, \"negative_ttl\": 4 }");
	struct sockaddr_storage ns[2];
	struct snapshot_params p;

	params_snapshot(cfg, NULL, "node-9", ns, &p);
	ck_assert_str_eq(p.domain, "example.mesh");
	ck_assert_uint_eq(p.ttl_s, 11);
	ck_assert_uint_eq(p.negative_ttl_s, 4);
	ck_assert_uint_eq(p.n_ns_addrs, 2);
	ck_assert_int_eq(ns[0].ss_family, AF_INET);
	ck_assert_int_eq(ns[1].ss_family, AF_INET6);
	ck_assert_str_eq(p.node_name, "node-9");
	config_delete(cfg);
}
END_TEST

START_TEST(forward_params_stale_off_without_serve_stale)
{
	struct config *cfg = parse("{ \"forward\": { \"upstreams\": [\"127.0.0.1:5399\"], "
				   "\"policy\": \"fastest\", \"timeout_ms\": 700 }, "
				   "\"cache\": { \"serve_stale\": false, \"max_entries\": 99 } }");
	struct fwd_upstream_addr up = { .len = 16 };
	struct fwd_params p;

	params_forward(cfg, &up, 1, &p);
	ck_assert_ptr_eq(p.upstreams, &up);
	ck_assert_uint_eq(p.n_upstreams, 1);
	ck_assert_int_eq(p.policy, FWD_POLICY_FASTEST);
	ck_assert_uint_eq(p.timeout_ms, 700);
	ck_assert_uint_eq(p.cache.max_entries, 99);
	ck_assert_uint_eq(p.cache.stale_s, 0);
	config_delete(cfg);
}
END_TEST

START_TEST(k8s_params_read_the_node_only_without_node_zone)
{
	struct config *a = parse("{ \"kubernetes\": { \"server\": \"https://127.0.0.1:6443\" }, "
				 "\"node\": { \"name\": \"n1\" } }");
	struct config *b = parse("{ \"kubernetes\": { \"server\": \"https://127.0.0.1:6443\" }, "
				 "\"node\": { \"name\": \"n1\", \"zone\": \"z\" } }");
	struct config *c = parse("{ \"kubernetes\": { \"server\": \"https://127.0.0.1:6443\" } }");
	struct k8s_source_params p;
	int arg;

	params_k8s(a, NULL, &arg, &p);
	ck_assert_str_eq(p.node_name, "n1");
	ck_assert_str_eq(p.api->server, "https://127.0.0.1:6443");
	ck_assert_ptr_eq(p.zone_arg, &arg);
	params_k8s(b, NULL, NULL, &p);
	ck_assert_ptr_null(p.node_name);		/* the config names the zone */
	setenv("NODE_NAME", "from-env", 1);
	params_k8s(c, NULL, NULL, &p);
	ck_assert_str_eq(p.node_name, "from-env");
	unsetenv("NODE_NAME");
	params_k8s(c, NULL, NULL, &p);
	ck_assert_ptr_null(p.node_name);
	config_delete(a);
	config_delete(b);
	config_delete(c);
}
END_TEST

Suite *params_suite(void)
{
	Suite *s = suite_create("params");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, learned_zone_when_the_config_has_none);
	tcase_add_test(tc, config_zone_wins_over_learned);
	tcase_add_test(tc, reload_keeps_the_learned_zone);
	tcase_add_test(tc, dns_server_params_follow_the_config);
	tcase_add_test(tc, snapshot_params_name_our_addresses);
	tcase_add_test(tc, forward_params_stale_off_without_serve_stale);
	tcase_add_test(tc, k8s_params_read_the_node_only_without_node_zone);
	suite_add_tcase(s, tc);
	return s;
}
