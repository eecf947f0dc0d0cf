/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Where the API server is and how to prove who we are, in this order:
 * the kubernetes section's server key, else its kubeconfig (the current
 * context), else the in-cluster service account (KUBERNETES_SERVICE_HOST
 * and _PORT, and the token and CA the kubelet mounts). The section's
 * token_file, ca_file, client_cert/client_key and insecure_skip_tls_verify
 * win over what the kubeconfig or the cluster says. The environment and
 * the kubeconfig's text come through callbacks, so that tests can say
 * what they hold; nothing else is read.
 */
#ifndef MESHDNS_K8S_CREDS_H
#define MESHDNS_K8S_CREDS_H

#include <limits.h>

#include "meshdns/config.h"
#include "meshdns/error.h"
#include "meshdns/k8s_decode.h"
#include "meshdns/k8s_watch.h"

#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* room for a kubeconfig's path and what is wrong with it */
#define K8S_CREDS_ERR_LEN (PATH_MAX + K8S_ERR_LEN + 32)

/** Which of the three gave the server. */
enum k8s_creds_source {
	K8S_CREDS_CONFIG = 0,		/* the server key */
	K8S_CREDS_KUBECONFIG,
	K8S_CREDS_IN_CLUSTER,
};

/** What k8s_creds_find() may read. */
struct k8s_creds_io {
	/** An environment variable or NULL (getenv fits). */
	char *(*env)(const char *name);
	/** A kubeconfig's text, malloc'd, or NULL with errno set. */
	char *(*read_text)(const char *path);
};

/** What was found. */
struct k8s_creds {
	enum k8s_creds_source source;
	/* for k8s_client_create(): points into the config section and
	 * into what follows, so it lives as long as both */
	struct k8s_client_params params;
	struct k8s_kubeconfig kc;	/* what a kubeconfig gave */
	char *server;			/* the in-cluster URL */
};

/**
 * Find the server and the credentials for it. An IPv6 address in
 * KUBERNETES_SERVICE_HOST gets brackets in the URL.
 * @param err  why not, for the log after "kubernetes: "; empty when
 *             memory ran out building the in-cluster URL
 * @return 0, MESHDNS_ENOENT (nothing to go by, or the kubeconfig cannot
 *         be read), MESHDNS_EINVAL (the kubeconfig is unusable) or
 *         MESHDNS_ENOMEM; free @p out with k8s_creds_deinit() (on error
 *         it is empty already)
 */
int k8s_creds_find(const struct config_k8s *k, const struct k8s_creds_io *io,
		   struct k8s_creds *out, char err[K8S_CREDS_ERR_LEN]) MESHDNS_WUR;

void k8s_creds_deinit(struct k8s_creds *c);

/** "config", "kubeconfig" or "in-cluster service account", for the log. */
const char *k8s_creds_source_name(enum k8s_creds_source s);

#endif
