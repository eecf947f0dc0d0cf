/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Services and EndpointSlices from the API server into the registry.
 * Objects are cached by namespace/name with the resourceVersion they came
 * with; a slice joins its Service through the kubernetes.io/service-name
 * label ("groups", which exist as soon as either side does). A relist
 * marks what it sees and drops the rest at its end, so answers move from
 * the old state to the new one without an empty moment.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/k8s_creds.h"
#include "meshdns/k8s_decode.h"
#include "meshdns/k8s_source.h"
#include "meshdns/k8s_watch.h"
#include "meshdns/log.h"
#include "meshdns/strmap.h"

#define KUBECONFIG_MAX (1u << 20)
#define KEY_LEN 140

struct slice_ent;

/* A Service and its slices, keyed "ns/service". */
struct group {
	char key[KEY_LEN];
	struct k8s_service svc;
	bool has_svc;
	uint64_t svc_mark;
	struct slice_ent **slices;
	size_t n_slices, cap_slices;
	bool in_registry;
	bool warned;
};

struct slice_ent {
	char key[KEY_LEN];		/* "ns/slice" */
	struct k8s_slice sl;
	struct group *g;
	uint64_t mark;
};

struct watch_pair {
	struct k8s_source *src;
	struct k8s_informer *inf;
	bool slices;			/* which resource */
	char *ns;			/* NULL: all namespaces */
	uint64_t epoch;			/* mark of the current (re)list */
};

struct k8s_source {
	struct event_base *base;
	struct registry *reg;
	struct k8s_client *client;
	struct strmap *groups;
	struct strmap *slices;
	struct watch_pair *watches;
	size_t n_watches;
	uint64_t epochs;		/* hands out watch_pair epochs */
	k8s_zone_cb zone_cb;		/* our Node's zone label, when read */
	void *zone_arg;
	struct k8s_source_stats st;
};

/* ------------------------------------------------------------ groups */

static void group_key(char *out, const char *ns, const char *name)
{
	snprintf(out, KEY_LEN, "%s/%s", ns, name);
}

static struct group *group_get(struct k8s_source *src, const char *ns, const char *name)
{
	char key[KEY_LEN];
	struct group *g;

	group_key(key, ns, name);
	g = strmap_get(src->groups, key);
	if (g)
		return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	memcpy(g->key, key, sizeof(key));
	if (strmap_put(src->groups, key, g) < 0) {
		free(g);
		return NULL;
	}
	return g;
}

static void group_maybe_free(struct k8s_source *src, struct group *g)
{
	if (g->has_svc || g->n_slices || g->in_registry)
		return;
	strmap_del(src->groups, g->key);
	free(g->slices);
	free(g);
}

/* Push the joined state of a group into the registry. */
static void group_sync(struct k8s_source *src, struct group *g)
{
	if (!g->has_svc) {
		if (g->in_registry) {
			char ns[KEY_LEN], *name;
			memcpy(ns, g->key, KEY_LEN);
			name = strchr(ns, '/');
			*name++ = '\0';
			(void)registry_remove_service(src->reg, ns, name);
			g->in_registry = false;
		}
		group_maybe_free(src, g);
		return;
	}
	const struct k8s_slice *list[g->n_slices ? g->n_slices : 1];
	struct svc_spec spec;
	for (size_t i = 0; i < g->n_slices; i++)
		list[i] = &g->slices[i]->sl;
	if (k8s_build_spec(&g->svc, list, g->n_slices, &spec) < 0 ||
	    registry_set_service(src->reg, REGISTRY_SOURCE_K8S, &spec) < 0) {
		log_err("kubernetes: out of memory updating %s; answers keep its last state",
			g->key);
		svc_spec_deinit(&spec);
		return;
	}
	svc_spec_deinit(&spec);
	g->in_registry = true;
}

static void group_add_slice(struct group *g, struct slice_ent *e)
{
	if (g->n_slices == g->cap_slices) {
		size_t cap = g->cap_slices ? g->cap_slices * 2 : 4;
		struct slice_ent **s = realloc(g->slices, cap * sizeof(*s));
		if (!s)
			return;
		g->slices = s;
		g->cap_slices = cap;
	}
	g->slices[g->n_slices++] = e;
	e->g = g;
}

static void group_drop_slice(struct group *g, struct slice_ent *e)
{
	for (size_t i = 0; i < g->n_slices; i++) {
		if (g->slices[i] == e) {
			g->slices[i] = g->slices[--g->n_slices];
			break;
		}
	}
	e->g = NULL;
}

/* ------------------------------------------------------------ services */

static void service_gone(struct k8s_source *src, struct group *g)
{
	k8s_service_deinit(&g->svc);
	g->has_svc = false;
	src->st.services--;
	group_sync(src, g);
}

static void service_event(struct k8s_source *src, uint64_t mark,
			  enum k8s_event_type type, const cJSON *obj)
{
	struct k8s_service svc;
	char err[K8S_ERR_LEN];
	int r = k8s_decode_service(obj, &svc, err);
	struct group *g;

	if (r == MESHDNS_ENOMEM) {
		log_err("kubernetes: out of memory decoding a Service");
		return;
	}
	if (r == MESHDNS_EMALF) {
		src->st.bad_objects++;
		log_warn("kubernetes: skipped a Service: %s", err);
		return;
	}
	if (r == MESHDNS_ENOENT || type == K8S_EVENT_DELETED) {
		/* ExternalName (we do not answer those) or deleted: gone */
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		const cJSON *ns = cJSON_GetObjectItemCaseSensitive(m, "namespace");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
		char key[KEY_LEN];
		if (r == 0)
			k8s_service_deinit(&svc);
		if (!cJSON_IsString(ns) || !cJSON_IsString(name))
			return;
		group_key(key, ns->valuestring, name->valuestring);
		g = strmap_get(src->groups, key);
		if (g && g->has_svc) {
			src->st.events++;
			service_gone(src, g);
		}
		return;
	}
	g = group_get(src, svc.ns, svc.name);
	if (!g) {
		k8s_service_deinit(&svc);
		return;
	}
	g->svc_mark = mark;
	if (g->has_svc && svc.rv && g->svc.rv && strcmp(svc.rv, g->svc.rv) == 0) {
		k8s_service_deinit(&svc);	/* a relist repeating what we know */
		return;
	}
	if (svc.bad_annotations && !g->warned)
		log_warn("kubernetes: Service %s: %u bad meshdns.io/ annotation value(s), using defaults",
			 g->key, svc.bad_annotations);
	g->warned = svc.bad_annotations > 0;
	if (g->has_svc)
		k8s_service_deinit(&g->svc);
	else
		src->st.services++;
	g->svc = svc;
	g->has_svc = true;
	src->st.events++;
	group_sync(src, g);
}

/* ------------------------------------------------------------ slices */

static void slice_remove(struct k8s_source *src, struct slice_ent *e)
{
	struct group *g = e->g;

	strmap_del(src->slices, e->key);
	if (g)
		group_drop_slice(g, e);
	k8s_slice_deinit(&e->sl);
	free(e);
	src->st.slices--;
	if (g)
		group_sync(src, g);
}

static void slice_event(struct k8s_source *src, uint64_t mark,
			enum k8s_event_type type, const cJSON *obj)
{
	struct k8s_slice sl;
	char err[K8S_ERR_LEN], key[KEY_LEN];
	int r = k8s_decode_slice(obj, &sl, err);
	struct slice_ent *e;
	struct group *g, *old;

	if (r == MESHDNS_ENOMEM) {
		log_err("kubernetes: out of memory decoding an EndpointSlice");
		return;
	}
	if (r < 0) {
		src->st.bad_objects++;
		log_warn("kubernetes: skipped an EndpointSlice: %s", err);
		return;
	}
	group_key(key, sl.ns, sl.name);
	e = strmap_get(src->slices, key);
	if (type == K8S_EVENT_DELETED || !sl.service) {
		if (!sl.service && type != K8S_EVENT_DELETED)
			log_debug("kubernetes: EndpointSlice %s has no service-name label", key);
		k8s_slice_deinit(&sl);
		if (e) {
			src->st.events++;
			slice_remove(src, e);
		}
		return;
	}
	/* once per slice, not on every update of it (the controller
	 * rewrites a slice each time one of its endpoints changes) */
	if (sl.bad_weight && !(e && e->sl.bad_weight))
		log_warn("kubernetes: EndpointSlice %s: bad meshdns.io/weight, using 100", key);
	if (sl.skipped)
		log_debug("kubernetes: EndpointSlice %s: %u endpoint(s) without a usable address",
			  key, sl.skipped);
	if (e && e->sl.rv && sl.rv && strcmp(e->sl.rv, sl.rv) == 0) {
		e->mark = mark;
		k8s_slice_deinit(&sl);
		return;
	}
	g = group_get(src, sl.ns, sl.service);
	if (!g) {
		k8s_slice_deinit(&sl);
		return;
	}
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || strmap_put(src->slices, key, e) < 0) {
			free(e);
			k8s_slice_deinit(&sl);
			group_maybe_free(src, g);
			return;
		}
		memcpy(e->key, key, sizeof(key));
		src->st.slices++;
	} else {
		k8s_slice_deinit(&e->sl);
	}
	e->sl = sl;
	e->mark = mark;
	old = e->g;
	if (old != g) {
		if (old)
			group_drop_slice(old, e);
		group_add_slice(g, e);
		if (old)
			group_sync(src, old);	/* the label moved */
	}
	src->st.events++;
	group_sync(src, g);
}

/* ------------------------------------------------------------ informer hooks */

static void check_synced(struct k8s_source *src)
{
	if (src->st.synced)
		return;
	for (size_t i = 0; i < src->n_watches; i++) {
		if (!k8s_informer_stats(src->watches[i].inf)->synced)
			return;
	}
	src->st.synced = true;
	registry_set_synced(src->reg, true);
	log_info("kubernetes: synced: %llu services, %llu endpoint slices",
		 (unsigned long long)src->st.services, (unsigned long long)src->st.slices);
}

static void on_relist_begin(void *arg)
{
	struct watch_pair *w = arg;

	/* every (re)list gets a mark of its own; at its end, the objects of
	 * its namespace(s) still carrying another mark are gone */
	w->epoch = ++w->src->epochs;
}

static void on_object(void *arg, enum k8s_event_type type, const cJSON *obj)
{
	struct watch_pair *w = arg;

	if (w->slices)
		slice_event(w->src, w->epoch, type, obj);
	else
		service_event(w->src, w->epoch, type, obj);
}

struct sweep {
	uint64_t epoch;
	const char *ns;			/* NULL: all namespaces */
	void **gone;
	size_t n, cap;
};

static bool in_ns(const char *key, const char *ns)
{
	size_t l = ns ? strlen(ns) : 0;

	return !ns || (strncmp(key, ns, l) == 0 && key[l] == '/');
}

static void collect_old_slice(const char *key, void *value, void *arg)
{
	struct sweep *s = arg;
	struct slice_ent *e = value;

	if (e->mark != s->epoch && in_ns(key, s->ns) && s->n < s->cap)
		s->gone[s->n++] = e;
}

static void collect_old_svc(const char *key, void *value, void *arg)
{
	struct sweep *s = arg;
	struct group *g = value;

	if (g->has_svc && g->svc_mark != s->epoch && in_ns(key, s->ns) && s->n < s->cap)
		s->gone[s->n++] = g;
}

static void on_relist_end(void *arg)
{
	struct watch_pair *w = arg;
	struct k8s_source *src = w->src;
	struct strmap *map = w->slices ? src->slices : src->groups;
	struct sweep s = { .epoch = w->epoch, .ns = w->ns, .cap = strmap_count(map) };

	s.gone = calloc(s.cap ? s.cap : 1, sizeof(*s.gone));
	if (!s.gone)
		return;
	/* collect first: removing changes the map being walked */
	strmap_foreach(map, w->slices ? collect_old_slice : collect_old_svc, &s);
	for (size_t i = 0; i < s.n; i++) {
		src->st.events++;
		if (w->slices)
			slice_remove(src, s.gone[i]);
		else
			service_gone(src, s.gone[i]);
	}
	if (s.n)
		log_info("kubernetes %s: the list no longer has %zu object(s): removed",
			 w->slices ? "endpointslices" : "services", s.n);
	free(s.gone);
	check_synced(src);
}

static const struct k8s_informer_ops informer_ops = {
	.relist_begin = on_relist_begin,
	.object = on_object,
	.relist_end = on_relist_end,
};

/* ------------------------------------------------------------ node zone */

static void node_cb(void *arg, const cJSON *obj)
{
	struct k8s_source *src = arg;
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(m, "labels");
	const cJSON *z = cJSON_GetObjectItemCaseSensitive(labels, "topology.kubernetes.io/zone");

	if (!obj) {
		log_warn("kubernetes: cannot read this node; zone preference is off");
		return;
	}
	if (!cJSON_IsString(z) || !*z->valuestring) {
		log_info("kubernetes: this node has no topology.kubernetes.io/zone label");
		return;
	}
	/* the daemon turns it into the answer policy (params_policy) */
	if (src->zone_cb && src->zone_cb(src->zone_arg, z->valuestring) == 0)
		log_info("kubernetes: this node is in zone %s", z->valuestring);
}

/* ------------------------------------------------------------ setup */

/* The kubeconfig's text for k8s_creds_find(); it holds credentials. */
static char *read_kubeconfig(const char *path)
{
	FILE *f;
	char *buf;
	size_t n;

	k8s_warn_file_mode("kubeconfig", path);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	buf = malloc(KUBECONFIG_MAX + 1);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	n = fread(buf, 1, KUBECONFIG_MAX, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int add_watch(struct k8s_source *src, const char *ns, bool slices,
		     const struct config_k8s *k)
{
	char path[256];
	struct watch_pair *w = &src->watches[src->n_watches];

	if (slices)
		snprintf(path, sizeof(path), "/apis/discovery.k8s.io/v1%s%s%sendpointslices",
			 ns ? "/namespaces/" : "", ns ? ns : "", ns ? "/" : "/");
	else
		snprintf(path, sizeof(path), "/api/v1%s%s%sservices",
			 ns ? "/namespaces/" : "", ns ? ns : "", ns ? "/" : "/");
	w->src = src;
	w->slices = slices;
	w->ns = ns ? strdup(ns) : NULL;
	src->n_watches++;
	w->inf = k8s_informer_create(src->client, path, slices ? "endpointslices" : "services",
				     k->page_size, k->watch_timeout_s, &informer_ops, w);
	return w->inf ? 0 : MESHDNS_ENOMEM;
}

struct k8s_source *k8s_source_create(struct event_base *base, struct registry *reg,
				     const struct k8s_source_params *p)
{
	const struct config_k8s *k = p->api;
	struct k8s_source *src = calloc(1, sizeof(*src));
	static const struct k8s_creds_io creds_io = { getenv, read_kubeconfig };
	struct k8s_creds cr = { 0 };
	char err[K8S_CREDS_ERR_LEN];

	if (!src)
		return NULL;
	src->base = base;
	src->reg = reg;
	src->zone_cb = p->zone_cb;
	src->zone_arg = p->zone_arg;
	src->groups = strmap_create();
	src->slices = strmap_create();
	src->watches = calloc(2 * (k->n_namespaces ? k->n_namespaces : 1), sizeof(*src->watches));
	if (!src->groups || !src->slices || !src->watches)
		goto fail;

	if (k8s_creds_find(k, &creds_io, &cr, err) < 0) {
		if (*err)
			log_err("kubernetes: %s", err);
		goto fail;
	}
	if (k->insecure_skip_tls_verify)
		log_warn("kubernetes: insecure_skip_tls_verify is on: the API server's certificate is not checked");
	src->client = k8s_client_create(base, &cr.params);
	if (!src->client) {
		log_err("kubernetes: cannot create the API client");
		goto fail;
	}
	log_info("kubernetes: API server %s (%s)", cr.params.server,
		 k8s_creds_source_name(cr.source));
	k8s_creds_deinit(&cr);

	registry_set_synced(reg, false);
	if (k->n_namespaces) {
		for (size_t i = 0; i < k->n_namespaces; i++) {
			if (add_watch(src, k->namespaces[i], false, k) < 0 ||
			    add_watch(src, k->namespaces[i], true, k) < 0)
				goto fail_late;
		}
	} else if (add_watch(src, NULL, false, k) < 0 || add_watch(src, NULL, true, k) < 0) {
		goto fail_late;
	}

	/* our zone, from the Node (unless the config names it: no node) */
	if (p->node_name && *p->node_name) {
		char path[300];
		snprintf(path, sizeof(path), "/api/v1/nodes/%s", p->node_name);
		if (k8s_client_get(src->client, path, 5, node_cb, src) < 0)
			goto fail_late;
	}
	return src;
fail:
	k8s_creds_deinit(&cr);
fail_late:
	k8s_source_delete(src);
	return NULL;
}

static void free_group(const char *key, void *value, void *arg)
{
	struct group *g = value;

	k8s_service_deinit(&g->svc);
	free(g->slices);
	free(g);
}

static void free_slice(const char *key, void *value, void *arg)
{
	struct slice_ent *e = value;

	k8s_slice_deinit(&e->sl);
	free(e);
}

void k8s_source_delete(struct k8s_source *src)
{
	if (!src)
		return;
	for (size_t i = 0; i < src->n_watches; i++) {
		k8s_informer_delete(src->watches[i].inf);
		free(src->watches[i].ns);
	}
	free(src->watches);
	k8s_client_delete(src->client);
	if (src->groups) {
		strmap_foreach(src->groups, free_group, NULL);
		strmap_delete(src->groups);
	}
	if (src->slices) {
		strmap_foreach(src->slices, free_slice, NULL);
		strmap_delete(src->slices);
	}
	free(src);
}

void k8s_source_stats(const struct k8s_source *src, struct k8s_source_stats *st)
{
	*st = src->st;
	st->relists = st->bad_lines = st->api_errors = 0;
	for (size_t i = 0; i < src->n_watches; i++) {
		const struct k8s_informer_stats *is = k8s_informer_stats(src->watches[i].inf);
		st->relists += is->relists;
		st->bad_lines += is->bad_lines;
		st->api_errors += is->errors;
	}
}
