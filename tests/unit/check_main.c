/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Runs every unit suite; Check prints the "N%: Checks: ..." summary.
 */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_add_suite(sr, config_schema_suite());
	srunner_add_suite(sr, dns_msg_suite());
	srunner_add_suite(sr, answer_suite());
	srunner_add_suite(sr, probe_suite());
	srunner_add_suite(sr, select_suite());
	srunner_add_suite(sr, k8s_suite());
	srunner_add_suite(sr, cache_suite());
	srunner_add_suite(sr, coalesce_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
