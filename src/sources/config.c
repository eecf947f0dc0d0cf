/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Config file reading and validation. Syntax is checked by json_lines.c
 * (which knows lines), the tree is built by cJSON, and every key is
 * checked here against what meshdns understands: unknown keys, wrong
 * types, bad values and duplicates are errors, never silently ignored.
 */
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "json_lines.h"
#include "meshdns/config.h"
#include "meshdns/dns_msg.h"

#define MAX_FILE_SIZE	(64u << 20)
#define PATH_LEN	192

/* cJSON item -> line, sorted by pointer for bsearch. */
struct item_line {
	const cJSON *item;
	int line;
};

struct ctx {
	const char *file;
	struct item_line *map;
	size_t n_map;
	struct config_errors *errs;
	bool nomem;
};

static void subpath(char *out, const char *path, const char *key);
static void path_fmt(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ errors */

static void errs_vadd(struct ctx *c, int line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void errs_vadd(struct ctx *c, int line, const char *fmt, va_list ap)
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

static void errs_add(struct ctx *c, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errs_add(struct ctx *c, int line, const char *fmt, ...)
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

static int line_of(const struct ctx *c, const cJSON *item)
{
	struct item_line key = { .item = item };
	const struct item_line *hit;

	if (!item || !c->map)
		return 0;
	hit = bsearch(&key, c->map, c->n_map, sizeof(key), cmp_item);
	return hit ? hit->line : 0;
}

/* "KEYPATH: message" at the item's line. */
static void bad(struct ctx *c, const cJSON *item, const char *path,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void bad(struct ctx *c, const cJSON *item, const char *path,
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
static int map_walk(struct ctx *c, const cJSON *item, const struct json_lines *jl,
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

/* ------------------------------------------------------------ validators */

static bool parse_port_number(const char *s, uint16_t *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return false;
	v = strtol(s, &end, 10);
	if (*end || v < 1 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

int config_parse_listen(const char *text, struct config_listen *out)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	uint16_t port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (strlen(text) >= sizeof(out->text))
		return MESHDNS_EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return MESHDNS_EINVAL;
		hl = (size_t)(close - text - 1);
		colon = close + 1;
		if (hl == 0 || hl >= sizeof(host))
			return MESHDNS_EINVAL;
		memcpy(host, text + 1, hl);
		host[hl] = '\0';
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return MESHDNS_EINVAL;
		if (!parse_port_number(colon + 1, &port))
			return MESHDNS_EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->addr_len = sizeof(*sin6);
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return MESHDNS_EINVAL;
		hl = (size_t)(colon - text);
		if (hl == 0 || hl >= sizeof(host))
			return MESHDNS_EINVAL;
		memcpy(host, text, hl);
		host[hl] = '\0';
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return MESHDNS_EINVAL;
		if (!parse_port_number(colon + 1, &port))
			return MESHDNS_EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		out->addr_len = sizeof(*sin);
	}
	snprintf(out->text, sizeof(out->text), "%s", text);
	return 0;
}

int config_parse_prefix(const char *text, struct config_prefix *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t al = slash ? (size_t)(slash - text) : strlen(text);
	long len;
	char *end;

	memset(out, 0, sizeof(*out));
	if (al == 0 || al >= sizeof(addr))
		return MESHDNS_EINVAL;
	memcpy(addr, text, al);
	addr[al] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return MESHDNS_EINVAL;
	int max = out->family == AF_INET ? 32 : 128;
	if (!slash) {
		out->len = (uint8_t)max;
		return 0;
	}
	len = strtol(slash + 1, &end, 10);
	if (!isdigit((unsigned char)slash[1]) || *end || len < 0 || len > max)
		return MESHDNS_EINVAL;
	out->len = (uint8_t)len;
	return 0;
}

bool config_prefix_match(const struct config_prefix *p, size_t n, int family,
			 const uint8_t *addr)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (family == AF_INET6 && memcmp(addr, mapped, 12) == 0) {
		family = AF_INET;
		addr += 12;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i].family != family)
			continue;
		unsigned bytes = p[i].len / 8, bits = p[i].len % 8;
		if (memcmp(p[i].addr, addr, bytes) != 0)
			continue;
		if (bits && ((p[i].addr[bytes] ^ addr[bytes]) & (uint8_t)(0xff << (8 - bits))))
			continue;
		return true;
	}
	return false;
}

bool config_is_listen_address(const struct config *cfg, const struct sockaddr_storage *a)
{
	for (size_t l = 0; l < cfg->n_listen; l++) {
		const struct sockaddr_storage *me = &cfg->listen[l].addr;
		if (me->ss_family != a->ss_family)
			continue;
		if (a->ss_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)me, *y = (const void *)a;
			if (x->sin_port == y->sin_port &&
			    (x->sin_addr.s_addr == y->sin_addr.s_addr ||
			     x->sin_addr.s_addr == htonl(INADDR_ANY)))
				return true;
		} else {
			const struct sockaddr_in6 *x = (const void *)me, *y = (const void *)a;
			if (x->sin6_port == y->sin6_port &&
			    (!memcmp(&x->sin6_addr, &y->sin6_addr, 16) ||
			     IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr)))
				return true;
		}
	}
	return false;
}

static const char *const default_allow[] = {
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10",
};

/* ------------------------------------------------------------ typed getters */

static const char *type_name(const cJSON *v)
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

/*
 * Check an object: it is an object, has no key twice and no key outside
 * @p allowed (NULL-terminated). @return false when not an object.
 */
static bool check_object(struct ctx *c, const cJSON *obj, const char *path,
			 const char *const allowed[])
{
	char sub[PATH_LEN];

	if (!cJSON_IsObject(obj)) {
		bad(c, obj, path, "must be an object, not %s", type_name(obj));
		return false;
	}
	for (const cJSON *m = obj->child; m; m = m->next) {
		bool known = false;
		subpath(sub, path, m->string);
		for (unsigned i = 0; allowed[i]; i++)
			known |= strcmp(allowed[i], m->string) == 0;
		if (!known)
			bad(c, m, sub, "unknown key");
		for (const cJSON *p = obj->child; p != m; p = p->next) {
			if (strcmp(p->string, m->string) == 0) {
				bad(c, m, sub, "duplicate key (first at line %d)",
				    line_of(c, p));
				break;
			}
		}
	}
	return true;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
	for (const cJSON *m = obj->child; m; m = m->next) {
		if (strcmp(m->string, key) == 0)
			return m;
	}
	return NULL;
}

/* Key paths are for messages: a (very unlikely) cut one is fine. */
static void path_fmt(char *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void path_fmt(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, PATH_LEN, fmt, ap);
	va_end(ap);
}

static void subpath(char *out, const char *path, const char *key)
{
	path_fmt(out, "%s%s%s", path, *path ? "." : "", key);
}

/* Unsigned integer in [min, max]; absent leaves *out (the default). */
static void get_uint(struct ctx *c, const cJSON *obj, const char *path,
		     const char *key, uint32_t min, uint32_t max, uint32_t *out)
{
	const cJSON *v = member(obj, key);
	char p[PATH_LEN];

	if (!v)
		return;
	subpath(p, path, key);
	if (!cJSON_IsNumber(v)) {
		bad(c, v, p, "must be a number, not %s", type_name(v));
		return;
	}
	double d = v->valuedouble;
	if (d != floor(d) || d < min || d > max) {
		bad(c, v, p, "must be a whole number from %u to %u, not %g", min,
		    max, d);
		return;
	}
	*out = (uint32_t)d;
}

/* String member; absent returns NULL without error. */
static const char *get_string(struct ctx *c, const cJSON *obj, const char *path,
			      const char *key, bool required)
{
	const cJSON *v = member(obj, key);
	char p[PATH_LEN];

	subpath(p, path, key);
	if (!v) {
		if (required)
			bad(c, obj, p, "is required");
		return NULL;
	}
	if (!cJSON_IsString(v)) {
		bad(c, v, p, "must be a string, not %s", type_name(v));
		return NULL;
	}
	return v->valuestring;
}

/*
 * An optional array member whose elements become a calloc'd C array of
 * @p size bytes each. @return the array item, or NULL when absent, of the
 * wrong type (reported) or out of memory (flagged).
 */
static const cJSON *get_array(struct ctx *c, const cJSON *obj, const char *path,
			      const char *key, size_t size, void **out, size_t *n)
{
	const cJSON *arr = member(obj, key);
	char p[PATH_LEN];

	if (!arr)
		return NULL;
	if (!cJSON_IsArray(arr)) {
		subpath(p, path, key);
		bad(c, arr, p, "must be an array, not %s", type_name(arr));
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

static char *dup_or_flag(struct ctx *c, const char *s)
{
	char *d = strdup(s);

	if (!d)
		c->nomem = true;
	return d;
}

/* ------------------------------------------------------------ sections */

static void parse_listen(struct ctx *c, const cJSON *root, struct config *cfg)
{
	const cJSON *v = member(root, "listen");
	char p[PATH_LEN];
	size_t i = 0;

	if (!v)
		return;
	if (!cJSON_IsArray(v)) {
		bad(c, v, "listen", "must be an array of \"ADDR:PORT\" strings, not %s",
		    type_name(v));
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n == 0) {
		bad(c, v, "listen", "must name at least one address");
		return;
	}
	struct config_listen *l = calloc(n, sizeof(*l));
	if (!l) {
		c->nomem = true;
		return;
	}
	free(cfg->listen);
	cfg->listen = l;
	cfg->n_listen = 0;
	for (const cJSON *e = v->child; e; e = e->next, i++) {
		path_fmt(p, "listen[%zu]", i);
		if (!cJSON_IsString(e)) {
			bad(c, e, p, "must be a string, not %s", type_name(e));
			continue;
		}
		if (config_parse_listen(e->valuestring, &l[cfg->n_listen]) < 0) {
			bad(c, e, p, "\"%s\" is not ADDR:PORT or [V6ADDR]:PORT with a port from 1 to 65535",
			    e->valuestring);
			continue;
		}
		for (size_t j = 0; j < cfg->n_listen; j++) {
			if (l[j].addr_len == l[cfg->n_listen].addr_len &&
			    memcmp(&l[j].addr, &l[cfg->n_listen].addr, l[j].addr_len) == 0) {
				bad(c, e, p, "\"%s\" is listed twice", e->valuestring);
				goto next;
			}
		}
		cfg->n_listen++;
next:;
	}
}

static void parse_port(struct ctx *c, const cJSON *o, const char *path,
		       struct svc_port *port)
{
	static const char *const keys[] = { "name", "port", "protocol", NULL };
	const char *s;
	uint32_t num = 0;
	char p[PATH_LEN];

	if (!check_object(c, o, path, keys))
		return;
	s = get_string(c, o, path, "name", false);
	subpath(p, path, "name");
	if (s && *s && !svc_is_port_name(s))
		bad(c, member(o, "name"), p,
		    "\"%s\" is not a port name (1-15 of a-z 0-9 '-', with a letter)", s);
	port->name = dup_or_flag(c, s ? s : "");
	if (!member(o, "port")) {
		subpath(p, path, "port");
		bad(c, o, p, "is required");
	}
	get_uint(c, o, path, "port", 1, 65535, &num);
	port->port = (uint16_t)num;
	port->proto = SVC_PROTO_TCP;
	s = get_string(c, o, path, "protocol", false);
	if (s) {
		subpath(p, path, "protocol");
		if (strcasecmp(s, "tcp") == 0)
			port->proto = SVC_PROTO_TCP;
		else if (strcasecmp(s, "udp") == 0)
			port->proto = SVC_PROTO_UDP;
		else if (strcasecmp(s, "sctp") == 0)
			port->proto = SVC_PROTO_SCTP;
		else
			bad(c, member(o, "protocol"), p,
			    "\"%s\" is not tcp, udp or sctp", s);
	}
}

static void parse_endpoint(struct ctx *c, const cJSON *o, const char *path,
			   struct svc_endpoint *ep)
{
	static const char *const keys[] = { "address", "hostname", "zone",
					    "weight", "for_zones", NULL };
	const char *s;
	char p[PATH_LEN];

	if (!check_object(c, o, path, keys))
		return;
	s = get_string(c, o, path, "address", true);
	if (s) {
		subpath(p, path, "address");
		if (inet_pton(AF_INET, s, ep->addr) == 1)
			ep->family = AF_INET;
		else if (inet_pton(AF_INET6, s, ep->addr) == 1)
			ep->family = AF_INET6;
		else
			bad(c, member(o, "address"), p, "\"%s\" is not an IP address", s);
	}
	s = get_string(c, o, path, "hostname", false);
	if (s) {
		subpath(p, path, "hostname");
		if (!svc_is_dns1123_label(s))
			bad(c, member(o, "hostname"), p,
			    "\"%s\" is not a DNS label (1-63 of a-z 0-9 '-')", s);
		else
			ep->hostname = dup_or_flag(c, s);
	}
	s = get_string(c, o, path, "zone", false);
	if (s) {
		subpath(p, path, "zone");
		if (!*s || strlen(s) > 63)
			bad(c, member(o, "zone"), p, "must be 1 to 63 characters");
		else
			ep->zone = dup_or_flag(c, s);
	}
	ep->ready = true;
	ep->weight = SVC_DEFAULT_WEIGHT;
	get_uint(c, o, path, "weight", 0, SVC_MAX_WEIGHT, &ep->weight);
	const cJSON *fz = get_array(c, o, path, "for_zones", sizeof(*ep->for_zones),
				    (void **)&ep->for_zones, &ep->n_for_zones);
	size_t i = 0;
	for (const cJSON *z = fz ? fz->child : NULL; z; z = z->next, i++) {
		char pz[PATH_LEN];
		path_fmt(pz, "%s.for_zones[%zu]", path, i);
		if (!cJSON_IsString(z) || !*z->valuestring || strlen(z->valuestring) > 63)
			bad(c, z, pz, "must be a zone name of 1 to 63 characters");
		else
			ep->for_zones[i] = dup_or_flag(c, z->valuestring);
	}
}

static bool same_endpoint_host(const struct svc_endpoint *a,
			       const struct svc_endpoint *b)
{
	return a->hostname && b->hostname && a->family == b->family &&
	       strcmp(a->hostname, b->hostname) == 0;
}

static bool get_bool(struct ctx *c, const cJSON *obj, const char *path,
		     const char *key, bool *out)
{
	const cJSON *v = member(obj, key);
	char p[PATH_LEN];

	if (!v)
		return false;
	subpath(p, path, key);
	if (!cJSON_IsBool(v)) {
		bad(c, v, p, "must be true or false, not %s", type_name(v));
		return false;
	}
	*out = cJSON_IsTrue(v);
	return true;
}

static void parse_probe_mode(struct ctx *c, const cJSON *obj, const char *path,
			     enum svc_probe_mode *out)
{
	const char *s = get_string(c, obj, path, "probe_mode", false);
	char p[PATH_LEN];

	if (!s)
		return;
	subpath(p, path, "probe_mode");
	if (strcmp(s, "all") == 0)
		*out = SVC_PROBE_MODE_ALL;
	else if (strcmp(s, "on_demand") == 0)
		*out = SVC_PROBE_MODE_ON_DEMAND;
	else
		bad(c, member(obj, "probe_mode"), p, "\"%s\" is not all or on_demand", s);
}

static void parse_probe(struct ctx *c, const cJSON *o, const char *path,
			struct svc_probe *pr)
{
	static const char *const keys[] = {
		"type", "port", "path", "host", "tls_verify", "expect_status",
		"interval_ms", "timeout_ms", "rise", "fall", "jitter_pct", NULL
	};
	const char *s;
	char p[PATH_LEN];
	uint32_t v;

	if (!check_object(c, o, path, keys))
		return;
	s = get_string(c, o, path, "type", true);
	if (s) {
		subpath(p, path, "type");
		if (strcmp(s, "http") == 0)
			pr->type = SVC_PROBE_HTTP;
		else if (strcmp(s, "https") == 0)
			pr->type = SVC_PROBE_HTTPS;
		else if (strcmp(s, "tcp") == 0)
			pr->type = SVC_PROBE_TCP;
		else if (strcmp(s, "none") == 0)
			pr->type = SVC_PROBE_NONE;
		else
			bad(c, member(o, "type"), p, "\"%s\" is not http, https, tcp or none", s);
	}
	v = 0;
	get_uint(c, o, path, "port", 1, 65535, &v);
	pr->port = (uint16_t)v;
	s = get_string(c, o, path, "path", false);
	if (s) {
		subpath(p, path, "path");
		if (s[0] != '/' || strpbrk(s, " \t\r\n"))
			bad(c, member(o, "path"), p, "\"%s\" must start with '/' and hold no spaces", s);
		else
			pr->path = dup_or_flag(c, s);
	}
	s = get_string(c, o, path, "host", false);
	if (s) {
		subpath(p, path, "host");
		if (!*s || strpbrk(s, " \t\r\n/"))
			bad(c, member(o, "host"), p, "\"%s\" is not a host name", s);
		else
			pr->host = dup_or_flag(c, s);
	}
	get_bool(c, o, path, "tls_verify", &pr->tls_verify);
	s = get_string(c, o, path, "expect_status", false);
	if (s) {
		unsigned lo, hi;
		char end;
		subpath(p, path, "expect_status");
		int n = sscanf(s, "%u-%u%c", &lo, &hi, &end);
		if (n == 1)
			hi = lo;
		if ((n != 1 && n != 2) || lo < 100 || hi > 599 || lo > hi)
			bad(c, member(o, "expect_status"), p,
			    "\"%s\" is not a status code or range like \"200-399\"", s);
		else {
			pr->status_min = (uint16_t)lo;
			pr->status_max = (uint16_t)hi;
		}
	}
	get_uint(c, o, path, "interval_ms", SVC_PROBE_MIN_INTERVAL_MS,
		 SVC_PROBE_MAX_INTERVAL_MS, &pr->interval_ms);
	get_uint(c, o, path, "timeout_ms", SVC_PROBE_MIN_TIMEOUT_MS,
		 SVC_PROBE_MAX_TIMEOUT_MS, &pr->timeout_ms);
	if (pr->timeout_ms > pr->interval_ms) {
		subpath(p, path, "timeout_ms");
		bad(c, member(o, "timeout_ms") ? member(o, "timeout_ms") : o, p,
		    "%u is longer than interval_ms %u", pr->timeout_ms, pr->interval_ms);
	}
	v = pr->rise;
	get_uint(c, o, path, "rise", 1, 100, &v);
	pr->rise = (uint16_t)v;
	v = pr->fall;
	get_uint(c, o, path, "fall", 1, 100, &v);
	pr->fall = (uint16_t)v;
	v = pr->jitter_pct;
	get_uint(c, o, path, "jitter_pct", 0, 50, &v);
	pr->jitter_pct = (uint8_t)v;
}

static void parse_service(struct ctx *c, const cJSON *o, const char *path,
			  struct svc_spec *svc)
{
	static const char *const keys[] = { "name", "namespace", "ports",
					    "endpoints", "probe", "probe_mode",
					    "panic_threshold_pct", "max_answers",
					    "slow_start_s", NULL };
	const cJSON *arr;
	const char *s;
	char p[PATH_LEN];
	size_t i;

	svc_probe_init(&svc->probe);
	if (!check_object(c, o, path, keys))
		return;
	s = get_string(c, o, path, "name", true);
	if (s) {
		subpath(p, path, "name");
		/* Services are RFC 1035 labels: they must start with a letter. */
		if (!svc_is_dns1123_label(s) || !islower((unsigned char)s[0]))
			bad(c, member(o, "name"), p,
			    "\"%s\" is not a service name (a DNS label of a-z 0-9 '-' starting with a letter)",
			    s);
		else
			svc->name = dup_or_flag(c, s);
	}
	s = get_string(c, o, path, "namespace", false);
	subpath(p, path, "namespace");
	if (s && !svc_is_dns1123_label(s))
		bad(c, member(o, "namespace"), p,
		    "\"%s\" is not a namespace name (a DNS label of a-z 0-9 '-')", s);
	else
		svc->namespace = dup_or_flag(c, s ? s : "default");

	arr = get_array(c, o, path, "ports", sizeof(*svc->ports),
			(void **)&svc->ports, &svc->n_ports);
	if (arr) {
		size_t n = svc->n_ports;
		i = 0;
		for (const cJSON *e = arr->child; e; e = e->next, i++) {
			char pp[PATH_LEN];
			path_fmt(pp, "%s.ports[%zu]", path, i);
			parse_port(c, e, pp, &svc->ports[i]);
			for (size_t j = 0; j < i; j++) {
				const struct svc_port *a = &svc->ports[j], *b = &svc->ports[i];
				if (a->name && b->name && *a->name &&
				    strcmp(a->name, b->name) == 0)
					bad(c, e, pp, "port name \"%s\" is used twice", b->name);
				else if (a->port == b->port && a->proto == b->proto && b->port)
					bad(c, e, pp, "port %u/%s is listed twice", b->port,
					    svc_proto_name(b->proto));
			}
			if (n > 1 && svc->ports[i].name && !*svc->ports[i].name)
				bad(c, e, pp, "needs a name: a service with several ports must name each");
		}
	}

	arr = get_array(c, o, path, "endpoints", sizeof(*svc->endpoints),
			(void **)&svc->endpoints, &svc->n_endpoints);
	if (arr) {
		i = 0;
		for (const cJSON *e = arr->child; e; e = e->next, i++) {
			char pp[PATH_LEN];
			struct svc_endpoint *b = &svc->endpoints[i];
			path_fmt(pp, "%s.endpoints[%zu]", path, i);
			parse_endpoint(c, e, pp, b);
			for (size_t j = 0; j < i && b->family; j++) {
				const struct svc_endpoint *a = &svc->endpoints[j];
				if (a->family == b->family &&
				    memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0) {
					bad(c, e, pp, "address is listed twice (also endpoints[%zu])", j);
					break;
				}
				if (same_endpoint_host(a, b)) {
					bad(c, e, pp, "hostname \"%s\" is used twice for one address family",
					    b->hostname);
					break;
				}
			}
		}
	}
}

static void parse_service_health(struct ctx *c, const cJSON *o, const char *path,
				 struct svc_spec *svc)
{
	const cJSON *pr = member(o, "probe");
	char p[PATH_LEN];
	uint32_t v = 0;

	if (!cJSON_IsObject(o))
		return;
	if (pr) {
		subpath(p, path, "probe");
		parse_probe(c, pr, p, &svc->probe);
		if (svc->probe.type != SVC_PROBE_NONE && !svc_probe_port(svc))
			bad(c, pr, p, "needs a port: the service has no ports to default to");
	}
	parse_probe_mode(c, o, path, &svc->probe_mode);
	get_uint(c, o, path, "panic_threshold_pct", 0, 100, &v);
	svc->panic_threshold_pct = (uint8_t)v;
	if (member(o, "max_answers")) {
		svc->has_max_answers = true;
		get_uint(c, o, path, "max_answers", 0, 4096, &svc->max_answers);
	}
	get_uint(c, o, path, "slow_start_s", 0, 3600, &svc->slow_start_s);
}

static void parse_k8s(struct ctx *c, const cJSON *root, struct config *cfg)
{
	static const char *const keys[] = {
		"server", "token_file", "ca_file", "client_cert", "client_key",
		"insecure_skip_tls_verify", "namespaces", "kubeconfig",
		"watch_timeout_s", "page_size", NULL
	};
	static const char *const strs[] = {
		"server", "token_file", "ca_file", "client_cert", "client_key",
		"kubeconfig",
	};
	struct config_k8s *k = &cfg->k8s;
	char **dst[] = { &k->server, &k->token_file, &k->ca_file, &k->client_cert,
			 &k->client_key, &k->kubeconfig };
	const cJSON *o = member(root, "kubernetes");
	const char *s;

	if (!o || !check_object(c, o, "kubernetes", keys))
		return;
	k->enabled = true;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		s = get_string(c, o, "kubernetes", strs[i], false);
		if (s && !*s) {
			char p[PATH_LEN];
			subpath(p, "kubernetes", strs[i]);
			bad(c, member(o, strs[i]), p, "must not be empty");
		} else if (s) {
			*dst[i] = dup_or_flag(c, s);
		}
	}
	if (k->server && strncmp(k->server, "https://", 8) != 0 &&
	    strncmp(k->server, "http://", 7) != 0)
		bad(c, member(o, "server"), "kubernetes.server",
		    "\"%s\" is not an http:// or https:// URL", k->server);
	if (!k->client_cert != !k->client_key)
		bad(c, o, "kubernetes", "client_cert and client_key go together");
	get_bool(c, o, "kubernetes", "insecure_skip_tls_verify", &k->insecure_skip_tls_verify);
	get_uint(c, o, "kubernetes", "watch_timeout_s", 10, 3600, &k->watch_timeout_s);
	get_uint(c, o, "kubernetes", "page_size", 1, 100000, &k->page_size);
	const cJSON *ns = get_array(c, o, "kubernetes", "namespaces", sizeof(char *),
				    (void **)&k->namespaces, &k->n_namespaces);
	size_t i = 0;
	for (const cJSON *e = ns ? ns->child : NULL; e; e = e->next, i++) {
		char p[PATH_LEN];
		path_fmt(p, "kubernetes.namespaces[%zu]", i);
		if (!cJSON_IsString(e) || !svc_is_dns1123_label(e->valuestring))
			bad(c, e, p, "must be a namespace name");
		else
			k->namespaces[i] = dup_or_flag(c, e->valuestring);
	}
}

static void parse_forward(struct ctx *c, const cJSON *root, struct config *cfg)
{
	static const char *const keys[] = { "upstreams", "resolv_conf", "timeout_ms",
					    "policy", "max_in_flight", NULL };
	static const char *const ckeys[] = { "max_entries", "min_ttl", "max_ttl",
					     "negative_max_ttl", "serve_stale", "stale_s",
					     "enabled", NULL };
	struct config_forward *f = &cfg->fwd;
	const cJSON *o = member(root, "forward"), *ca = member(root, "cache");
	const char *s;

	if (ca && check_object(c, ca, "cache", ckeys)) {
		get_bool(c, ca, "cache", "enabled", &f->cache_enabled);
		get_uint(c, ca, "cache", "max_entries", 1, 10000000, &f->cache_max_entries);
		get_uint(c, ca, "cache", "min_ttl", 0, 86400, &f->cache_min_ttl);
		get_uint(c, ca, "cache", "max_ttl", 1, 604800, &f->cache_max_ttl);
		get_uint(c, ca, "cache", "negative_max_ttl", 1, 86400, &f->cache_negative_max_ttl);
		get_bool(c, ca, "cache", "serve_stale", &f->serve_stale);
		get_uint(c, ca, "cache", "stale_s", 1, 604800, &f->stale_s);
		if (f->cache_min_ttl > f->cache_max_ttl)
			bad(c, member(ca, "min_ttl"), "cache.min_ttl", "is above max_ttl");
	}
	if (!o || !check_object(c, o, "forward", keys))
		return;
	f->enabled = true;
	const cJSON *ups = get_array(c, o, "forward", "upstreams", sizeof(*f->upstreams),
				     (void **)&f->upstreams, &f->n_upstreams);
	size_t i = 0, n = 0;
	for (const cJSON *e = ups ? ups->child : NULL; e; e = e->next, i++) {
		char p[PATH_LEN];
		path_fmt(p, "forward.upstreams[%zu]", i);
		if (!cJSON_IsString(e) || config_parse_listen(e->valuestring, &f->upstreams[n]) < 0) {
			bad(c, e, p, "must be \"ADDR:PORT\" or \"[V6ADDR]:PORT\"");
			continue;
		}
		/* loop guard: never forward to ourselves */
		if (config_is_listen_address(cfg, &f->upstreams[n].addr))
			bad(c, e, p, "\"%s\" is one of our own listen addresses: a forwarding loop",
			    e->valuestring);
		n++;
	}
	f->n_upstreams = n;
	s = get_string(c, o, "forward", "resolv_conf", false);
	if (s && !*s)
		bad(c, member(o, "resolv_conf"), "forward.resolv_conf", "must not be empty");
	else if (s)
		f->resolv_conf = dup_or_flag(c, s);
	if (!f->n_upstreams && !f->resolv_conf && !c->errs->count)
		bad(c, o, "forward", "needs upstreams or resolv_conf");
	get_uint(c, o, "forward", "timeout_ms", 50, 30000, &f->timeout_ms);
	get_uint(c, o, "forward", "max_in_flight", 1, 1000000, &f->max_in_flight);
	s = get_string(c, o, "forward", "policy", false);
	if (s) {
		if (strcmp(s, "sequential") == 0)
			f->policy = 0;
		else if (strcmp(s, "random") == 0)
			f->policy = 1;
		else if (strcmp(s, "fastest") == 0)
			f->policy = 2;
		else
			bad(c, member(o, "policy"), "forward.policy",
			    "\"%s\" is not sequential, random or fastest", s);
	}
}

static void parse_node(struct ctx *c, const cJSON *root, struct config *cfg)
{
	static const char *const keys[] = { "name", "zone", NULL };
	const cJSON *n = member(root, "node");
	const char *s;

	if (!n || !check_object(c, n, "node", keys))
		return;
	s = get_string(c, n, "node", "name", false);
	if (s) {
		if (!*s || strlen(s) > 253)
			bad(c, member(n, "name"), "node.name", "must be 1 to 253 characters");
		else
			cfg->node_name = dup_or_flag(c, s);
	}
	s = get_string(c, n, "node", "zone", false);
	if (s) {
		if (!*s || strlen(s) > 63)
			bad(c, member(n, "zone"), "node.zone", "must be 1 to 63 characters");
		else
			cfg->node_zone = dup_or_flag(c, s);
	}
}

static void parse_services(struct ctx *c, const cJSON *root, struct config *cfg)
{
	const cJSON *arr = get_array(c, root, "", "services", sizeof(*cfg->services),
				     (void **)&cfg->services, &cfg->n_services);
	size_t i = 0;

	if (!arr)
		return;
	for (const cJSON *e = arr->child; e; e = e->next, i++) {
		char p[PATH_LEN];
		struct svc_spec *s = &cfg->services[i];
		path_fmt(p, "services[%zu]", i);
		parse_service(c, e, p, s);
		parse_service_health(c, e, p, s);
		for (size_t j = 0; j < i && s->name && s->namespace; j++) {
			const struct svc_spec *o = &cfg->services[j];
			if (o->name && o->namespace && strcmp(o->name, s->name) == 0 &&
			    strcmp(o->namespace, s->namespace) == 0) {
				bad(c, e, p, "service %s.%s is defined twice (also services[%zu])",
				    s->name, s->namespace, j);
				break;
			}
		}
	}
}

static void parse_domain(struct ctx *c, const cJSON *root, struct config *cfg)
{
	const char *s = get_string(c, root, "", "domain", false);
	uint8_t wire[DNS_MAX_NAME + 1];

	if (!s)
		return;
	size_t n = strlen(s);
	char *d = dup_or_flag(c, s);
	if (!d)
		return;
	if (n > 0 && d[n - 1] == '.')
		d[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)d[i]);
	/* Leave room for HOST.SVC.NS.svc under the domain. */
	if (n == 0 || n > 120 || dns_name_from_str(d, wire) < 0) {
		bad(c, member(root, "domain"), "domain",
		    "\"%s\" is not a domain name (at most 120 characters)", s);
		free(d);
		return;
	}
	free(cfg->domain);
	cfg->domain = d;
}

static void parse_root(struct ctx *c, const cJSON *root, struct config *cfg)
{
	static const char *const keys[] = {
		"listen", "domain", "ttl", "negative_ttl", "edns_buffer_size",
		"tcp_max_connections", "tcp_idle_timeout_ms", "log_level",
		"services", "probe_max_in_flight", "probe_idle_s", "probe_mode",
		"node", "zone_preference", "zone_min_share_pct", "max_answers",
		"kubernetes", "http", "user", "log_format", "shutdown_grace_ms",
		"forward", "cache", "handover_sync_wait_ms", "allow", "rate_limit",
		"threads", "udp_coalesce_us", NULL
	};
	uint32_t v;
	const char *s;

	if (!check_object(c, root, "", keys)) {
		return;
	}
	parse_listen(c, root, cfg);
	parse_domain(c, root, cfg);
	get_uint(c, root, "", "ttl", 0, 3600, &cfg->ttl_s);
	get_uint(c, root, "", "negative_ttl", 0, 3600, &cfg->negative_ttl_s);
	v = cfg->edns_buffer_size;
	get_uint(c, root, "", "edns_buffer_size", 512, 4096, &v);
	cfg->edns_buffer_size = (uint16_t)v;
	get_uint(c, root, "", "tcp_max_connections", 1, 1000000,
		 &cfg->tcp_max_connections);
	get_uint(c, root, "", "tcp_idle_timeout_ms", 100, 3600000,
		 &cfg->tcp_idle_timeout_ms);
	s = get_string(c, root, "", "log_level", false);
	if (s) {
		if (log_level_parse(s, &cfg->log_level) < 0)
			bad(c, member(root, "log_level"), "log_level",
			    "\"%s\" is not debug, info, warn or error", s);
		else
			cfg->log_level_set = true;
	}
	get_uint(c, root, "", "probe_max_in_flight", 1, 100000,
		 &cfg->probe_max_in_flight);
	get_uint(c, root, "", "probe_idle_s", 1, 86400, &cfg->probe_idle_s);
	parse_probe_mode(c, root, "", &cfg->probe_mode);
	parse_node(c, root, cfg);
	parse_k8s(c, root, cfg);
	parse_forward(c, root, cfg);
	const cJSON *rl = member(root, "rate_limit");
	static const char *const rlkeys[] = { "responses_per_second", "slip", "ipv4_prefix",
					      "ipv6_prefix", "exempt_loopback", NULL };
	if (rl && check_object(c, rl, "rate_limit", rlkeys)) {
		get_uint(c, rl, "rate_limit", "responses_per_second", 0, 1000000, &cfg->rrl_rate);
		get_uint(c, rl, "rate_limit", "slip", 0, 100, &cfg->rrl_slip);
		get_uint(c, rl, "rate_limit", "ipv4_prefix", 8, 32, &cfg->rrl_ipv4_prefix);
		get_uint(c, rl, "rate_limit", "ipv6_prefix", 16, 64, &cfg->rrl_ipv6_prefix);
		get_bool(c, rl, "rate_limit", "exempt_loopback", &cfg->rrl_exempt_loopback);
	}
	const cJSON *al = member(root, "allow");
	if (al) {
		struct config_prefix *pre = NULL;
		size_t n = 0, i = 0;
		const cJSON *arr = get_array(c, root, "", "allow", sizeof(*pre), (void **)&pre, &n);
		if (arr) {
			free(cfg->allow);
			cfg->allow = pre;
			cfg->n_allow = 0;
			for (const cJSON *e = arr->child; e; e = e->next, i++) {
				char p[PATH_LEN];
				path_fmt(p, "allow[%zu]", i);
				if (!cJSON_IsString(e) ||
				    config_parse_prefix(e->valuestring, &pre[cfg->n_allow]) < 0)
					bad(c, e, p, "must be a prefix like \"10.0.0.0/8\" or \"fd00::/8\"");
				else
					cfg->n_allow++;
			}
		}
	}
	s = get_string(c, root, "", "http", false);
	if (s && (!*s || strcmp(s, "off") == 0)) {
		cfg->http_enabled = false;
	} else if (s && config_parse_listen(s, &cfg->http) < 0) {
		bad(c, member(root, "http"), "http",
		    "\"%s\" is not ADDR:PORT, [V6ADDR]:PORT or \"off\"", s);
	}
	s = get_string(c, root, "", "user", false);
	if (s && !*s)
		bad(c, member(root, "user"), "user", "must not be empty");
	else if (s)
		cfg->user = dup_or_flag(c, s);
	s = get_string(c, root, "", "log_format", false);
	if (s && strcmp(s, "json") == 0)
		cfg->log_json = true;
	else if (s && strcmp(s, "text") != 0)
		bad(c, member(root, "log_format"), "log_format", "\"%s\" is not text or json", s);
	get_uint(c, root, "", "shutdown_grace_ms", 0, 60000, &cfg->shutdown_grace_ms);
	get_uint(c, root, "", "threads", 1, CONFIG_MAX_THREADS, &cfg->threads);
	get_uint(c, root, "", "udp_coalesce_us", 0, 1000, &cfg->udp_coalesce_us);
	get_uint(c, root, "", "handover_sync_wait_ms", 0, 600000, &cfg->handover_sync_wait_ms);
	get_bool(c, root, "", "zone_preference", &cfg->zone_preference);
	get_uint(c, root, "", "zone_min_share_pct", 0, 100, &cfg->zone_min_share_pct);
	get_uint(c, root, "", "max_answers", 0, 4096, &cfg->max_answers);
	parse_services(c, root, cfg);
}

/* ------------------------------------------------------------ entry points */

static struct config *config_defaults(const char *path)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->path = strdup(path);
	cfg->domain = strdup(CONFIG_DEFAULT_DOMAIN);
	cfg->listen = calloc(1, sizeof(*cfg->listen));
	if (!cfg->path || !cfg->domain || !cfg->listen ||
	    config_parse_listen(CONFIG_DEFAULT_LISTEN, cfg->listen) < 0) {
		config_delete(cfg);
		return NULL;
	}
	cfg->n_listen = 1;
	cfg->ttl_s = CONFIG_DEFAULT_TTL_S;
	cfg->negative_ttl_s = CONFIG_DEFAULT_NEG_TTL_S;
	cfg->edns_buffer_size = CONFIG_DEFAULT_EDNS_SIZE;
	cfg->tcp_max_connections = CONFIG_DEFAULT_TCP_MAX;
	cfg->tcp_idle_timeout_ms = CONFIG_DEFAULT_TCP_IDLE_MS;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->probe_max_in_flight = CONFIG_DEFAULT_PROBE_MAX_IN_FLIGHT;
	cfg->probe_idle_s = CONFIG_DEFAULT_PROBE_IDLE_S;
	cfg->probe_mode = SVC_PROBE_MODE_ALL;
	cfg->zone_preference = true;
	cfg->zone_min_share_pct = CONFIG_DEFAULT_ZONE_MIN_SHARE;
	cfg->k8s.watch_timeout_s = 300;
	cfg->http_enabled = true;
	cfg->fwd.timeout_ms = 1000;
	cfg->fwd.max_in_flight = 1024;
	cfg->fwd.cache_enabled = true;
	cfg->fwd.cache_max_entries = 10000;
	cfg->fwd.cache_min_ttl = 0;
	cfg->fwd.cache_max_ttl = 3600;
	cfg->fwd.cache_negative_max_ttl = 1800;
	cfg->fwd.serve_stale = true;
	cfg->fwd.stale_s = 3600;
	cfg->shutdown_grace_ms = CONFIG_DEFAULT_GRACE_MS;
	cfg->threads = 1;
	cfg->udp_coalesce_us = CONFIG_DEFAULT_COALESCE_US;
	cfg->handover_sync_wait_ms = 15000;
	cfg->rrl_rate = 5000;
	cfg->rrl_slip = 2;
	cfg->rrl_ipv4_prefix = 24;
	cfg->rrl_ipv6_prefix = 56;
	cfg->rrl_exempt_loopback = true;
	size_t na = sizeof(default_allow) / sizeof(default_allow[0]);
	cfg->allow = calloc(na, sizeof(*cfg->allow));
	if (!cfg->allow) {
		config_delete(cfg);
		return NULL;
	}
	for (size_t i = 0; i < na; i++)
		if (config_parse_prefix(default_allow[i], &cfg->allow[cfg->n_allow]) == 0)
			cfg->n_allow++;
	if (config_parse_listen(CONFIG_DEFAULT_HTTP, &cfg->http) < 0) {
		config_delete(cfg);
		return NULL;
	}
	cfg->k8s.page_size = 500;
	return cfg;
}

int config_parse(const char *path, const char *text, size_t len,
		 struct config **out, struct config_errors *errs)
{
	struct ctx c = { .file = path, .errs = errs };
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
	parse_root(&c, root, cfg);
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
	struct ctx c = { .file = path, .errs = errs };
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
