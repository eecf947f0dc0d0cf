/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Kubernetes decoding without a server: Services and EndpointSlices (as
 * the API serves them) to specs, annotations with bad values, the join of
 * several slices, kubeconfig files as kubectl writes them.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/k8s_decode.h"
#include "suites.h"

static char err[K8S_ERR_LEN];

static const char *svc_json =
	"{\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\",\"resourceVersion\":\"12\","
	" \"annotations\":{\"meshdns.io/probe\":\"http:8080/healthz\","
	"  \"meshdns.io/probe-interval\":\"500ms\",\"meshdns.io/probe-timeout\":\"1s\","
	"  \"meshdns.io/probe-rise\":\"1\",\"meshdns.io/probe-fall\":\"4\","
	"  \"meshdns.io/panic-threshold\":\"40\"}},"
	" \"spec\":{\"type\":\"ClusterIP\",\"ports\":[{\"name\":\"http\",\"port\":80}]}}";

static const char *slice_v4 =
	"{\"metadata\":{\"name\":\"web-a\",\"namespace\":\"shop\",\"resourceVersion\":\"13\","
	"  \"labels\":{\"kubernetes.io/service-name\":\"web\"},"
	"  \"annotations\":{\"meshdns.io/weight\":\"300\"}},"
	" \"addressType\":\"IPv4\","
	" \"endpoints\":["
	"  {\"addresses\":[\"10.0.0.1\",\"10.0.0.99\"],\"conditions\":{\"ready\":true},"
	"   \"hostname\":\"web-0\",\"nodeName\":\"n1\",\"zone\":\"z1\","
	"   \"hints\":{\"forZones\":[{\"name\":\"z1\"},{\"name\":\"z2\"}]},"
	"   \"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-0\"}},"
	"  {\"addresses\":[\"10.0.0.2\"],\"conditions\":{\"ready\":false}},"
	"  {\"addresses\":[\"10.0.0.3\"],\"conditions\":{\"ready\":true,\"terminating\":true}},"
	"  {\"addresses\":[\"10.0.0.4\"]},"
	"  {\"addresses\":[\"not-an-ip\"]},"
	"  {\"conditions\":{}}],"
	" \"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"},"
	"           {\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},{\"name\":\"x\",\"port\":null}]}";

static const char *slice_v6 =
	"{\"metadata\":{\"name\":\"web-b\",\"namespace\":\"shop\","
	"  \"labels\":{\"kubernetes.io/service-name\":\"web\"}},"
	" \"addressType\":\"IPv6\","
	" \"endpoints\":[{\"addresses\":[\"fd00::1\"],\"hostname\":\"web-0\"},"
	"               {\"addresses\":[\"10.0.0.1\"]}],"
	" \"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"},"
	"           {\"name\":\"metrics\",\"port\":9090}]}";

static cJSON *json(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	ck_assert_ptr_nonnull(j);
	return j;
}

START_TEST(test_service)
{
	cJSON *j = json(svc_json);
	struct k8s_service s;

	ck_assert_int_eq(k8s_decode_service(j, &s, err), 0);
	ck_assert_str_eq(s.ns, "shop");
	ck_assert_str_eq(s.name, "web");
	ck_assert_str_eq(s.rv, "12");
	ck_assert_int_eq(s.probe.type, SVC_PROBE_HTTP);
	ck_assert_uint_eq(s.probe.port, 8080);
	ck_assert_str_eq(s.probe.path, "/healthz");
	ck_assert_uint_eq(s.probe.interval_ms, 500);
	/* timeout above the interval is cut to it and counted */
	ck_assert_uint_eq(s.probe.timeout_ms, 500);
	ck_assert_uint_eq(s.probe.rise, 1);
	ck_assert_uint_eq(s.probe.fall, 4);
	ck_assert_uint_eq(s.panic_threshold_pct, 40);
	ck_assert_uint_eq(s.bad_annotations, 1);
	k8s_service_deinit(&s);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_service_bad)
{
	struct k8s_service s;
	cJSON *j;

	j = json("{\"metadata\":{\"name\":\"x\"}}");
	ck_assert_int_eq(k8s_decode_service(j, &s, err), MESHDNS_EMALF);
	cJSON_Delete(j);
	j = json("{\"metadata\":{\"name\":\"ext\",\"namespace\":\"a\"},\"spec\":{\"type\":\"ExternalName\"}}");
	ck_assert_int_eq(k8s_decode_service(j, &s, err), MESHDNS_ENOENT);
	cJSON_Delete(j);
	j = json("{\"metadata\":{\"name\":\"Bad_Name\",\"namespace\":\"a\"}}");
	ck_assert_int_eq(k8s_decode_service(j, &s, err), MESHDNS_EMALF);
	cJSON_Delete(j);
	j = json("[]");
	ck_assert_int_eq(k8s_decode_service(j, &s, err), MESHDNS_EMALF);
	cJSON_Delete(j);
	/* bad annotation values: defaults, each counted */
	j = json("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"annotations\":{"
		 "\"meshdns.io/probe\":\"ftp:21\",\"meshdns.io/probe-interval\":\"soon\","
		 "\"meshdns.io/probe-rise\":\"-1\",\"meshdns.io/panic-threshold\":\"200\","
		 "\"meshdns.io/probe-fall\":7}}}");
	ck_assert_int_eq(k8s_decode_service(j, &s, err), 0);
	ck_assert_int_eq(s.probe.type, SVC_PROBE_NONE);
	ck_assert_uint_eq(s.probe.interval_ms, 2000);
	ck_assert_uint_eq(s.probe.rise, 2);
	ck_assert_uint_eq(s.probe.fall, 3);	/* a number, not a string: ignored */
	ck_assert_uint_eq(s.panic_threshold_pct, 0);
	ck_assert_uint_eq(s.bad_annotations, 4);
	k8s_service_deinit(&s);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_slice)
{
	cJSON *j = json(slice_v4);
	struct k8s_slice s;

	ck_assert_int_eq(k8s_decode_slice(j, &s, err), 0);
	ck_assert_str_eq(s.service, "web");
	ck_assert_uint_eq(s.weight, 300);
	ck_assert_uint_eq(s.n_eps, 4);
	ck_assert_uint_eq(s.skipped, 2);
	ck_assert_uint_eq(s.n_ports, 2);
	ck_assert_int_eq(s.ports[1].proto, SVC_PROTO_UDP);
	const struct k8s_endpoint *e = &s.eps[0];
	uint8_t a[4];
	inet_pton(AF_INET, "10.0.0.1", a);
	ck_assert_mem_eq(e->addr, a, 4);	/* the first address only */
	ck_assert(e->ready && e->serving && !e->terminating);
	ck_assert_str_eq(e->hostname, "web-0");
	ck_assert_str_eq(e->zone, "z1");
	ck_assert_str_eq(e->node, "n1");
	ck_assert_uint_eq(e->n_for_zones, 2);
	ck_assert_str_eq(e->for_zones[1], "z2");
	ck_assert(!s.eps[1].ready);
	ck_assert(s.eps[2].terminating);
	ck_assert(s.eps[3].ready);	/* nil ready means ready */
	k8s_slice_deinit(&s);
	cJSON_Delete(j);

	/* FQDN slices: nothing to answer, not an error */
	j = json("{\"metadata\":{\"name\":\"f\",\"namespace\":\"a\"},\"addressType\":\"FQDN\","
		 "\"endpoints\":[{\"addresses\":[\"x.example\"]}]}");
	ck_assert_int_eq(k8s_decode_slice(j, &s, err), 0);
	ck_assert_uint_eq(s.n_eps, 0);
	k8s_slice_deinit(&s);
	cJSON_Delete(j);
	/* null endpoints and ports, as a real server encodes empty ones */
	j = json("{\"metadata\":{\"name\":\"e\",\"namespace\":\"a\"},\"addressType\":\"IPv4\","
		 "\"endpoints\":null,\"ports\":null}");
	ck_assert_int_eq(k8s_decode_slice(j, &s, err), 0);
	ck_assert_uint_eq(s.n_eps + s.n_ports, 0);
	ck_assert_ptr_null(s.service);
	k8s_slice_deinit(&s);
	cJSON_Delete(j);
	j = json("{\"metadata\":{\"name\":\"e\",\"namespace\":\"a\"}}");
	ck_assert_int_eq(k8s_decode_slice(j, &s, err), MESHDNS_EMALF);
	cJSON_Delete(j);
	j = json("{\"metadata\":{\"name\":\"e\",\"namespace\":\"a\",\"annotations\":"
		 "{\"meshdns.io/weight\":\"heavy\"}},\"addressType\":\"IPv4\"}");
	ck_assert_int_eq(k8s_decode_slice(j, &s, err), 0);
	ck_assert(s.bad_weight);
	ck_assert_uint_eq(s.weight, 100);
	k8s_slice_deinit(&s);
	cJSON_Delete(j);
}
END_TEST

static const struct svc_endpoint *find_ep(const struct svc_spec *s, const char *addr)
{
	uint8_t a[16] = { 0 };
	int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;

	inet_pton(fam, addr, a);
	for (size_t i = 0; i < s->n_endpoints; i++)
		if (s->endpoints[i].family == fam && memcmp(s->endpoints[i].addr, a, 16) == 0)
			return &s->endpoints[i];
	return NULL;
}

START_TEST(test_join)
{
	cJSON *js = json(svc_json), *j4 = json(slice_v4), *j6 = json(slice_v6);
	struct k8s_service svc;
	struct k8s_slice s4, s6;
	struct svc_spec spec;

	ck_assert_int_eq(k8s_decode_service(js, &svc, err), 0);
	ck_assert_int_eq(k8s_decode_slice(j4, &s4, err), 0);
	ck_assert_int_eq(k8s_decode_slice(j6, &s6, err), 0);
	const struct k8s_slice *list[] = { &s4, &s6 };
	ck_assert_int_eq(k8s_build_spec(&svc, list, 2, &spec), 0);
	ck_assert_str_eq(spec.name, "web");
	ck_assert_str_eq(spec.namespace, "shop");
	ck_assert_int_eq(spec.probe_mode, SVC_PROBE_MODE_ON_DEMAND);
	ck_assert_int_eq(spec.probe.type, SVC_PROBE_HTTP);
	ck_assert_uint_eq(spec.panic_threshold_pct, 40);
	/* ports united by name: http, dns, metrics */
	ck_assert_uint_eq(spec.n_ports, 3);
	/* 10.0.0.1 twice (both slices): once; 4 v4 + 1 v6 */
	ck_assert_uint_eq(spec.n_endpoints, 5);
	const struct svc_endpoint *e1 = find_ep(&spec, "10.0.0.1");
	ck_assert_ptr_nonnull(e1);
	ck_assert(e1->ready);
	ck_assert_uint_eq(e1->weight, 300);
	ck_assert_uint_eq(e1->n_for_zones, 2);
	ck_assert(!find_ep(&spec, "10.0.0.2")->ready);
	ck_assert(!find_ep(&spec, "10.0.0.3")->ready);	/* terminating */
	ck_assert(find_ep(&spec, "10.0.0.4")->ready);
	const struct svc_endpoint *e6 = find_ep(&spec, "fd00::1");
	ck_assert_uint_eq(e6->weight, 100);
	ck_assert_str_eq(e6->hostname, "web-0");	/* same name, other family: fine */
	svc_spec_deinit(&spec);

	/* publishNotReadyAddresses: not-ready and terminating ones are answered */
	svc.publish_not_ready = true;
	ck_assert_int_eq(k8s_build_spec(&svc, list, 2, &spec), 0);
	ck_assert(find_ep(&spec, "10.0.0.2")->ready);
	ck_assert(find_ep(&spec, "10.0.0.3")->ready);
	svc_spec_deinit(&spec);

	/* a service without slices: exists, no endpoints */
	ck_assert_int_eq(k8s_build_spec(&svc, NULL, 0, &spec), 0);
	ck_assert_uint_eq(spec.n_endpoints, 0);
	svc_spec_deinit(&spec);

	k8s_service_deinit(&svc);
	k8s_slice_deinit(&s4);
	k8s_slice_deinit(&s6);
	cJSON_Delete(js);
	cJSON_Delete(j4);
	cJSON_Delete(j6);
}
END_TEST

START_TEST(test_duplicate_hostname)
{
	cJSON *js = json("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\"}}");
	cJSON *j = json("{\"metadata\":{\"name\":\"s\",\"namespace\":\"b\",\"labels\":"
			"{\"kubernetes.io/service-name\":\"a\"}},\"addressType\":\"IPv4\","
			"\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],\"hostname\":\"h\"},"
			"{\"addresses\":[\"10.0.0.2\"],\"hostname\":\"h\"}]}");
	struct k8s_service svc;
	struct k8s_slice sl;
	struct svc_spec spec;

	ck_assert_int_eq(k8s_decode_service(js, &svc, err), 0);
	ck_assert_int_eq(k8s_decode_slice(j, &sl, err), 0);
	const struct k8s_slice *list[] = { &sl };
	ck_assert_int_eq(k8s_build_spec(&svc, list, 1, &spec), 0);
	ck_assert_str_eq(find_ep(&spec, "10.0.0.1")->hostname, "h");
	ck_assert_ptr_null(find_ep(&spec, "10.0.0.2")->hostname);
	svc_spec_deinit(&spec);
	k8s_service_deinit(&svc);
	k8s_slice_deinit(&sl);
	cJSON_Delete(js);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_durations)
{
	uint32_t ms;

	ck_assert_int_eq(k8s_parse_duration_ms("2s", &ms), 0);
	ck_assert_uint_eq(ms, 2000);
	ck_assert_int_eq(k8s_parse_duration_ms("500ms", &ms), 0);
	ck_assert_uint_eq(ms, 500);
	ck_assert_int_eq(k8s_parse_duration_ms("1m30s", &ms), 0);
	ck_assert_uint_eq(ms, 90000);
	ck_assert_int_eq(k8s_parse_duration_ms("1.5s", &ms), 0);
	ck_assert_uint_eq(ms, 1500);
	static const char *const bad[] = { "", "2", "s", "-1s", "2 s", "2d", "5h", "0s" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(k8s_parse_duration_ms(bad[i], &ms) == MESHDNS_EINVAL,
			      "k8s_parse_duration_ms accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_probe_annotation)
{
	struct svc_probe p;

	svc_probe_init(&p);
	ck_assert_int_eq(k8s_parse_probe("tcp:5432", &p), 0);
	ck_assert_int_eq(p.type, SVC_PROBE_TCP);
	ck_assert_uint_eq(p.port, 5432);
	ck_assert_int_eq(k8s_parse_probe("https:8443/ready", &p), 0);
	ck_assert_int_eq(p.type, SVC_PROBE_HTTPS);
	ck_assert_str_eq(p.path, "/ready");
	ck_assert_int_eq(k8s_parse_probe("http:80", &p), 0);
	ck_assert_ptr_null(p.path);
	ck_assert_int_eq(k8s_parse_probe("none", &p), 0);
	ck_assert_int_eq(p.type, SVC_PROBE_NONE);
	static const char *const bad[] = { "http", "http:", "http:0", "http:70000",
					   "tcp:80/x", "http:80x", "udp:53", "http:80/a b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(k8s_parse_probe(bad[i], &p) != 0, "k8s_parse_probe accepted '%s'",
			      bad[i]);
	free(p.path);
}
END_TEST

static const char *kubeconfig_yaml =
	"apiVersion: v1\n"
	"clusters:\n"
	"- cluster:\n"
	"    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
	"    server: https://127.0.0.1:6443\n"
	"  name: kind-kind\n"
	"- cluster:\n"
	"    server: https://other:443\n"
	"    insecure-skip-tls-verify: true\n"
	"  name: other\n"
	"contexts:\n"
	"- context:\n"
	"    cluster: kind-kind\n"
	"    user: kind-kind   # the admin\n"
	"    namespace: \"shop\"\n"
	"  name: kind-kind\n"
	"current-context: kind-kind\n"
	"kind: Config\n"
	"preferences: {}\n"
	"users:\n"
	"- name: kind-kind\n"
	"  user:\n"
	"    token: 'abc''def'\n"
	"    client-certificate: /etc/c.crt\n"
	"    client-key: /etc/c.key\n";

START_TEST(test_kubeconfig)
{
	cJSON *root = k8s_parse_kubeconfig(kubeconfig_yaml, err);
	struct k8s_kubeconfig k;

	ck_assert_msg(root != NULL, "k8s_parse_kubeconfig: %s", err);
	ck_assert_int_eq(k8s_kubeconfig_resolve(root, &k, err), 0);
	ck_assert_str_eq(k.server, "https://127.0.0.1:6443");
	ck_assert_str_eq(k.ca_data, "-----BEGIN CERTIFICATE-----\n");
	ck_assert_uint_eq(k.ca_data_len, 28);
	ck_assert_str_eq(k.token, "abc'def");
	ck_assert_str_eq(k.cert_file, "/etc/c.crt");
	ck_assert_str_eq(k.namespace, "shop");
	ck_assert(!k.insecure);
	k8s_kubeconfig_deinit(&k);
	cJSON_Delete(root);

	/* JSON kubeconfigs too */
	root = k8s_parse_kubeconfig("{\"current-context\":\"c\",\"contexts\":[{\"name\":\"c\","
				    "\"context\":{\"cluster\":\"x\",\"user\":\"u\"}}],"
				    "\"clusters\":[{\"name\":\"x\",\"cluster\":{\"server\":\"https://h\","
				    "\"insecure-skip-tls-verify\":true}}]}", err);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(k8s_kubeconfig_resolve(root, &k, err), 0);
	ck_assert(k.insecure);
	ck_assert_ptr_null(k.token);
	k8s_kubeconfig_deinit(&k);
	cJSON_Delete(root);
}
END_TEST

START_TEST(test_kubeconfig_bad)
{
	struct k8s_kubeconfig k;
	cJSON *root;

	ck_assert_ptr_null(k8s_parse_kubeconfig("a:\n\tb: c\n", err));
	ck_assert_ptr_nonnull(strstr(err, "tab"));
	ck_assert_ptr_null(k8s_parse_kubeconfig("", err));
	ck_assert_ptr_null(k8s_parse_kubeconfig("a: 1\n  b: 2\n", err));
	ck_assert_ptr_null(k8s_parse_kubeconfig("{bad json", err));
	root = k8s_parse_kubeconfig("current-context: nope\ncontexts: []\n", err);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(k8s_kubeconfig_resolve(root, &k, err), MESHDNS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "current-context"));
	cJSON_Delete(root);
	root = k8s_parse_kubeconfig("current-context: c\ncontexts:\n- name: c\n  context:\n"
				    "    cluster: x\nclusters:\n- name: x\n  cluster:\n"
				    "    server: https://h\n    certificate-authority-data: '!!'\n", err);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(k8s_kubeconfig_resolve(root, &k, err), MESHDNS_EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "base64"));
	cJSON_Delete(root);
}
END_TEST

Suite *k8s_decode_suite(void)
{
	Suite *s = suite_create("k8s_decode");
	TCase *tc = tcase_create("decode");

	tcase_add_test(tc, test_service);
	tcase_add_test(tc, test_service_bad);
	tcase_add_test(tc, test_slice);
	tcase_add_test(tc, test_join);
	tcase_add_test(tc, test_duplicate_hostname);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_probe_annotation);
	tcase_add_test(tc, test_kubeconfig);
	tcase_add_test(tc, test_kubeconfig_bad);
	suite_add_tcase(s, tc);
	return s;
}
