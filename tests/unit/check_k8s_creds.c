/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Credential discovery without a cluster: the config's keys, kubeconfigs
 * (tokens, client certificates, CA data inline or in a file, the current
 * context) and the in-cluster environment, one table row per case, with
 * the environment and the kubeconfig's text coming from the row.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/k8s_creds.h"
#include "suites.h"

#define KC_PATH		"/etc/kube/config"
#define SA		K8S_SA_DIR
#define PEM		"-----BEGIN CERTIFICATE-----\n"
#define PEM_B64		"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
#define NOTHING		"no server, no kubeconfig and no in-cluster environment " \
			"(KUBERNETES_SERVICE_HOST/PORT)"

/* a kubeconfig with one context "c" of cluster @p cluster and user @p user */
#define KUBECONFIG(cluster, user) \
	"apiVersion: v1\n" \
	"clusters:\n- name: x\n  cluster:\n" cluster \
	"contexts:\n- name: c\n  context:\n    cluster: x\n    user: u\n" \
	"current-context: c\n" \
	"users:\n- name: u\n  user:\n" user

#define SERVER		"    server: https://127.0.0.1:6443\n"

static const char *const kc_token =
	KUBECONFIG(SERVER "    certificate-authority-data: " PEM_B64 "\n", "    token: abc\n");
static const char *const kc_files =
	KUBECONFIG(SERVER "    certificate-authority: /etc/kube/ca.crt\n",
		   "    tokenFile: /etc/kube/token\n");
static const char *const kc_cert =
	KUBECONFIG(SERVER, "    client-certificate: /etc/c.crt\n    client-key: /etc/c.key\n");
static const char *const kc_cert_data =
	KUBECONFIG(SERVER, "    client-certificate-data: Q0VSVAo=\n"
		   "    client-key-data: S0VZCg==\n");
static const char *const kc_all =
	KUBECONFIG(SERVER "    certificate-authority-data: " PEM_B64 "\n",
		   "    token: abc\n    tokenFile: /etc/kube/token\n"
		   "    client-certificate-data: Q0VSVAo=\n    client-key-data: S0VZCg==\n");
static const char *const kc_two =
	"clusters:\n"
	"- name: one\n  cluster:\n    server: https://one:443\n"
	"- name: two\n  cluster:\n    server: https://two:443\n"
	"    insecure-skip-tls-verify: true\n"
	"contexts:\n"
	"- name: first\n  context:\n    cluster: one\n    user: one\n"
	"- name: second\n  context:\n    cluster: two\n    user: two\n"
	"current-context: second\n"
	"users:\n"
	"- name: one\n  user:\n    token: t1\n"
	"- name: two\n  user:\n    token: t2\n";
static const char *const kc_no_context =
	"current-context: nope\ncontexts:\n- name: c\n  context:\n    cluster: x\n";
static const char *const kc_no_server = KUBECONFIG("    insecure-skip-tls-verify: true\n",
						   "    token: abc\n");
static const char *const kc_bad_b64 =
	KUBECONFIG(SERVER "    certificate-authority-data: '!!'\n", "    token: abc\n");
static const char *const kc_tab = "apiVersion: v1\n\tkind: Config\n";

/* what the client is given */
struct want {
	const char *server, *token, *token_file, *ca_file, *ca_data;
	const char *cert_file, *key_file, *cert_data, *key_data;
	bool insecure;
};

static const struct creds_row {
	const char *what;
	struct config_k8s k;
	const char *host, *port;	/* KUBERNETES_SERVICE_HOST and _PORT */
	const char *const *file;	/* the kubeconfig's text; NULL: unreadable */
	int ret;
	enum k8s_creds_source source;
	struct want w;
	const char *err;
} rows[] = {
	{ "the server key alone", { .server = "https://api:6443", .kubeconfig = KC_PATH },
	  "10.96.0.1", "443", &kc_token, 0, K8S_CREDS_CONFIG,
	  { .server = "https://api:6443" }, "" },
	{ "the server key and every other key",
	  { .server = "https://api:6443", .token_file = "/t", .ca_file = "/ca",
	    .client_cert = "/c.crt", .client_key = "/c.key", .insecure_skip_tls_verify = true },
	  NULL, NULL, NULL, 0, K8S_CREDS_CONFIG,
	  { .server = "https://api:6443", .token_file = "/t", .ca_file = "/ca",
	    .cert_file = "/c.crt", .key_file = "/c.key", .insecure = true }, "" },

	{ "kubeconfig: token, CA inline", { .kubeconfig = KC_PATH },
	  "10.96.0.1", "443", &kc_token, 0, K8S_CREDS_KUBECONFIG,
	  { .server = "https://127.0.0.1:6443", .token = "abc", .ca_data = PEM }, "" },
	{ "kubeconfig: token and CA files", { .kubeconfig = KC_PATH },
	  NULL, NULL, &kc_files, 0, K8S_CREDS_KUBECONFIG,
	  { .server = "https://127.0.0.1:6443", .token_file = "/etc/kube/token",
	    .ca_file = "/etc/kube/ca.crt" }, "" },
	{ "kubeconfig: client certificate files", { .kubeconfig = KC_PATH },
	  NULL, NULL, &kc_cert, 0, K8S_CREDS_KUBECONFIG,
	  { .server = "https://127.0.0.1:6443", .cert_file = "/etc/c.crt",
	    .key_file = "/etc/c.key" }, "" },
	{ "kubeconfig: client certificate inline", { .kubeconfig = KC_PATH },
	  NULL, NULL, &kc_cert_data, 0, K8S_CREDS_KUBECONFIG,
	  { .server = "https://127.0.0.1:6443", .cert_data = "CERT\n", .key_data = "KEY\n" },
	  "" },
	{ "kubeconfig: the current context, not the first", { .kubeconfig = KC_PATH },
	  NULL, NULL, &kc_two, 0, K8S_CREDS_KUBECONFIG,
	  { .server = "https://two:443", .token = "t2", .insecure = true }, "" },
	{ "kubeconfig: the keys win (its token stays)",
	  { .kubeconfig = KC_PATH, .token_file = "/t", .ca_file = "/ca",
	    .client_cert = "/c.crt", .client_key = "/c.key" },
	  NULL, NULL, &kc_all, 0, K8S_CREDS_KUBECONFIG,
	  { .server = "https://127.0.0.1:6443", .token = "abc", .token_file = "/t",
	    .ca_file = "/ca", .cert_file = "/c.crt", .key_file = "/c.key" }, "" },
	{ "kubeconfig: the insecure key", { .kubeconfig = KC_PATH,
	  .insecure_skip_tls_verify = true }, NULL, NULL, &kc_token, 0, K8S_CREDS_KUBECONFIG,
	  { .server = "https://127.0.0.1:6443", .token = "abc", .ca_data = PEM,
	    .insecure = true }, "" },
	{ "kubeconfig: unreadable", { .kubeconfig = KC_PATH }, "10.96.0.1", "443", NULL,
	  MESHDNS_ENOENT, 0, { 0 }, "kubeconfig " KC_PATH ": No such file or directory" },
	{ "kubeconfig: a tab", { .kubeconfig = KC_PATH }, NULL, NULL, &kc_tab,
	  MESHDNS_EINVAL, 0, { 0 },
	  "kubeconfig " KC_PATH ": line 2: tabs are not allowed in YAML" },
	{ "kubeconfig: no such context", { .kubeconfig = KC_PATH }, NULL, NULL, &kc_no_context,
	  MESHDNS_EINVAL, 0, { 0 },
	  "kubeconfig " KC_PATH ": no current-context, or it is not in contexts" },
	{ "kubeconfig: no server", { .kubeconfig = KC_PATH }, NULL, NULL, &kc_no_server,
	  MESHDNS_EINVAL, 0, { 0 },
	  "kubeconfig " KC_PATH ": context c: its cluster has no server" },
	{ "kubeconfig: CA data not base64", { .kubeconfig = KC_PATH }, NULL, NULL, &kc_bad_b64,
	  MESHDNS_EINVAL, 0, { 0 },
	  "kubeconfig " KC_PATH ": certificate-authority-data is not base64" },

	{ "in-cluster", { 0 }, "10.96.0.1", "443", &kc_token, 0, K8S_CREDS_IN_CLUSTER,
	  { .server = "https://10.96.0.1:443", .token_file = SA "/token",
	    .ca_file = SA "/ca.crt" }, "" },
	{ "in-cluster, IPv6", { 0 }, "fd00:10:96::1", "6443", NULL, 0, K8S_CREDS_IN_CLUSTER,
	  { .server = "https://[fd00:10:96::1]:6443", .token_file = SA "/token",
	    .ca_file = SA "/ca.crt" }, "" },
	{ "in-cluster, the keys win",
	  { .token_file = "/t", .ca_file = "/ca", .client_cert = "/c.crt",
	    .client_key = "/c.key", .insecure_skip_tls_verify = true },
	  "10.96.0.1", "443", NULL, 0, K8S_CREDS_IN_CLUSTER,
	  { .server = "https://10.96.0.1:443", .token_file = "/t", .ca_file = "/ca",
	    .cert_file = "/c.crt", .key_file = "/c.key", .insecure = true }, "" },
	{ "a host without a port", { .token_file = "/t" }, "10.96.0.1", NULL, NULL,
	  MESHDNS_ENOENT, 0, { 0 }, NOTHING },
	{ "a port without a host", { 0 }, NULL, "443", NULL, MESHDNS_ENOENT, 0, { 0 }, NOTHING },
	{ "nothing at all", { 0 }, NULL, NULL, NULL, MESHDNS_ENOENT, 0, { 0 }, NOTHING },
};

/* what the callbacks saw */
static const struct creds_row *cur;
static unsigned reads, env_asks;

static char *fake_env(const char *name)
{
	env_asks++;
	if (strcmp(name, "KUBERNETES_SERVICE_HOST") == 0)
		return (char *)cur->host;
	if (strcmp(name, "KUBERNETES_SERVICE_PORT") == 0)
		return (char *)cur->port;
	return NULL;
}

static char *fake_read(const char *path)
{
	reads++;
	ck_assert_str_eq(path, KC_PATH);
	if (!cur->file) {
		errno = ENOENT;
		return NULL;
	}
	return strdup(*cur->file);
}

static void same(const char *field, const char *got, const char *want)
{
	if (!want)
		ck_assert_msg(!got, "%s: %s is %s, want none", cur->what, field, got);
	else
		ck_assert_msg(got && strcmp(got, want) == 0, "%s: %s is %s, want %s",
			      cur->what, field, got ? got : "none", want);
}

START_TEST(test_creds)
{
	static const struct k8s_creds_io io = { fake_env, fake_read };
	const struct want *w = &rows[_i].w;
	char err[K8S_CREDS_ERR_LEN];
	struct k8s_creds c;
	int r;

	cur = &rows[_i];
	reads = env_asks = 0;
	r = k8s_creds_find(&cur->k, &io, &c, err);
	ck_assert_msg(r == cur->ret, "%s: returned %d, want %d (%s)", cur->what, r, cur->ret,
		      err);
	ck_assert_msg(strcmp(err, cur->err) == 0, "%s: err '%s'", cur->what, err);
	/* only what the chosen way needs is read */
	ck_assert_uint_eq(reads, !cur->k.server && cur->k.kubeconfig);
	ck_assert_uint_eq(env_asks, !cur->k.server && !cur->k.kubeconfig ? 2 : 0);
	if (r == 0)
		ck_assert_msg(c.source == cur->source, "%s: source %d", cur->what, c.source);
	same("server", c.params.server, w->server);
	same("token", c.params.token, w->token);
	same("token_file", c.params.token_file, w->token_file);
	same("ca_file", c.params.ca_file, w->ca_file);
	same("ca_data", c.params.ca_data, w->ca_data);
	same("cert_file", c.params.cert_file, w->cert_file);
	same("key_file", c.params.key_file, w->key_file);
	same("cert_data", c.params.cert_data, w->cert_data);
	same("key_data", c.params.key_data, w->key_data);
	if (w->ca_data)
		ck_assert_uint_eq(c.params.ca_data_len, strlen(w->ca_data));
	if (w->cert_data)
		ck_assert_uint_eq(c.params.cert_data_len, strlen(w->cert_data));
	if (w->key_data)
		ck_assert_uint_eq(c.params.key_data_len, strlen(w->key_data));
	ck_assert_msg(c.params.insecure == w->insecure, "%s: insecure", cur->what);
	k8s_creds_deinit(&c);
}
END_TEST

START_TEST(test_source_names)
{
	/* as the "API server %s (%s)" log line has always said */
	ck_assert_str_eq(k8s_creds_source_name(K8S_CREDS_CONFIG), "config");
	ck_assert_str_eq(k8s_creds_source_name(K8S_CREDS_KUBECONFIG), "kubeconfig");
	ck_assert_str_eq(k8s_creds_source_name(K8S_CREDS_IN_CLUSTER),
			 "in-cluster service account");
}
END_TEST

Suite *k8s_creds_suite(void)
{
	Suite *s = suite_create("k8s_creds");
	TCase *tc = tcase_create("creds");

	tcase_add_loop_test(tc, test_creds, 0, sizeof(rows) / sizeof(rows[0]));
	tcase_add_test(tc, test_source_names);
	suite_add_tcase(s, tc);
	return s;
}
