/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Line-aware JSON syntax check for config error messages (see header).
 * Recursion depth is bounded so a hostile file cannot blow the stack.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_lines.h"
#include "meshdns/error.h"

#define MAX_DEPTH 64

struct scan {
	const char *s;
	size_t len, pos;
	int line;
	struct json_lines *jl;
};

static int fail(struct scan *sc, const char *what)
{
	sc->jl->err_line = sc->line;
	snprintf(sc->jl->err, sizeof(sc->jl->err), "%s", what);
	return MESHDNS_EMALF;
}

static int record(struct scan *sc, int line)
{
	struct json_lines *jl = sc->jl;

	if (jl->n == jl->cap) {
		size_t cap = jl->cap ? jl->cap * 2 : 64;
		int *l = realloc(jl->lines, cap * sizeof(*l));
		if (!l)
			return MESHDNS_ENOMEM;
		jl->lines = l;
		jl->cap = cap;
	}
	jl->lines[jl->n++] = line;
	return 0;
}

/* Skip whitespace and comments, counting lines. */
static int skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];
		if (c == '\n') {
			sc->line++;
			sc->pos++;
		} else if (c == ' ' || c == '\t' || c == '\r') {
			sc->pos++;
		} else if (c == '/' && sc->pos + 1 < sc->len && sc->s[sc->pos + 1] == '/') {
			while (sc->pos < sc->len && sc->s[sc->pos] != '\n')
				sc->pos++;
		} else if (c == '/' && sc->pos + 1 < sc->len && sc->s[sc->pos + 1] == '*') {
			int start = sc->line;
			sc->pos += 2;
			for (;;) {
				if (sc->pos + 1 >= sc->len) {
					sc->line = start;
					return fail(sc, "unterminated /* comment");
				}
				if (sc->s[sc->pos] == '*' && sc->s[sc->pos + 1] == '/')
					break;
				if (sc->s[sc->pos] == '\n')
					sc->line++;
				sc->pos++;
			}
			sc->pos += 2;
		} else {
			break;
		}
	}
	return 0;
}

static int scan_string(struct scan *sc)
{
	sc->pos++;	/* opening quote */
	while (sc->pos < sc->len) {
		unsigned char c = (unsigned char)sc->s[sc->pos];
		if (c == '"') {
			sc->pos++;
			return 0;
		}
		if (c < 0x20)
			return fail(sc, "control character or newline inside a string");
		if (c == '\\') {
			if (sc->pos + 1 >= sc->len)
				break;
			char e = sc->s[sc->pos + 1];
			if (e == 'u') {
				for (int i = 2; i < 6; i++) {
					if (sc->pos + (size_t)i >= sc->len ||
					    !strchr("0123456789abcdefABCDEF", sc->s[sc->pos + i]))
						return fail(sc, "bad \\u escape in string");
				}
				sc->pos += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", e))
				return fail(sc, "bad escape in string");
			sc->pos += 2;
			continue;
		}
		sc->pos++;
	}
	return fail(sc, "unterminated string");
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int scan_number(struct scan *sc)
{
	size_t p = sc->pos;

	if (p < sc->len && sc->s[p] == '-')
		p++;
	if (p >= sc->len || !is_digit(sc->s[p]))
		return fail(sc, "bad number");
	while (p < sc->len && is_digit(sc->s[p]))
		p++;
	if (p < sc->len && sc->s[p] == '.') {
		p++;
		if (p >= sc->len || !is_digit(sc->s[p]))
			return fail(sc, "bad number");
		while (p < sc->len && is_digit(sc->s[p]))
			p++;
	}
	if (p < sc->len && (sc->s[p] == 'e' || sc->s[p] == 'E')) {
		p++;
		if (p < sc->len && (sc->s[p] == '+' || sc->s[p] == '-'))
			p++;
		if (p >= sc->len || !is_digit(sc->s[p]))
			return fail(sc, "bad number");
		while (p < sc->len && is_digit(sc->s[p]))
			p++;
	}
	sc->pos = p;
	return 0;
}

static int scan_value(struct scan *sc, int depth, bool member);

static int scan_container(struct scan *sc, int depth, char close)
{
	int r;
	bool first = true;

	if (depth > MAX_DEPTH)
		return fail(sc, "nesting too deep");
	sc->pos++;
	for (;;) {
		if ((r = skip_ws(sc)) < 0)
			return r;
		if (sc->pos >= sc->len)
			return fail(sc, close == '}' ? "missing '}'" : "missing ']'");
		if (sc->s[sc->pos] == close) {
			sc->pos++;
			return 0;
		}
		if (!first) {
			if (sc->s[sc->pos] != ',')
				return fail(sc, close == '}' ? "expected ',' or '}'"
							     : "expected ',' or ']'");
			sc->pos++;
			if ((r = skip_ws(sc)) < 0)
				return r;
			if (sc->pos < sc->len && sc->s[sc->pos] == close)
				return fail(sc, "trailing comma");
		}
		first = false;
		if (close == '}') {
			int key_line = sc->line;
			if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
				return fail(sc, "expected a quoted key");
			if ((r = scan_string(sc)) < 0)
				return r;
			if ((r = skip_ws(sc)) < 0)
				return r;
			if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
				return fail(sc, "expected ':' after key");
			sc->pos++;
			if ((r = record(sc, key_line)) < 0)
				return r;
			if ((r = scan_value(sc, depth + 1, true)) < 0)
				return r;
		} else {
			if ((r = scan_value(sc, depth + 1, false)) < 0)
				return r;
		}
	}
}

/* @p member: the line was already recorded at the key. */
static int scan_value(struct scan *sc, int depth, bool member)
{
	int r;

	if ((r = skip_ws(sc)) < 0)
		return r;
	if (sc->pos >= sc->len)
		return fail(sc, "unexpected end of file");
	if (!member && (r = record(sc, sc->line)) < 0)
		return r;
	char c = sc->s[sc->pos];
	switch (c) {
	case '{':
		return scan_container(sc, depth, '}');
	case '[':
		return scan_container(sc, depth, ']');
	case '"':
		return scan_string(sc);
	case 't':
	case 'f':
	case 'n': {
		static const char *const lits[] = { "true", "false", "null" };
		for (int i = 0; i < 3; i++) {
			size_t l = strlen(lits[i]);
			if (sc->len - sc->pos >= l &&
			    memcmp(sc->s + sc->pos, lits[i], l) == 0) {
				sc->pos += l;
				return 0;
			}
		}
		return fail(sc, "unexpected word (strings need double quotes)");
	}
	default:
		if (c == '-' || is_digit(c))
			return scan_number(sc);
		return fail(sc, "unexpected character");
	}
}

int json_lines_scan(const char *text, size_t len, struct json_lines *jl)
{
	struct scan sc = { .s = text, .len = len, .pos = 0, .line = 1, .jl = jl };
	int r;

	memset(jl, 0, sizeof(*jl));
	if ((r = scan_value(&sc, 0, false)) < 0)
		return r;
	if ((r = skip_ws(&sc)) < 0)
		return r;
	if (sc.pos != sc.len)
		return fail(&sc, "unexpected text after the end of the document");
	return 0;
}

void json_lines_deinit(struct json_lines *jl)
{
	free(jl->lines);
	jl->lines = NULL;
	jl->n = jl->cap = 0;
}
