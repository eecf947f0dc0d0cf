/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * One Check suite per module; check_main.c runs them all.
 */
#ifndef MESHDNS_TEST_SUITES_H
#define MESHDNS_TEST_SUITES_H

#include <check.h>

Suite *config_suite(void);
Suite *config_schema_suite(void);
Suite *dns_msg_suite(void);
Suite *answer_suite(void);
Suite *probe_suite(void);
Suite *select_suite(void);
Suite *k8s_decode_suite(void);
Suite *k8s_informer_suite(void);
Suite *k8s_creds_suite(void);
Suite *cache_suite(void);
Suite *coalesce_suite(void);
Suite *dns_server_suite(void);
Suite *params_suite(void);
Suite *strmap_suite(void);
Suite *service_suite(void);
Suite *rrl_suite(void);
Suite *json_lines_suite(void);
Suite *log_suite(void);
Suite *snapshot_suite(void);
Suite *registry_suite(void);
Suite *forward_suite(void);
Suite *curl_ev_suite(void);
Suite *error_suite(void);

#endif
