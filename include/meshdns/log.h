/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Logging: one line per event on stderr, filtered by level. Thread-safe
 * (each line is written with a single write(2)).
 */
#ifndef MESHDNS_LOG_H
#define MESHDNS_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/** Current threshold; lines below it are dropped. Read by the macros. */
extern enum log_level log_threshold;

/**
 * Parse "debug", "info", "warn" or "error".
 * @return 0 and sets *out, or MESHDNS_EINVAL.
 */
int log_level_parse(const char *name, enum log_level *out);

/** Set the threshold. Call before threads start. */
void log_set_level(enum log_level level);

/** One JSON object per line instead of text (log_format "json"). */
void log_set_json(bool on);

/** Write one line at @p level (printf format, no trailing newline). */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_enabled(lvl) ((lvl) >= log_threshold)
#define log_debug(...) do { if (log_enabled(LOG_LEVEL_DEBUG)) \
	log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_err(...)  log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
