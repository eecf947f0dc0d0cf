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
	srunner_add_suite(sr, k8s_decode_suite());
	srunner_add_suite(sr, k8s_informer_suite());
	srunner_add_suite(sr, k8s_creds_suite());
	srunner_add_suite(sr, cache_suite());
	srunner_add_suite(sr, coalesce_suite());
	srunner_add_suite(sr, dns_server_suite());
	srunner_add_suite(sr, params_suite());
	srunner_add_suite(sr, strmap_suite());
	srunner_add_suite(sr, service_suite());
	srunner_add_suite(sr, rrl_suite());
	srunner_add_suite(sr, json_lines_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, snapshot_suite());
	srunner_add_suite(sr, registry_suite());
	srunner_add_suite(sr, forward_suite());
	srunner_add_suite(sr, curl_ev_suite());
	srunner_add_suite(sr, error_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
