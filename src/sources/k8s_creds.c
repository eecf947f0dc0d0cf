/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Credential discovery for the API client, apart from the watches
 * (k8s_source.c) so that each way of finding them can be tested.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/k8s_creds.h"

/* The current context of the kubeconfig at @p path. */
static int from_kubeconfig(const char *path, const struct k8s_creds_io *io,
			   struct k8s_creds *out, char *err)
{
	const struct k8s_kubeconfig *kc = &out->kc;
	char why[K8S_ERR_LEN];
	char *text = io->read_text(path);
	cJSON *root;
	int r;

	if (!text) {
		snprintf(err, K8S_CREDS_ERR_LEN, "kubeconfig %s: %s", path, strerror(errno));
		return MESHDNS_ENOENT;
	}
	root = k8s_parse_kubeconfig(text, why);
	free(text);
	r = root ? k8s_kubeconfig_resolve(root, &out->kc, why) : MESHDNS_EINVAL;
	cJSON_Delete(root);
	if (r < 0) {
		snprintf(err, K8S_CREDS_ERR_LEN, "kubeconfig %s: %s", path, why);
		return r;
	}
	out->params = (struct k8s_client_params){
		.server = kc->server, .token = kc->token, .token_file = kc->token_file,
		.ca_file = kc->ca_file, .ca_data = kc->ca_data, .ca_data_len = kc->ca_data_len,
		.cert_file = kc->cert_file, .key_file = kc->key_file,
		.cert_data = kc->cert_data, .cert_data_len = kc->cert_data_len,
		.key_data = kc->key_data, .key_data_len = kc->key_data_len,
		.insecure = kc->insecure,
	};
	return 0;
}

/* The service account a pod is given, and the API server's Service. */
static int from_cluster(const struct k8s_creds_io *io, struct k8s_creds *out, char *err)
{
	const char *host = io->env("KUBERNETES_SERVICE_HOST");
	const char *port = io->env("KUBERNETES_SERVICE_PORT");
	size_t n;

	if (!host || !port) {
		snprintf(err, K8S_CREDS_ERR_LEN,
			 "no server, no kubeconfig and no in-cluster environment (KUBERNETES_SERVICE_HOST/PORT)");
		return MESHDNS_ENOENT;
	}
	n = strlen(host) + strlen(port) + 16;
	out->server = malloc(n);
	if (!out->server)
		return MESHDNS_ENOMEM;
	/* an IPv6 address needs brackets before the port */
	snprintf(out->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		 host, port);
	out->params.server = out->server;
	out->params.token_file = K8S_SA_DIR "/token";
	out->params.ca_file = K8S_SA_DIR "/ca.crt";
	return 0;
}

int k8s_creds_find(const struct config_k8s *k, const struct k8s_creds_io *io,
		   struct k8s_creds *out, char err[K8S_CREDS_ERR_LEN])
{
	struct k8s_client_params *p = &out->params;
	int r = 0;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (k->server) {
		out->source = K8S_CREDS_CONFIG;
		p->server = k->server;
	} else if (k->kubeconfig) {
		out->source = K8S_CREDS_KUBECONFIG;
		r = from_kubeconfig(k->kubeconfig, io, out, err);
	} else {
		out->source = K8S_CREDS_IN_CLUSTER;
		r = from_cluster(io, out, err);
	}
	if (r < 0) {
		k8s_creds_deinit(out);
		return r;
	}
	/* explicit settings win over what the kubeconfig or cluster says */
	if (k->token_file)
		p->token_file = k->token_file;
	if (k->ca_file) {
		p->ca_file = k->ca_file;
		p->ca_data = NULL;
	}
	if (k->client_cert) {
		p->cert_file = k->client_cert;
		p->key_file = k->client_key;
		p->cert_data = p->key_data = NULL;
	}
	if (k->insecure_skip_tls_verify)
		p->insecure = true;
	return 0;
}

void k8s_creds_deinit(struct k8s_creds *c)
{
	k8s_kubeconfig_deinit(&c->kc);
	free(c->server);
	memset(c, 0, sizeof(*c));
}

const char *k8s_creds_source_name(enum k8s_creds_source s)
{
	switch (s) {
	case K8S_CREDS_CONFIG:
		return "config";
	case K8S_CREDS_KUBECONFIG:
		return "kubeconfig";
	case K8S_CREDS_IN_CLUSTER:
		return "in-cluster service account";
	}
	return "?";
}
