/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * meshdns_strerror(): a text for every code, the errno-based ones as the
 * C library says them, and never NULL.
 */
#include <string.h>

#include "meshdns/error.h"
#include "suites.h"

/* Its own codes: distinct texts that say what the header's comments say. */
START_TEST(test_own_codes)
{
	static const int codes[] = { MESHDNS_EOK, MESHDNS_EMALF, MESHDNS_ECONFIG,
				     MESHDNS_ESPACE };
	static const char *const words[] = { "ok", "malformed", "configuration", "buffer" };

	for (size_t i = 0; i < 4; i++) {
		const char *t = meshdns_strerror(codes[i]);
		ck_assert_msg(strstr(t, words[i]), "%d: \"%s\"", codes[i], t);
		ck_assert_str_ne(t, "unknown error");
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(t, meshdns_strerror(codes[j]));
	}
}
END_TEST

START_TEST(test_errno_codes)
{
	static const int codes[] = { MESHDNS_ENOMEM, MESHDNS_EINVAL, MESHDNS_ENOENT,
				     MESHDNS_EEXIST, MESHDNS_ERANGE };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		ck_assert_str_eq(meshdns_strerror(codes[i]), strerror(-codes[i]));
	/* the codes are distinct */
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		for (size_t j = i + 1; j < sizeof(codes) / sizeof(codes[0]); j++)
			ck_assert_int_ne(codes[i], codes[j]);
}
END_TEST

START_TEST(test_unknown)
{
	/* not a meshdns code: positive, or past the errno range */
	static const int codes[] = { 1, 42, -1002, -5000 };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *t = meshdns_strerror(codes[i]);
		ck_assert_ptr_nonnull(t);
		ck_assert_str_eq(t, "unknown error");
	}
}
END_TEST

Suite *error_suite(void)
{
	Suite *s = suite_create("error");
	TCase *tc = tcase_create("error");

	tcase_add_test(tc, test_own_codes);
	tcase_add_test(tc, test_errno_codes);
	tcase_add_test(tc, test_unknown);
	suite_add_tcase(s, tc);
	return s;
}
