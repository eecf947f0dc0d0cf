/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The string map: keys copied, values the caller's, replacement, removal,
 * growth past the initial table with every key still found, and
 * strmap_foreach() visiting each entry once, with the deletion of the
 * entry it is given allowed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshdns/strmap.h"
#include "suites.h"

#define MANY 5000

static struct strmap *m;
/* values to point at: their addresses identify them */
static int vals[MANY];

static void setup(void)
{
	m = strmap_create();
	ck_assert_ptr_nonnull(m);
}

static void teardown(void)
{
	strmap_delete(m);
	m = NULL;
}

static void put(const char *key, void *value)
{
	ck_assert_int_eq(strmap_put(m, key, value), 0);
}

START_TEST(test_empty)
{
	ck_assert_uint_eq(strmap_count(m), 0);
	ck_assert_ptr_null(strmap_get(m, "a"));
	ck_assert_ptr_null(strmap_get(m, ""));
	ck_assert_ptr_null(strmap_del(m, "a"));
	ck_assert_uint_eq(strmap_count(m), 0);
	strmap_delete(NULL);
}
END_TEST

START_TEST(test_put_get_replace)
{
	put("web", &vals[1]);
	put("we", &vals[2]);
	put("", &vals[3]);
	ck_assert_uint_eq(strmap_count(m), 3);
	/* prefixes and the empty key are keys of their own */
	ck_assert_ptr_eq(strmap_get(m, "web"), &vals[1]);
	ck_assert_ptr_eq(strmap_get(m, "we"), &vals[2]);
	ck_assert_ptr_eq(strmap_get(m, ""), &vals[3]);
	ck_assert_ptr_null(strmap_get(m, "w"));
	ck_assert_ptr_null(strmap_get(m, "webb"));
	ck_assert_ptr_null(strmap_get(m, "Web"));
	/* replacing keeps the count */
	put("web", &vals[4]);
	ck_assert_uint_eq(strmap_count(m), 3);
	ck_assert_ptr_eq(strmap_get(m, "web"), &vals[4]);
}
END_TEST

START_TEST(test_key_copied)
{
	char key[16] = "default/web";

	put(key, &vals[0]);
	/* the caller's buffer changes and goes: the map still has the key */
	memset(key, 'x', sizeof(key) - 1);
	ck_assert_ptr_eq(strmap_get(m, "default/web"), &vals[0]);
	ck_assert_ptr_null(strmap_get(m, key));
}
END_TEST

START_TEST(test_del)
{
	put("a", &vals[0]);
	put("b", &vals[1]);
	ck_assert_ptr_eq(strmap_del(m, "a"), &vals[0]);
	ck_assert_uint_eq(strmap_count(m), 1);
	ck_assert_ptr_null(strmap_get(m, "a"));
	ck_assert_ptr_null(strmap_del(m, "a"));
	ck_assert_ptr_eq(strmap_get(m, "b"), &vals[1]);
	/* a removed key can come back */
	put("a", &vals[2]);
	ck_assert_ptr_eq(strmap_get(m, "a"), &vals[2]);
	ck_assert_uint_eq(strmap_count(m), 2);
}
END_TEST

/* Many keys: the table grows several times, nothing is lost on the way. */
START_TEST(test_growth)
{
	char key[32];

	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof(key), "svc-%d", i);
		put(key, &vals[i]);
		ck_assert_uint_eq(strmap_count(m), (size_t)i + 1);
	}
	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof(key), "svc-%d", i);
		ck_assert_ptr_eq(strmap_get(m, key), &vals[i]);
	}
	/* remove the even ones: the odd ones stay */
	for (int i = 0; i < MANY; i += 2) {
		snprintf(key, sizeof(key), "svc-%d", i);
		ck_assert_ptr_eq(strmap_del(m, key), &vals[i]);
	}
	ck_assert_uint_eq(strmap_count(m), MANY / 2);
	for (int i = 0; i < MANY; i++) {
		snprintf(key, sizeof(key), "svc-%d", i);
		ck_assert_ptr_eq(strmap_get(m, key), i % 2 ? &vals[i] : NULL);
	}
}
END_TEST

static void count_visit(const char *key, void *value, void *arg)
{
	int *seen = arg;
	int i = (int)((int *)value - vals);

	ck_assert_int_ge(i, 0);
	ck_assert_int_lt(i, MANY);
	/* the key given is the one the value was stored under */
	char want[32];
	snprintf(want, sizeof(want), "k%d", i);
	ck_assert_str_eq(key, want);
	seen[i]++;
}

static void del_visit(const char *key, void *value, void *arg)
{
	ck_assert_ptr_eq(strmap_del(m, key), value);
	(*(int *)arg)++;
}

START_TEST(test_foreach)
{
	static int seen[MANY];
	char key[32];
	int n = 0;

	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(key, &vals[i]);
	}
	strmap_foreach(m, count_visit, seen);
	for (int i = 0; i < MANY; i++)
		ck_assert_int_eq(seen[i], i < 300 ? 1 : 0);
	/* deleting the entry being visited, every time */
	strmap_foreach(m, del_visit, &n);
	ck_assert_int_eq(n, 300);
	ck_assert_uint_eq(strmap_count(m), 0);
	ck_assert_ptr_null(strmap_get(m, "k7"));
	/* an empty map: no call */
	strmap_foreach(m, count_visit, seen);
	ck_assert_int_eq(seen[0], 1);
}
END_TEST

Suite *strmap_suite(void)
{
	Suite *s = suite_create("strmap");
	TCase *tc = tcase_create("strmap");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_put_get_replace);
	tcase_add_test(tc, test_key_copied);
	tcase_add_test(tc, test_del);
	tcase_add_test(tc, test_growth);
	tcase_add_test(tc, test_foreach);
	suite_add_tcase(s, tc);
	return s;
}
