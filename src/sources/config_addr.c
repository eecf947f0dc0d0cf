/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Addresses in the config: "ADDR:PORT" listen addresses, client prefixes,
 * the forwarding loop guard, and the keys made of them (listen, allow,
 * http, forward.upstreams) with their defaults.
 */
#include "config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "meshdns/config.h"

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

/* loopback, RFC 1918, link-local, RFC 4193 */
static const char *const default_allow[] = {
	"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
	"169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10",
};

/* ------------------------------------------------------------ keys */

/* Is the address @p l[n] one of l[0..n-1]? */
static bool listed_before(const struct config_listen *l, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		if (l[j].addr_len == l[n].addr_len &&
		    memcmp(&l[j].addr, &l[n].addr, l[j].addr_len) == 0)
			return true;
	}
	return false;
}

void cfg_parse_listen(struct config_ctx *c, const cJSON *obj, const char *path,
		      const struct config_key *k, void *base)
{
	struct config *cfg = base;
	const cJSON *v = cfg_member(obj, "listen");
	char p[CONFIG_PATH_LEN];
	size_t i = 0;

	if (!v)
		return;
	if (!cJSON_IsArray(v)) {
		cfg_bad(c, v, "listen", "must be an array of \"ADDR:PORT\" strings, not %s",
			cfg_type_name(v));
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(v);
	if (n == 0) {
		cfg_bad(c, v, "listen", "must name at least one address");
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
		cfg_path_fmt(p, "listen[%zu]", i);
		if (!cJSON_IsString(e)) {
			cfg_bad(c, e, p, "must be a string, not %s", cfg_type_name(e));
			continue;
		}
		if (config_parse_listen(e->valuestring, &l[cfg->n_listen]) < 0) {
			cfg_bad(c, e, p, "\"%s\" is not ADDR:PORT or [V6ADDR]:PORT with a port from 1 to 65535",
				e->valuestring);
			continue;
		}
		if (listed_before(l, cfg->n_listen))
			cfg_bad(c, e, p, "\"%s\" is listed twice", e->valuestring);
		else
			cfg->n_listen++;
	}
}

/* As written: "127.0.0.1:53" and "127.0.0.1:053" differ, as they did. */
bool cfg_listen_equal(const void *a, const void *b)
{
	const struct config *x = a, *y = b;

	if (x->n_listen != y->n_listen)
		return false;
	for (size_t i = 0; i < x->n_listen; i++) {
		if (strcmp(x->listen[i].text, y->listen[i].text) != 0)
			return false;
	}
	return true;
}

void cfg_parse_allow(struct config_ctx *c, const cJSON *obj, const char *path,
		     const struct config_key *k, void *base)
{
	struct config *cfg = base;
	struct config_prefix *pre = NULL;
	size_t n = 0, i = 0;
	const cJSON *arr = cfg_get_array(c, obj, "", "allow", sizeof(*pre), (void **)&pre, &n);

	if (!arr)
		return;
	free(cfg->allow);
	cfg->allow = pre;
	cfg->n_allow = 0;
	for (const cJSON *e = arr->child; e; e = e->next, i++) {
		char p[CONFIG_PATH_LEN];
		cfg_path_fmt(p, "allow[%zu]", i);
		if (!cJSON_IsString(e) ||
		    config_parse_prefix(e->valuestring, &pre[cfg->n_allow]) < 0)
			cfg_bad(c, e, p, "must be a prefix like \"10.0.0.0/8\" or \"fd00::/8\"");
		else
			cfg->n_allow++;
	}
}

void cfg_parse_http(struct config_ctx *c, const cJSON *obj, const char *path,
		    const struct config_key *k, void *base)
{
	struct config *cfg = base;
	const char *s = cfg_get_string(c, obj, "", "http", false);

	if (s && (!*s || strcmp(s, "off") == 0)) {
		cfg->http_enabled = false;
	} else if (s && config_parse_listen(s, &cfg->http) < 0) {
		cfg_bad(c, cfg_member(obj, "http"), "http",
			"\"%s\" is not ADDR:PORT, [V6ADDR]:PORT or \"off\"", s);
	}
}

void cfg_parse_upstreams(struct config_ctx *c, const cJSON *obj, const char *path,
			 const struct config_key *k, void *base)
{
	struct config *cfg = base;
	struct config_forward *f = &cfg->fwd;
	const cJSON *ups = cfg_get_array(c, obj, path, "upstreams", sizeof(*f->upstreams),
					 (void **)&f->upstreams, &f->n_upstreams);
	size_t i = 0, n = 0;

	for (const cJSON *e = ups ? ups->child : NULL; e; e = e->next, i++) {
		char p[CONFIG_PATH_LEN];
		cfg_path_fmt(p, "%s.upstreams[%zu]", path, i);
		if (!cJSON_IsString(e) || config_parse_listen(e->valuestring, &f->upstreams[n]) < 0) {
			cfg_bad(c, e, p, "must be \"ADDR:PORT\" or \"[V6ADDR]:PORT\"");
			continue;
		}
		/* loop guard: never forward to ourselves */
		if (config_is_listen_address(cfg, &f->upstreams[n].addr))
			cfg_bad(c, e, p, "\"%s\" is one of our own listen addresses: a forwarding loop",
				e->valuestring);
		n++;
	}
	f->n_upstreams = n;
}

int cfg_addr_defaults(struct config *cfg)
{
	size_t na = sizeof(default_allow) / sizeof(default_allow[0]);

	cfg->listen = calloc(1, sizeof(*cfg->listen));
	cfg->allow = calloc(na, sizeof(*cfg->allow));
	if (!cfg->listen || !cfg->allow ||
	    config_parse_listen(CONFIG_DEFAULT_LISTEN, cfg->listen) < 0 ||
	    config_parse_listen(CONFIG_DEFAULT_HTTP, &cfg->http) < 0)
		return MESHDNS_ENOMEM;
	cfg->n_listen = 1;
	cfg->http_enabled = true;
	for (size_t i = 0; i < na; i++)
		if (config_parse_prefix(default_allow[i], &cfg->allow[cfg->n_allow]) == 0)
			cfg->n_allow++;
	return 0;
}
