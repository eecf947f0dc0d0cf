/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Config file reading and validation. Syntax is checked by json_lines.c
 * (which knows lines), the tree is built by cJSON, and every key is
 * checked here against the schema (config_schema.c): unknown keys, wrong
 * types, bad values and duplicates are errors, never silently ignored.
 * The scalar keys are read by their rows; the structured ones of the top
 * level (listen, allow, ...) by the hooks below, services[] by
 * config_service.c.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config_int.h"
#include "json_lines.h"
#include "meshdns/config.h"
#include "meshdns/config_schema.h"
#include "meshdns/dns_msg.h"

#define MAX_FILE_SIZE	(64u << 20)
#define MAX_DOMAIN	120u	/* room for HOST.SVC.NS.svc under it */

/* ------------------------------------------------------------ errors */

static void errs_vadd(struct config_ctx *c, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void errs_vadd(struct config_ctx *c, int line, const char *fmt, va_list ap)
{
	struct config_errors *e = c->errs;
	char msg[512];
	int n;

	if (line > 0)
		n = snprintf(msg, sizeof(msg), "%s:%d: ", c->file, line);
	else
		n = snprintf(msg, sizeof(msg), "%s: ", c->file);
	if (n < 0)
		n = 0;
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	size_t l = strlen(msg);
	if (e->len + l + 2 > e->cap) {
		size_t cap = (e->cap ? e->cap * 2 : 256) + l + 2;
		char *t = realloc(e->text, cap);
		if (!t) {
			c->nomem = true;
			return;
		}
		e->text = t;
		e->cap = cap;
	}
	memcpy(e->text + e->len, msg, l);
	e->len += l;
	e->text[e->len++] = '\n';
	e->text[e->len] = '\0';
	e->count++;
}

static void errs_add(struct config_ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errs_add(struct config_ctx *c, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errs_vadd(c, line, fmt, ap);
	va_end(ap);
}

static int cmp_item(const void *a, const void *b)
{
	const struct item_line *x = a, *y = b;

	return x->item < y->item ? -1 : x->item > y->item;
}

static int line_of(const struct config_ctx *c, const cJSON *item)
{
	struct item_line key = { .item = item };
	const struct item_line *hit;

	if (!item || !c->map)
		return 0;
	hit = bsearch(&key, c->map, c->n_map, sizeof(key), cmp_item);
	return hit ? hit->line : 0;
}

void cfg_bad(struct config_ctx *c, const cJSON *item, const char *path,
	     const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errs_add(c, line_of(c, item), "%s: %s", path, msg);
}

/* Pre-order walk in the order json_lines recorded lines. */
static int map_walk(struct config_ctx *c, const cJSON *item, const struct json_lines *jl,
		    size_t *idx)
{
	for (; item; item = item->next) {
		if (*idx >= jl->n)
			return MESHDNS_EMALF;
		c->map[*idx].item = item;
		c->map[*idx].line = jl->lines[*idx];
		(*idx)++;
		if (item->child && map_walk(c, item->child, jl, idx) < 0)
			return MESHDNS_EMALF;
	}
	return 0;
}

/* ------------------------------------------------------------ typed getters */

const char *cfg_type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "a string";
	if (cJSON_IsNumber(v))
		return "a number";
	if (cJSON_IsBool(v))
		return "a boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsArray(v))
		return "an array";
	if (cJSON_IsObject(v))
		return "an object";
	return "invalid";
}

static bool is_key_of(const struct config_key *keys, const char *name)
{
	for (const struct config_key *k = keys; k->name; k++) {
		if (strcmp(config_key_leaf(k), name) == 0)
			return true;
	}
	return false;
}

/*
 * Check an object: it is an object, has no key twice and no key outside
 * @p keys. @return false when not an object.
 */
static bool check_object(struct config_ctx *c, const cJSON *obj, const char *path,
			 const struct config_key *keys)
{
	char sub[CONFIG_PATH_LEN];

	if (!cJSON_IsObject(obj)) {
		cfg_bad(c, obj, path, "must be an object, not %s", cfg_type_name(obj));
		return false;
	}
	for (const cJSON *m = obj->child; m; m = m->next) {
		cfg_subpath(sub, path, m->string);
		if (!is_key_of(keys, m->string))
			cfg_bad(c, m, sub, "unknown key");
		for (const cJSON *p = obj->child; p != m; p = p->next) {
			if (strcmp(p->string, m->string) == 0) {
				cfg_bad(c, m, sub, "duplicate key (first at line %d)",
					line_of(c, p));
				break;
			}
		}
	}
	return true;
}

const cJSON *cfg_member(const cJSON *obj, const char *key)
{
	for (const cJSON *m = obj->child; m; m = m->next) {
		if (strcmp(m->string, key) == 0)
			return m;
	}
	return NULL;
}

void cfg_path_fmt(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, CONFIG_PATH_LEN, fmt, ap);
	va_end(ap);
}

void cfg_subpath(char *out, const char *path, const char *key)
{
	cfg_path_fmt(out, "%s%s%s", path, *path ? "." : "", key);
}

/* Unsigned integer in [min, max]. @return false when absent or bad. */
static bool get_uint(struct config_ctx *c, const cJSON *obj, const char *path,
		     const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	const cJSON *v = cfg_member(obj, key);
	char p[CONFIG_PATH_LEN];

	if (!v)
		return false;
	cfg_subpath(p, path, key);
	if (!cJSON_IsNumber(v)) {
		cfg_bad(c, v, p, "must be a number, not %s", cfg_type_name(v));
		return false;
	}
	double d = v->valuedouble;
	if (d != floor(d) || d < min || d > max) {
		cfg_bad(c, v, p, "must be a whole number from %u to %u, not %g", min,
			max, d);
		return false;
	}
	*out = (uint32_t)d;
	return true;
}

static bool get_bool(struct config_ctx *c, const cJSON *obj, const char *path,
		     const char *key, bool *out)
{
	const cJSON *v = cfg_member(obj, key);
	char p[CONFIG_PATH_LEN];

	if (!v)
		return false;
	cfg_subpath(p, path, key);
	if (!cJSON_IsBool(v)) {
		cfg_bad(c, v, p, "must be true or false, not %s", cfg_type_name(v));
		return false;
	}
	*out = cJSON_IsTrue(v);
	return true;
}

const char *cfg_get_string(struct config_ctx *c, const cJSON *obj, const char *path,
			   const char *key, bool required)
{
	const cJSON *v = cfg_member(obj, key);
	char p[CONFIG_PATH_LEN];

	cfg_subpath(p, path, key);
	if (!v) {
		if (required)
			cfg_bad(c, obj, p, "is required");
		return NULL;
	}
	if (!cJSON_IsString(v)) {
		cfg_bad(c, v, p, "must be a string, not %s", cfg_type_name(v));
		return NULL;
	}
	return v->valuestring;
}

const cJSON *cfg_get_array(struct config_ctx *c, const cJSON *obj, const char *path,
			   const char *key, size_t size, void **out, size_t *n)
{
	const cJSON *arr = cfg_member(obj, key);
	char p[CONFIG_PATH_LEN];

	if (!arr)
		return NULL;
	if (!cJSON_IsArray(arr)) {
		cfg_subpath(p, path, key);
		cfg_bad(c, arr, p, "must be an array, not %s", cfg_type_name(arr));
		return NULL;
	}
	*n = (size_t)cJSON_GetArraySize(arr);
	*out = calloc(*n ? *n : 1, size);
	if (!*out) {
		*n = 0;
		c->nomem = true;
		return NULL;
	}
	return arr;
}

char *cfg_dup(struct config_ctx *c, const char *s)
{
	char *d = strdup(s);

	if (!d)
		c->nomem = true;
	return d;
}

/* ------------------------------------------------------------ the rows */

static void *field(void *base, size_t offset)
{
	return (char *)base + offset;
}

/* A UINT, BOOL or ENUM value into its field of 1, 2 or 4 bytes. */
static void put_value(void *base, const struct config_key *k, uint32_t v)
{
	uint8_t b = (uint8_t)v;
	uint16_t h = (uint16_t)v;
	void *dst = field(base, k->offset);

	if (k->size == 1)
		memcpy(dst, &b, 1);
	else if (k->size == 2)
		memcpy(dst, &h, 2);
	else
		memcpy(dst, &v, 4);
}

static void store(void *base, const struct config_key *k, uint32_t v)
{
	put_value(base, k, v);
	if (k->flags & CONFIG_KEY_SEEN)
		*(bool *)field(base, k->flag_at) = true;
}

static void parse_uint_key(struct config_ctx *c, const cJSON *obj, const char *path,
			   const struct config_key *k, void *base)
{
	const char *leaf = config_key_leaf(k);
	char p[CONFIG_PATH_LEN];
	uint32_t v;

	if (!cfg_member(obj, leaf) && (k->flags & CONFIG_KEY_REQUIRED)) {
		cfg_subpath(p, path, leaf);
		cfg_bad(c, obj, p, "is required");
	}
	if (get_uint(c, obj, path, leaf, k->min, k->max, &v))
		store(base, k, v);
}

/* A bad value leaves the field unset, so that later checks skip it. */
static void parse_string_key(struct config_ctx *c, const cJSON *obj, const char *path,
			     const struct config_key *k, void *base)
{
	const char *leaf = config_key_leaf(k);
	const char *s = cfg_get_string(c, obj, path, leaf, k->flags & CONFIG_KEY_REQUIRED);
	char **dst = field(base, k->offset), p[CONFIG_PATH_LEN];
	size_t n;

	if (!s)
		return;
	cfg_subpath(p, path, leaf);
	n = strlen(s);
	free(*dst);
	*dst = NULL;
	if (n < k->min || (k->max && n > k->max)) {
		/* no row has a minimum above 1 without a maximum */
		if (k->max)
			cfg_bad(c, cfg_member(obj, leaf), p, "must be %u to %u characters",
				k->min, k->max);
		else
			cfg_bad(c, cfg_member(obj, leaf), p, "must not be empty");
		return;
	}
	if (k->valid && !k->valid(s)) {
		cfg_bad(c, cfg_member(obj, leaf), p, "\"%s\" %s", s, k->invalid);
		return;
	}
	*dst = cfg_dup(c, s);
}

/* "a, b or c" */
static void choice_list(const struct config_choice *ch, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; ch[i].name; i++) {
		const char *sep = i == 0 ? "" : ch[i + 1].name ? ", " : " or ";
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, "%s%s", sep, ch[i].name);
	}
}

static void parse_enum_key(struct config_ctx *c, const cJSON *obj, const char *path,
			   const struct config_key *k, void *base)
{
	const char *leaf = config_key_leaf(k);
	const char *s = cfg_get_string(c, obj, path, leaf, k->flags & CONFIG_KEY_REQUIRED);
	char p[CONFIG_PATH_LEN], list[128];

	if (!s)
		return;
	for (const struct config_choice *ch = k->choices; ch->name; ch++) {
		if ((k->flags & CONFIG_KEY_NOCASE) ? strcasecmp(s, ch->name) == 0 :
		    strcmp(s, ch->name) == 0) {
			store(base, k, ch->value);
			return;
		}
	}
	cfg_subpath(p, path, leaf);
	choice_list(k->choices, list, sizeof(list));
	cfg_bad(c, cfg_member(obj, leaf), p, "\"%s\" is not %s", s, list);
}

static void parse_key(struct config_ctx *c, const cJSON *obj, const char *path,
		      const struct config_key *k, void *base);

static void parse_members(struct config_ctx *c, const cJSON *obj, const char *path,
			  const struct config_key *keys, void *base)
{
	for (const struct config_key *k = keys; k->name; k++)
		parse_key(c, obj, path, k, base);
}

/* A section: its members live at base + its offset. */
static void parse_section(struct config_ctx *c, const cJSON *obj, const char *path,
			  const struct config_key *k, void *base)
{
	const char *leaf = config_key_leaf(k);
	const cJSON *v = cfg_member(obj, leaf);
	char p[CONFIG_PATH_LEN];

	if (!v)
		return;
	cfg_subpath(p, path, leaf);
	if (!check_object(c, v, p, k->members))
		return;
	if (k->flags & CONFIG_KEY_SEEN)
		*(bool *)field(base, k->flag_at) = true;
	parse_members(c, v, p, k->members, field(base, k->offset));
	if (k->check)
		k->check(c, v, p, base);
}

static void parse_key(struct config_ctx *c, const cJSON *obj, const char *path,
		      const struct config_key *k, void *base)
{
	bool b;

	if (k->parse) {
		k->parse(c, obj, path, k, base);
	} else {
		switch (k->type) {
		case CONFIG_UINT:
			parse_uint_key(c, obj, path, k, base);
			break;
		case CONFIG_BOOL:
			if (get_bool(c, obj, path, config_key_leaf(k), &b))
				store(base, k, b);
			break;
		case CONFIG_STRING:
			parse_string_key(c, obj, path, k, base);
			break;
		case CONFIG_ENUM:
			parse_enum_key(c, obj, path, k, base);
			break;
		case CONFIG_OBJECT:
			parse_section(c, obj, path, k, base);
			return;		/* its check ran on the section */
		case CONFIG_LIST:
		case CONFIG_CUSTOM:
			break;		/* always a parse hook */
		}
	}
	if (k->check)
		k->check(c, obj, path, base);
}

bool cfg_parse_object(struct config_ctx *c, const cJSON *obj, const char *path,
		      const struct config_key *keys, void *base)
{
	if (!check_object(c, obj, path, keys))
		return false;
	parse_members(c, obj, path, keys, base);
	return true;
}

int cfg_apply_defaults(const struct config_key *keys, void *base)
{
	for (const struct config_key *k = keys; k->name; k++) {
		if (k->type == CONFIG_OBJECT && cfg_apply_defaults(k->members,
								   field(base, k->offset)) < 0)
			return MESHDNS_ENOMEM;
		if (k->type == CONFIG_STRING && k->def_str) {
			char **dst = field(base, k->offset);
			free(*dst);
			*dst = strdup(k->def_str);
			if (!*dst)
				return MESHDNS_ENOMEM;
		}
		if ((k->type == CONFIG_UINT || k->type == CONFIG_BOOL ||
		     k->type == CONFIG_ENUM) &&
		    !(k->flags & (CONFIG_KEY_UNSET | CONFIG_KEY_REQUIRED)))
			put_value(base, k, k->def);
	}
	return 0;
}

/* ------------------------------------------------------------ structured keys */

void cfg_parse_domain(struct config_ctx *c, const cJSON *obj, const char *path,
		      const struct config_key *k, void *base)
{
	struct config *cfg = base;
	const char *s = cfg_get_string(c, obj, "", "domain", false);
	uint8_t wire[DNS_MAX_NAME + 1];

	if (!s)
		return;
	size_t n = strlen(s);
	char *d = cfg_dup(c, s);
	if (!d)
		return;
	if (n > 0 && d[n - 1] == '.')
		d[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	if (n == 0 || n > MAX_DOMAIN || dns_name_from_str(d, wire) < 0) {
		cfg_bad(c, cfg_member(obj, "domain"), "domain",
			"\"%s\" is not a domain name (at most %u characters)", s, MAX_DOMAIN);
		free(d);
		return;
	}
	free(cfg->domain);
	cfg->domain = d;
}

void cfg_parse_namespaces(struct config_ctx *c, const cJSON *obj, const char *path,
			  const struct config_key *k, void *base)
{
	struct config_k8s *k8s = &((struct config *)base)->k8s;
	const cJSON *ns = cfg_get_array(c, obj, path, "namespaces", sizeof(char *),
					(void **)&k8s->namespaces, &k8s->n_namespaces);
	size_t i = 0;

	for (const cJSON *e = ns ? ns->child : NULL; e; e = e->next, i++) {
		char p[CONFIG_PATH_LEN];
		cfg_path_fmt(p, "%s.namespaces[%zu]", path, i);
		if (!cJSON_IsString(e) || !svc_is_dns1123_label(e->valuestring))
			cfg_bad(c, e, p, "must be a namespace name");
		else
			k8s->namespaces[i] = cfg_dup(c, e->valuestring);
	}
}

/* ------------------------------------------------------------ entry points */

/* Every key's default: the rows', and the addresses' (config_addr.c). */
static struct config *config_defaults(const char *path)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->path = strdup(path);
	if (!cfg->path || cfg_apply_defaults(config_schema, cfg) < 0 ||
	    cfg_addr_defaults(cfg) < 0) {
		config_delete(cfg);
		return NULL;
	}
	return cfg;
}

int config_parse(const char *path, const char *text, size_t len,
		 struct config **out, struct config_errors *errs)
{
	struct config_ctx c = { .file = path, .errs = errs };
	struct json_lines jl;
	struct config *cfg = NULL;
	cJSON *root = NULL;
	char *copy = NULL;
	int ret = MESHDNS_ECONFIG;

	*out = NULL;
	if (json_lines_scan(text, len, &jl) < 0) {
		if (jl.err[0])
			errs_add(&c, jl.err_line, "syntax error: %s", jl.err);
		else
			c.nomem = true;
		goto out;
	}
	copy = malloc(len + 1);
	if (!copy) {
		c.nomem = true;
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	cJSON_Minify(copy);
	root = cJSON_ParseWithOpts(copy, NULL, 1);
	if (!root) {
		errs_add(&c, 0, "syntax error: the JSON parser rejected the file");
		goto out;
	}
	c.map = calloc(jl.n ? jl.n : 1, sizeof(*c.map));
	if (!c.map) {
		c.nomem = true;
		goto out;
	}
	size_t idx = 0;
	if (map_walk(&c, root, &jl, &idx) < 0 || idx != jl.n) {
		/* Should not happen; lines are then just missing. */
		free(c.map);
		c.map = NULL;
	} else {
		c.n_map = idx;
		qsort(c.map, c.n_map, sizeof(*c.map), cmp_item);
	}
	cfg = config_defaults(path);
	if (!cfg) {
		c.nomem = true;
		goto out;
	}
	cfg_parse_object(&c, root, "", config_schema, cfg);
	if (!c.nomem && errs->count == 0) {
		*out = cfg;
		cfg = NULL;
		ret = 0;
	}
out:
	if (c.nomem)
		ret = MESHDNS_ENOMEM;
	config_delete(cfg);
	cJSON_Delete(root);
	free(copy);
	free(c.map);
	json_lines_deinit(&jl);
	return ret;
}

int config_load(const char *path, struct config **out, struct config_errors *errs)
{
	struct config_ctx c = { .file = path, .errs = errs };
	struct stat st;
	char *text = NULL;
	FILE *f;
	int ret;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		errs_add(&c, 0, "cannot open: %s", strerror(errno));
		return MESHDNS_ECONFIG;
	}
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)MAX_FILE_SIZE) {
		errs_add(&c, 0, "not a regular file of at most %u MiB", MAX_FILE_SIZE >> 20);
		fclose(f);
		return MESHDNS_ECONFIG;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		fclose(f);
		return MESHDNS_ENOMEM;
	}
	size_t n = fread(text, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		errs_add(&c, 0, "read error: %s", strerror(errno));
		ret = MESHDNS_ECONFIG;
	} else {
		ret = config_parse(path, text, n, out, errs);
	}
	fclose(f);
	free(text);
	return ret;
}
void config_delete(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_services; i++)
		svc_spec_deinit(&cfg->services[i]);
	free(cfg->services);
	free(cfg->listen);
	free(cfg->domain);
	free(cfg->node_name);
	free(cfg->node_zone);
	free(cfg->user);
	free(cfg->fwd.upstreams);
	free(cfg->allow);
	free(cfg->fwd.resolv_conf);
	free(cfg->k8s.server);
	free(cfg->k8s.token_file);
	free(cfg->k8s.ca_file);
	free(cfg->k8s.client_cert);
	free(cfg->k8s.client_key);
	free(cfg->k8s.kubeconfig);
	for (size_t i = 0; i < cfg->k8s.n_namespaces; i++)
		free(cfg->k8s.namespaces[i]);
	free(cfg->k8s.namespaces);
	free(cfg->path);
	free(cfg);
}
