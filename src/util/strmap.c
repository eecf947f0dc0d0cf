/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Chained string hash map (FNV-1a), load factor at most 1.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/strmap.h"

struct entry {
	struct entry *next;
	uint32_t hash;
	void *value;
	char key[];
};

struct strmap {
	struct entry **b;
	size_t mask;
	size_t n;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

struct strmap *strmap_create(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->mask = 63;
	m->b = calloc(m->mask + 1, sizeof(*m->b));
	if (!m->b) {
		free(m);
		return NULL;
	}
	return m;
}

void strmap_delete(struct strmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i <= m->mask; i++) {
		for (struct entry *e = m->b[i], *n; e; e = n) {
			n = e->next;
			free(e);
		}
	}
	free(m->b);
	free(m);
}

static struct entry **find(const struct strmap *m, const char *key, uint32_t h)
{
	struct entry **p = &m->b[h & m->mask];

	for (; *p; p = &(*p)->next) {
		if ((*p)->hash == h && strcmp((*p)->key, key) == 0)
			break;
	}
	return p;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct entry *e = *find(m, key, hash(key));

	return e ? e->value : NULL;
}

static void grow(struct strmap *m)
{
	size_t mask = m->mask * 2 + 1;
	struct entry **b = calloc(mask + 1, sizeof(*b));

	if (!b)
		return;	/* keep the longer chains */
	for (size_t i = 0; i <= m->mask; i++) {
		for (struct entry *e = m->b[i], *n; e; e = n) {
			n = e->next;
			e->next = b[e->hash & mask];
			b[e->hash & mask] = e;
		}
	}
	free(m->b);
	m->b = b;
	m->mask = mask;
}

int strmap_put(struct strmap *m, const char *key, void *value)
{
	uint32_t h = hash(key);
	struct entry **p = find(m, key, h), *e;
	size_t l;

	if (*p) {
		(*p)->value = value;
		return 0;
	}
	l = strlen(key);
	e = malloc(sizeof(*e) + l + 1);
	if (!e)
		return MESHDNS_ENOMEM;
	e->hash = h;
	e->value = value;
	memcpy(e->key, key, l + 1);
	e->next = NULL;
	*p = e;
	if (++m->n > m->mask + 1)
		grow(m);
	return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct entry **p = find(m, key, hash(key)), *e = *p;
	void *v;

	if (!e)
		return NULL;
	*p = e->next;
	v = e->value;
	free(e);
	m->n--;
	return v;
}

size_t strmap_count(const struct strmap *m)
{
	return m->n;
}

void strmap_foreach(struct strmap *m, void (*cb)(const char *key, void *value, void *arg),
		    void *arg)
{
	for (size_t i = 0; i <= m->mask; i++) {
		for (struct entry *e = m->b[i], *n; e; e = n) {
			n = e->next;
			cb(e->key, e->value, arg);
		}
	}
}
