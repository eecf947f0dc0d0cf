/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * A validating JSON scanner that knows line numbers, which cJSON does not.
 * It accepts JSON with // and / * * / comments (as cJSON_Minify strips
 * them) and records, in document pre-order, the line on which each value
 * (or, for object members, its key) starts. Walking a cJSON tree of the
 * same text in pre-order visits items in the same order, so the n-th item
 * of that walk is on line lines[n]. Private to config.c; pure.
 */
#ifndef MESHDNS_JSON_LINES_H
#define MESHDNS_JSON_LINES_H

#include <stddef.h>

struct json_lines {
	int *lines;		/* caller frees with json_lines_deinit() */
	size_t n;
	size_t cap;
	int err_line;		/* on syntax error: line of the error */
	char err[128];		/* on syntax error: what was wrong */
};

/**
 * Scan @p text. @return 0, MESHDNS_EMALF (err_line/err set) or
 * MESHDNS_ENOMEM.
 */
int json_lines_scan(const char *text, size_t len, struct json_lines *jl);

void json_lines_deinit(struct json_lines *jl);

#endif
