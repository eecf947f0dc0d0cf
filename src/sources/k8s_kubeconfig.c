/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The kubeconfig reader: the YAML subset kubectl writes (or JSON) into a
 * cJSON tree, and the current context's cluster and user out of it. Pure;
 * k8s_creds.c decides when a kubeconfig is used.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/k8s_decode.h"
#include "k8s_json.h"

struct yline {
	int indent;
	char *text;		/* points into the copy; comment and CR stripped */
};

struct yparse {
	struct yline *l;
	size_t n, i;
	char *err;
	int depth;
};

/* Unquote a scalar in place; plain scalars are kept as written. */
static char *yaml_scalar(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		char *w = s;
		for (char *r = s + 1; r < s + n - 1; r++) {
			if (*r == '\\' && r + 1 < s + n - 1) {
				r++;
				*w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
			} else {
				*w++ = *r;
			}
		}
		*w = '\0';
	} else if (n >= 2 && s[0] == '\'' && s[n - 1] == '\'') {
		char *w = s;
		for (char *r = s + 1; r < s + n - 1; r++) {
			*w++ = *r;
			if (*r == '\'' && r[1] == '\'')
				r++;
		}
		*w = '\0';
	}
	return s;
}

/* The ': ' (or final ':') that ends a mapping key, outside quotes. */
static char *yaml_colon(char *s)
{
	char q = 0;

	for (char *p = s; *p; p++) {
		if (q) {
			if (*p == q)
				q = 0;
		} else if (*p == '"' || *p == '\'') {
			q = *p;
		} else if (*p == ':' && (p[1] == ' ' || p[1] == '\0')) {
			return p;
		}
	}
	return NULL;
}

static bool is_item(const char *t)
{
	return t[0] == '-' && (t[1] == ' ' || t[1] == '\0');
}

static cJSON *yaml_node(struct yparse *y, int indent);

static cJSON *yaml_value(char *v)
{
	v = yaml_scalar(v);
	if (strcmp(v, "{}") == 0)
		return cJSON_CreateObject();
	if (strcmp(v, "[]") == 0)
		return cJSON_CreateArray();
	if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0)
		return cJSON_CreateNull();
	return cJSON_CreateString(v);
}

static cJSON *yaml_seq(struct yparse *y, int indent)
{
	cJSON *arr = cJSON_CreateArray();

	while (arr && y->i < y->n && y->l[y->i].indent == indent && is_item(y->l[y->i].text)) {
		struct yline *l = &y->l[y->i];
		char *rest = l->text + 1;
		cJSON *item;
		while (*rest == ' ')
			rest++;
		if (!*rest) {
			y->i++;
			if (y->i < y->n && y->l[y->i].indent > indent)
				item = yaml_node(y, y->l[y->i].indent);
			else
				item = cJSON_CreateNull();
		} else {
			/* "- key: v": the item's block starts on this line */
			l->indent += (int)(rest - l->text);
			l->text = rest;
			if (yaml_colon(rest) || is_item(rest)) {
				item = yaml_node(y, l->indent);
			} else {
				item = yaml_value(rest);
				y->i++;
			}
		}
		if (!item) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, item);
	}
	return arr;
}

static cJSON *yaml_map(struct yparse *y, int indent)
{
	cJSON *obj = cJSON_CreateObject();

	while (obj && y->i < y->n && y->l[y->i].indent == indent && !is_item(y->l[y->i].text)) {
		char *t = y->l[y->i].text;
		char *colon = yaml_colon(t);
		cJSON *v;
		if (!colon) {
			snprintf(y->err, K8S_ERR_LEN, "line %zu: expected 'key: value'", y->i + 1);
			cJSON_Delete(obj);
			return NULL;
		}
		*colon = '\0';
		char *key = yaml_scalar(t), *val = colon + 1;
		while (*val == ' ')
			val++;
		y->i++;
		if (*val) {
			v = yaml_value(val);
		} else if (y->i < y->n && (y->l[y->i].indent > indent ||
					  (y->l[y->i].indent == indent && is_item(y->l[y->i].text)))) {
			v = yaml_node(y, y->l[y->i].indent);
		} else {
			v = cJSON_CreateNull();
		}
		if (!v) {
			cJSON_Delete(obj);
			return NULL;
		}
		cJSON_AddItemToObject(obj, key, v);
	}
	return obj;
}

static cJSON *yaml_node(struct yparse *y, int indent)
{
	cJSON *r;

	if (++y->depth > 32) {
		snprintf(y->err, K8S_ERR_LEN, "nesting too deep");
		return NULL;
	}
	r = is_item(y->l[y->i].text) ? yaml_seq(y, indent) : yaml_map(y, indent);
	y->depth--;
	return r;
}

cJSON *k8s_parse_kubeconfig(const char *text, char err[K8S_ERR_LEN])
{
	struct yparse y = { .err = err };
	const char *p = text;
	char *copy;
	cJSON *root = NULL;

	err[0] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '{') {
		root = cJSON_Parse(p);
		if (!root)
			snprintf(err, K8S_ERR_LEN, "not valid JSON");
		return root;
	}
	copy = strdup(text);
	size_t lines = 1;
	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	y.l = calloc(lines, sizeof(*y.l));
	if (!copy || !y.l) {
		snprintf(err, K8S_ERR_LEN, "out of memory");
		goto out;
	}
	for (char *line = copy, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		int ind = 0;
		while (line[ind] == ' ')
			ind++;
		if (line[ind] == '\t') {
			snprintf(err, K8S_ERR_LEN, "line %zu: tabs are not allowed in YAML", y.n + 1);
			goto out;
		}
		char *t = line + ind;
		/* comments: '#' at the start or after a blank, outside quotes */
		char q = 0;
		for (char *c = t; *c; c++) {
			if (q) {
				if (*c == q)
					q = 0;
			} else if (*c == '"' || *c == '\'') {
				q = *c;
			} else if (*c == '#' && (c == t || c[-1] == ' ')) {
				*c = '\0';
				break;
			}
		}
		size_t tl = strlen(t);
		while (tl && (t[tl - 1] == '\r' || t[tl - 1] == ' '))
			t[--tl] = '\0';
		if (!tl || strcmp(t, "---") == 0)
			continue;
		y.l[y.n].indent = ind;
		y.l[y.n].text = t;
		y.n++;
	}
	if (!y.n) {
		snprintf(err, K8S_ERR_LEN, "empty file");
		goto out;
	}
	root = yaml_node(&y, y.l[0].indent);
	if (root && y.i != y.n) {
		snprintf(err, K8S_ERR_LEN, "line %zu: unexpected indentation", y.i + 1);
		cJSON_Delete(root);
		root = NULL;
	}
	if (!root && !err[0])
		snprintf(err, K8S_ERR_LEN, "cannot parse");
out:
	free(y.l);
	free(copy);
	return root;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* Decode base64 (padding and whitespace ignored) into a malloc'd buffer. */
static int b64_decode(const char *in, char **out, size_t *out_len)
{
	size_t n = strlen(in), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	char *buf = malloc(n / 4 * 3 + 4);

	if (!buf)
		return MESHDNS_ENOMEM;
	for (const char *p = in; *p; p++) {
		if (*p == '=' || isspace((unsigned char)*p))
			continue;
		int v = b64_value(*p);
		if (v < 0) {
			free(buf);
			return MESHDNS_EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)(acc >> bits);
		}
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	return 0;
}

/* The "NAME" entry of a kubeconfig list (clusters, users, contexts). */
static const cJSON *named(const cJSON *root, const char *list, const char *name,
			  const char *inner)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, list);

	for (const cJSON *e = cJSON_IsArray(arr) ? arr->child : NULL; e; e = e->next) {
		const char *n = str_at(e, "name", NULL);
		if (n && name && strcmp(n, name) == 0)
			return cJSON_GetObjectItemCaseSensitive(e, inner);
	}
	return NULL;
}

void k8s_kubeconfig_deinit(struct k8s_kubeconfig *k)
{
	free(k->server);
	free(k->ca_file);
	free(k->ca_data);
	free(k->token);
	free(k->token_file);
	free(k->cert_file);
	free(k->key_file);
	free(k->cert_data);
	free(k->key_data);
	free(k->namespace);
	memset(k, 0, sizeof(*k));
}

int k8s_kubeconfig_resolve(const cJSON *root, struct k8s_kubeconfig *out,
			   char err[K8S_ERR_LEN])
{
	const char *cur = str_at(root, "current-context", NULL);
	const cJSON *ctx, *cluster, *user;
	const char *v;
	int r;

	memset(out, 0, sizeof(*out));
	ctx = named(root, "contexts", cur, "context");
	if (!cur || !ctx) {
		snprintf(err, K8S_ERR_LEN, "no current-context, or it is not in contexts");
		return MESHDNS_EINVAL;
	}
	cluster = named(root, "clusters", str_at(ctx, "cluster", NULL), "cluster");
	user = named(root, "users", str_at(ctx, "user", NULL), "user");
	if (!cluster || !str_at(cluster, "server", NULL)) {
		snprintf(err, K8S_ERR_LEN, "context %s: its cluster has no server", cur);
		return MESHDNS_EINVAL;
	}
	if (dup_str(&out->server, str_at(cluster, "server", NULL)) < 0 ||
	    dup_str(&out->ca_file, str_at(cluster, "certificate-authority", NULL)) < 0 ||
	    dup_str(&out->namespace, str_at(ctx, "namespace", NULL)) < 0 ||
	    dup_str(&out->token, str_at(user, "token", NULL)) < 0 ||
	    dup_str(&out->token_file, str_at(user, "tokenFile", NULL)) < 0 ||
	    dup_str(&out->cert_file, str_at(user, "client-certificate", NULL)) < 0 ||
	    dup_str(&out->key_file, str_at(user, "client-key", NULL)) < 0)
		goto nomem;
	v = str_at(cluster, "insecure-skip-tls-verify", NULL);
	out->insecure = (v && strcmp(v, "true") == 0) ||
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cluster,
						"insecure-skip-tls-verify"));
	struct { const cJSON *o; const char *key; char **dst; size_t *len; } data[] = {
		{ cluster, "certificate-authority-data", &out->ca_data, &out->ca_data_len },
		{ user, "client-certificate-data", &out->cert_data, &out->cert_data_len },
		{ user, "client-key-data", &out->key_data, &out->key_data_len },
	};
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		if (!(v = str_at(data[i].o, data[i].key, NULL)))
			continue;
		r = b64_decode(v, data[i].dst, data[i].len);
		if (r == MESHDNS_ENOMEM)
			goto nomem;
		if (r < 0) {
			snprintf(err, K8S_ERR_LEN, "%s is not base64", data[i].key);
			k8s_kubeconfig_deinit(out);
			return MESHDNS_EINVAL;
		}
	}
	return 0;
nomem:
	k8s_kubeconfig_deinit(out);
	snprintf(err, K8S_ERR_LEN, "out of memory");
	return MESHDNS_ENOMEM;
}
