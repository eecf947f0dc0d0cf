/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The config file's schema: one row per key, as Knot DNS's conf/schema.c.
 * A row says what the key's value is (type, range, default), where it is
 * stored (an offset into the struct of the object holding it), whether a
 * reload applies it and what it is for. The parser (config.c), the
 * defaults, the reload check (daemon.c), `meshdns --config-keys` and the
 * test that the manual and etc/meshdns.conf name every key all read it.
 * Constant data; any thread.
 */
#ifndef MESHDNS_CONFIG_SCHEMA_H
#define MESHDNS_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON;
struct config;
struct config_ctx;			/* the parser's state, config_int.h */
struct config_key;

enum config_type {
	CONFIG_UINT,			/* a whole number in [min, max] */
	CONFIG_BOOL,
	CONFIG_STRING,			/* a char * of min..max characters */
	CONFIG_ENUM,			/* one of the row's choices */
	CONFIG_OBJECT,			/* a section: its members are rows too */
	CONFIG_LIST,			/* an array; the row's parse hook reads it */
	CONFIG_CUSTOM,			/* a string kept in a shape of its own */
};

enum config_apply {
	CONFIG_RELOAD,			/* SIGHUP applies a change */
	CONFIG_RESTART,			/* SIGHUP warns and keeps the running value */
	CONFIG_START,			/* read once at start; SIGHUP changes nothing */
};

/* flags */
#define CONFIG_KEY_REQUIRED	0x1u	/* absent is an error */
#define CONFIG_KEY_UNSET	0x2u	/* no default value: def_text says what then */
#define CONFIG_KEY_NOCASE	0x4u	/* ENUM: any case */
#define CONFIG_KEY_SEEN		0x8u	/* the bool at flag_at says it was given */
#define CONFIG_KEY_CLI		0x10u	/* the bool at flag_at says the command
					 * line set it: a reload keeps it quietly */

struct config_choice {
	const char *name;		/* NULL ends the list */
	uint32_t value;
};

typedef void config_parse_fn(struct config_ctx *c, const struct cJSON *obj,
			     const char *path, const struct config_key *k, void *base);
typedef void config_check_fn(struct config_ctx *c, const struct cJSON *obj,
			     const char *path, void *base);
typedef bool config_valid_fn(const char *s);
typedef bool config_equal_fn(const void *a, const void *b);

/*
 * One key. Offsets are into the struct of the object that holds the key
 * (struct config for the top level and its sections, struct svc_spec for
 * services[], ...); an OBJECT's members are at base + its offset.
 */
struct config_key {
	const char *name;		/* dotted: "cache.max_entries", "services[].name" */
	enum config_type type;
	enum config_apply apply;
	unsigned flags;			/* CONFIG_KEY_* */
	size_t offset;			/* of the value */
	size_t size;			/* of the value (LIST: of its pointer) */
	size_t count;			/* LIST: offset of its size_t length */
	size_t flag_at;			/* SEEN, CLI: offset of that bool */
	uint32_t min, max;		/* UINT: values; STRING: length, max 0 = any */
	uint32_t def;			/* UINT, BOOL, ENUM: the default */
	const char *def_str;		/* STRING: the default, NULL = none */
	const char *def_text;		/* the default as the manual words it */
	const struct config_choice *choices;	/* ENUM */
	const struct config_key *members;	/* OBJECT, LIST of objects */
	config_parse_fn *parse;		/* instead of the type's parser */
	config_check_fn *check;		/* after it: rules across keys */
	config_valid_fn *valid;		/* STRING: what the value must be, */
	const char *invalid;		/*   and the message if it is not */
	config_equal_fn *equal;		/* RESTART LIST, CUSTOM: same value? */
	const char *doc;		/* one line */
};

/** The top-level object's keys; a row with a NULL name ends each table. */
extern const struct config_key config_schema[];

/** The key's name in its JSON object: "max_entries" for "cache.max_entries". */
const char *config_key_leaf(const struct config_key *k);

/** The row named @p name (dotted, "services[].probe.rise"), or NULL. */
const struct config_key *config_key_find(const char *name);

/** Call @p fn for every row, depth first in table order. */
void config_schema_each(void (*fn)(const struct config_key *k, void *arg), void *arg);

/** "integer 0-3600", "boolean", "all|on_demand", ... for listings. */
void config_key_type_text(const struct config_key *k, char *buf, size_t len);

/**
 * The restart-only keys whose value differs between the running config
 * @p old and a reloaded @p new, as "ttl, listen" into @p buf (cut to fit).
 * @return how many
 */
unsigned config_restart_changes(const struct config *old, const struct config *new,
				char *buf, size_t len);

/**
 * Give @p new the running values of every restart-only key (by swapping
 * with @p old, so that what @p old owned lives on in @p new and what was
 * read is freed with @p old).
 */
void config_keep_restart_values(struct config *new, struct config *old);

/** One line per key: name, type, default, reload or restart, doc. */
void config_schema_print(FILE *f);

#endif
