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
Suite *k8s_suite(void);
Suite *cache_suite(void);
Suite *coalesce_suite(void);

#endif
