/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * What the config parser's files share: config.c (errors, the typed
 * getters, the row-driven parser), config_addr.c (addresses and the keys
 * made of them), config_service.c (services[]) and config_schema.c (the
 * table, with the rules across keys next to it). Not for other modules.
 */
#ifndef MESHDNS_CONFIG_INT_H
#define MESHDNS_CONFIG_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/config.h"
#include "meshdns/config_schema.h"

#define CONFIG_PATH_LEN	192

/* cJSON item -> line, sorted by pointer for bsearch. */
struct item_line {
	const cJSON *item;
	int line;
};

struct config_ctx {
	const char *file;
	struct item_line *map;
	size_t n_map;
	struct config_errors *errs;
	bool nomem;
};

/* The services[] object and its members, in config_schema.c. */
extern const struct config_key config_service_keys[];

/* ------------------------------------------------------------ config.c */

/** Report "PATH: message" at @p item's line. */
void cfg_bad(struct config_ctx *c, const cJSON *item, const char *path,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** @p obj's member @p key, or NULL. */
const cJSON *cfg_member(const cJSON *obj, const char *key);

/** Key paths are for messages: a (very unlikely) cut one is fine. */
void cfg_path_fmt(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** "PATH.KEY", or "KEY" at the top level. */
void cfg_subpath(char *out, const char *path, const char *key);

/** "a string", "a number", ... for messages. */
const char *cfg_type_name(const cJSON *v);

/** String member; absent returns NULL, reported as missing if @p required. */
const char *cfg_get_string(struct config_ctx *c, const cJSON *obj, const char *path,
			   const char *key, bool required);

/**
 * An optional array member whose elements become a calloc'd C array of
 * @p size bytes each. @return the array item, or NULL when absent, of the
 * wrong type (reported) or out of memory (flagged).
 */
const cJSON *cfg_get_array(struct config_ctx *c, const cJSON *obj, const char *path,
			   const char *key, size_t size, void **out, size_t *n);

/** strdup(), flagging the context when out of memory. */
char *cfg_dup(struct config_ctx *c, const char *s);

/**
 * Check that @p obj is an object with only the keys of @p keys, each
 * once, then read every key into @p base. @return false when not an object.
 */
bool cfg_parse_object(struct config_ctx *c, const cJSON *obj, const char *path,
		      const struct config_key *keys, void *base);

/** Store the defaults of @p keys (and their sections') into @p base. */
int cfg_apply_defaults(const struct config_key *keys, void *base) MESHDNS_WUR;

/* parse hooks of keys that are more than a scalar */
config_parse_fn cfg_parse_domain, cfg_parse_namespaces;

/* ------------------------------------------------------------ config_addr.c */

config_parse_fn cfg_parse_listen, cfg_parse_allow, cfg_parse_http, cfg_parse_upstreams;
config_equal_fn cfg_listen_equal;

/** The defaults of listen, http and allow. @return 0 or MESHDNS_ENOMEM */
int cfg_addr_defaults(struct config *cfg) MESHDNS_WUR;

/* ------------------------------------------------------------ config_service.c */

config_parse_fn cfg_parse_services, cfg_parse_ports, cfg_parse_port_name,
	cfg_parse_endpoints, cfg_parse_address, cfg_parse_for_zones,
	cfg_parse_expect_status;

#endif
