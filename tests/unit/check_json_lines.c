/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The line-aware JSON scanner against cJSON: on a document whose items
 * say which line they are on, the n-th item of cJSON's pre-order walk
 * (after cJSON_Minify) is on line lines[n], with comments, CRLF and
 * members whose value is on a later line than their key. Then syntax
 * errors, each with its line and what was wrong, and the depth bound.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/sources/json_lines.h"
#include "meshdns/error.h"
#include "suites.h"

/*
 * Every member's key is "l<N>" with N its line; an element's value is N
 * or "l<N>"; an element that is a container starts on its first child's
 * line.
 */
static const char doc[] =
	"{\"l1\": {\n"
	"  // a comment with \"quotes\", { and [\n"
	"  \"l3\": [3,\n"
	"    4, /* a block\n"
	"  comment over lines */ 5,\n"
	"    \"l6\", {\"l6\": true,\n"
	"      \"l7\": null},\n"
	"    [8, \"l8\"]\n"
	"  ],\n"
	"  \"l10\": \"a // not a comment, \\\"l99\\\" \\\\\",\n"
	"  \"l11\":\n"
	"     \"the value on the next line\",\n"
	"  \"l13\": {}, \"l13x\": [],\n"
	"  \"l14\": -1.5e+3, \"l14y\": false\n"
	"}}\n";

static int expected_line(const cJSON *it)
{
	const char *s = it->string ? it->string : cJSON_IsString(it) ? it->valuestring : NULL;
	int n = -1;

	if (s)
		ck_assert_int_eq(sscanf(s, "l%d", &n), 1);
	else if (cJSON_IsNumber(it))
		n = it->valueint;
	else if (it->child)
		n = expected_line(it->child);
	ck_assert_int_gt(n, 0);
	return n;
}

static void walk(const cJSON *it, const struct json_lines *jl, size_t *k)
{
	ck_assert_uint_lt(*k, jl->n);
	ck_assert_msg(jl->lines[*k] == expected_line(it), "item %zu: line %d, expected %d",
		      *k, jl->lines[*k], expected_line(it));
	(*k)++;
	for (const cJSON *c = it->child; c; c = c->next)
		walk(c, jl, k);
}

/* Scan @p text and compare every line with cJSON's walk of it. */
static void against_cjson(const char *text)
{
	struct json_lines jl;
	char *min = strdup(text);
	size_t k = 0;

	ck_assert_int_eq(json_lines_scan(text, strlen(text), &jl), 0);
	cJSON_Minify(min);
	cJSON *root = cJSON_Parse(min);
	ck_assert_ptr_nonnull(root);
	walk(root, &jl, &k);
	ck_assert_uint_eq(k, jl.n);
	cJSON_Delete(root);
	free(min);
	json_lines_deinit(&jl);
	ck_assert_ptr_null(jl.lines);
	ck_assert_uint_eq(jl.n, 0);
}

START_TEST(test_lines)
{
	against_cjson(doc);
}
END_TEST

START_TEST(test_crlf)
{
	char crlf[2 * sizeof(doc)];
	size_t o = 0;

	for (const char *p = doc; *p; p++) {
		if (*p == '\n')
			crlf[o++] = '\r';
		crlf[o++] = *p;
	}
	crlf[o] = '\0';
	against_cjson(crlf);
}
END_TEST

START_TEST(test_scalars_and_leading_comments)
{
	struct json_lines jl;
	static const char text[] = "// one\n/* two\n three */\n  7 // after\n";

	ck_assert_int_eq(json_lines_scan(text, strlen(text), &jl), 0);
	ck_assert_uint_eq(jl.n, 1);
	ck_assert_int_eq(jl.lines[0], 4);
	json_lines_deinit(&jl);
	/* the length is what counts, not a terminator */
	ck_assert_int_eq(json_lines_scan("[1] garbage", 3, &jl), 0);
	ck_assert_uint_eq(jl.n, 2);
	json_lines_deinit(&jl);
}
END_TEST

START_TEST(test_valid_tokens)
{
	static const char *const ok[] = {
		"[0, -0, 12.5, -3e7, 4E+2, 5e-1]",
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uABCD\"",
		"\"caf\xc3\xa9\"",
		"[true, false, null]",
		"{\"a\": {\"b\": [[], {}]}}",
	};
	struct json_lines jl;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(json_lines_scan(ok[i], strlen(ok[i]), &jl) == 0, "%s: %s",
			      ok[i], jl.err);
		json_lines_deinit(&jl);
	}
}
END_TEST

struct bad {
	const char *text;
	int line;
	const char *what;	/* a part of the message */
};

START_TEST(test_errors)
{
	static const struct bad bad[] = {
		{ "", 1, "end of file" },
		{ "\n\n  ", 3, "end of file" },
		{ "{\n\"a\": 1,\n}", 3, "trailing comma" },
		{ "[1,\n2\n", 3, "missing ']'" },
		{ "{\"a\": [1]\n", 2, "missing '}'" },
		{ "{\n  a: 1}", 2, "quoted key" },
		{ "{\"a\" 1}", 1, "':'" },
		{ "[1 2]", 1, "',' or ']'" },
		{ "{\"a\": 1 \"b\": 2}", 1, "',' or '}'" },
		{ "\"abc", 1, "unterminated string" },
		{ "[\n\"a\nb\"]", 2, "newline inside a string" },
		{ "\"\\x\"", 1, "bad escape" },
		{ "\"\\u12g4\"", 1, "\\u escape" },
		{ "[1.]", 1, "bad number" },
		{ "[-]", 1, "bad number" },
		{ "[1e]", 1, "bad number" },
		{ "[1e+]", 1, "bad number" },
		{ "[\n\ntru]", 3, "double quotes" },
		{ "{\"a\":\n\n @}", 3, "unexpected character" },
		{ "{}\n\n{}", 3, "after the end" },
		{ "\n\n/* open\n\n comment", 3, "unterminated /* comment" },
	};
	struct json_lines jl;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct bad *b = &bad[i];
		int r = json_lines_scan(b->text, strlen(b->text), &jl);
		ck_assert_msg(r == MESHDNS_EMALF, "\"%s\" accepted", b->text);
		ck_assert_msg(jl.err_line == b->line, "\"%s\": line %d, expected %d",
			      b->text, jl.err_line, b->line);
		ck_assert_msg(strstr(jl.err, b->what), "\"%s\": \"%s\" does not say \"%s\"",
			      b->text, jl.err, b->what);
		json_lines_deinit(&jl);
	}
}
END_TEST

/* Deep nesting is refused with a message, not a blown stack. */
START_TEST(test_depth)
{
	enum { DEEP = 100000 };
	char *text = malloc(2 * DEEP + 1);
	struct json_lines jl;

	ck_assert_ptr_nonnull(text);
	memset(text, '[', DEEP);
	memset(text + DEEP, ']', DEEP);
	text[2 * DEEP] = '\0';
	ck_assert_int_eq(json_lines_scan(text, 2 * DEEP, &jl), MESHDNS_EMALF);
	ck_assert_ptr_nonnull(strstr(jl.err, "deep"));
	json_lines_deinit(&jl);
	/* a config's depth is fine */
	ck_assert_int_eq(json_lines_scan(text + DEEP - 32, 64, &jl), 0);
	ck_assert_uint_eq(jl.n, 32);
	json_lines_deinit(&jl);
	free(text);
}
END_TEST

Suite *json_lines_suite(void)
{
	Suite *s = suite_create("json_lines");
	TCase *tc = tcase_create("json_lines");

	tcase_add_test(tc, test_lines);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_scalars_and_leading_comments);
	tcase_add_test(tc, test_valid_tokens);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_depth);
	suite_add_tcase(s, tc);
	return s;
}
