/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The config parser, the kubeconfig reader and the small value parsers
 * (X-Mesh-Weight, annotation durations and probes) on arbitrary bytes.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meshdns/config.h"
#include "meshdns/k8s_decode.h"
#include "meshdns/probe_sm.h"

/* parser results: only crashes and sanitizer reports matter here */
static volatile int sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	struct config_errors errs = { 0 };
	char *text, err[K8S_ERR_LEN];
	uint8_t w;
	uint32_t ms;

	if (size > (1u << 20))
		return 0;
	if (config_parse("fuzz.conf", (const char *)data, size, &cfg, &errs) == 0 && !cfg)
		abort();
	config_delete(cfg);
	free(errs.text);
	sink = probe_parse_weight((const char *)data, size, &w);
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	sink = k8s_parse_duration_ms(text, &ms);
	struct svc_probe p;
	svc_probe_init(&p);
	sink = k8s_parse_probe(text, &p);
	free(p.path);
	cJSON *kc = k8s_parse_kubeconfig(text, err);
	if (kc) {
		struct k8s_kubeconfig k;
		if (k8s_kubeconfig_resolve(kc, &k, err) == 0)
			k8s_kubeconfig_deinit(&k);
		cJSON_Delete(kc);
	}
	free(text);
	return 0;
}
