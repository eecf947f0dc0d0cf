/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Pure: Kubernetes API objects (cJSON) to what the registry needs. A
 * Service and the EndpointSlices labelled with its name are decoded
 * separately and joined into one svc_spec. Annotation values and
 * kubeconfig files are parsed here too. No I/O, no globals; any thread.
 * Every function leaves its output empty on error and says why in @p err.
 */
#ifndef MESHDNS_K8S_DECODE_H
#define MESHDNS_K8S_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/error.h"
#include "meshdns/service.h"

struct cJSON;

#define K8S_ERR_LEN 160

/** What a Service contributes. */
struct k8s_service {
	char *ns;
	char *name;
	char *rv;			/* metadata.resourceVersion */
	bool publish_not_ready;		/* spec.publishNotReadyAddresses */
	struct svc_probe probe;		/* from meshdns.io/probe* annotations */
	uint8_t panic_threshold_pct;	/* meshdns.io/panic-threshold */
	unsigned bad_annotations;	/* values that fell back to defaults */
};

/** One endpoint of a slice (its first address only, as the API advises). */
struct k8s_endpoint {
	int family;
	uint8_t addr[16];
	bool ready, serving, terminating;
	char *hostname;
	char *node;
	char *zone;
	char **for_zones;
	size_t n_for_zones;
};

/** What an EndpointSlice contributes. */
struct k8s_slice {
	char *ns;
	char *name;
	char *service;			/* label kubernetes.io/service-name */
	char *rv;
	uint32_t weight;		/* meshdns.io/weight, default 100 */
	struct svc_port *ports;
	size_t n_ports;
	struct k8s_endpoint *eps;
	size_t n_eps;
	unsigned skipped;		/* endpoints without a usable address */
	bool bad_weight;
};

/**
 * Decode a Service. ExternalName services are refused (MESHDNS_ENOENT),
 * as are objects missing metadata.name/namespace (MESHDNS_EMALF).
 * @return 0, MESHDNS_EMALF, MESHDNS_ENOENT or MESHDNS_ENOMEM
 */
int k8s_decode_service(const struct cJSON *obj, struct k8s_service *out,
		       char err[K8S_ERR_LEN]) MESHDNS_WUR;

/** Decode an EndpointSlice. @return 0, MESHDNS_EMALF or MESHDNS_ENOMEM */
int k8s_decode_slice(const struct cJSON *obj, struct k8s_slice *out,
		     char err[K8S_ERR_LEN]) MESHDNS_WUR;

void k8s_service_deinit(struct k8s_service *s);
void k8s_slice_deinit(struct k8s_slice *s);

/**
 * Join a Service and its slices into a spec: endpoints deduplicated by
 * address (ready if any copy is), terminating ones left out unless not
 * ready ones are published, ports united by name. on_demand probing.
 * @return 0 or MESHDNS_ENOMEM; free @p out with svc_spec_deinit()
 */
int k8s_build_spec(const struct k8s_service *svc, const struct k8s_slice *const *slices,
		   size_t n_slices, struct svc_spec *out) MESHDNS_WUR;

/**
 * Parse a Go-style duration as annotations use it: "2s", "500ms", "1m30s".
 * @return 0 and *ms, or MESHDNS_EINVAL
 */
int k8s_parse_duration_ms(const char *s, uint32_t *ms) MESHDNS_WUR;

/**
 * Parse a meshdns.io/probe value: "http:PORT/PATH", "https:PORT/PATH",
 * "tcp:PORT" or "none" into @p p (type, port, path).
 * @return 0 or MESHDNS_EINVAL
 */
int k8s_parse_probe(const char *s, struct svc_probe *p) MESHDNS_WUR;

/**
 * Parse a kubeconfig (YAML as kubectl writes it, or JSON) into a cJSON tree.
 * Supports block mappings and sequences, plain and quoted scalars and
 * comments: what kubeconfig files hold. Caller frees with cJSON_Delete().
 * @return the tree or NULL with @p err set
 */
struct cJSON *k8s_parse_kubeconfig(const char *text, char err[K8S_ERR_LEN]);

/** The fields of the current context a client needs (strings are malloc'd). */
struct k8s_kubeconfig {
	char *server;
	char *ca_file;
	char *ca_data;			/* PEM, decoded from base64 */
	size_t ca_data_len;
	char *token;
	char *token_file;
	char *cert_file, *key_file;
	char *cert_data, *key_data;	/* PEM */
	size_t cert_data_len, key_data_len;
	bool insecure;
	char *namespace;
};

/**
 * Pick the current context's cluster and user out of a parsed kubeconfig.
 * @return 0, MESHDNS_EINVAL (err set) or MESHDNS_ENOMEM
 */
int k8s_kubeconfig_resolve(const struct cJSON *root, struct k8s_kubeconfig *out,
			   char err[K8S_ERR_LEN]) MESHDNS_WUR;

void k8s_kubeconfig_deinit(struct k8s_kubeconfig *k);

#endif
