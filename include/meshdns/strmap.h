/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * A string-keyed hash map of void pointers (chained, grows by doubling).
 * Keys are copied; values are the caller's. Not thread-safe.
 */
#ifndef MESHDNS_STRMAP_H
#define MESHDNS_STRMAP_H

#include <stddef.h>

#include "meshdns/error.h"

struct strmap;

/** @return a new empty map or NULL */
struct strmap *strmap_create(void);

/** Free the map (not the values). NULL is fine. */
void strmap_delete(struct strmap *m);

/** The value for @p key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);

/** Set @p key to @p value (replacing). @return 0 or MESHDNS_ENOMEM */
int strmap_put(struct strmap *m, const char *key, void *value) MESHDNS_WUR;

/** Remove @p key. @return its value, or NULL if absent. */
void *strmap_del(struct strmap *m, const char *key);

/** Number of keys. */
size_t strmap_count(const struct strmap *m);

/**
 * Call @p cb for every entry; @p cb may strmap_del() the entry it is
 * given, nothing else.
 */
void strmap_foreach(struct strmap *m, void (*cb)(const char *key, void *value, void *arg),
		    void *arg);

#endif
