/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The watch stream as it arrives: the input is cut into chunks at
 * positions the first bytes choose, lines are split as the informer does,
 * each line is parsed and decoded as a Service and as an EndpointSlice,
 * and what decodes is joined into a spec.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "meshdns/k8s_decode.h"
#include "meshdns/k8s_watch.h"

static struct k8s_slice slices[4];
static size_t n_slices;

static void line(void *arg, char *text, size_t n)
{
	char err[K8S_ERR_LEN];
	cJSON *ev = cJSON_ParseWithLength(text, n);
	cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	struct k8s_service svc;

	if (!obj)
		obj = ev;
	if (k8s_decode_service(obj, &svc, err) == 0) {
		const struct k8s_slice *list[4];
		struct svc_spec spec;
		for (size_t i = 0; i < n_slices; i++)
			list[i] = &slices[i];
		if (k8s_build_spec(&svc, list, n_slices, &spec) == 0)
			svc_spec_deinit(&spec);
		k8s_service_deinit(&svc);
	}
	if (n_slices < 4 && k8s_decode_slice(obj, &slices[n_slices], err) == 0)
		n_slices++;
	cJSON_Delete(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf;
	size_t len = 0, pos = 0, cut = size ? data[0] % 7 + 1 : 1;

	if (size > (1u << 20))
		return 0;
	buf = malloc(size + 1);
	if (!buf)
		return 0;
	n_slices = 0;
	while (pos < size) {
		size_t chunk = cut < size - pos ? cut : size - pos;
		memcpy(buf + len, data + pos, chunk);
		len += chunk;
		pos += chunk;
		k8s_split_lines(buf, &len, line, NULL);
		cut = cut * 3 % 61 + 1;
	}
	for (size_t i = 0; i < n_slices; i++)
		k8s_slice_deinit(&slices[i]);
	free(buf);
	return 0;
}
