/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The informer's pure parts: its next step after every kind of ending of
 * a LIST page or a WATCH (one table row per case), the watch stream line
 * splitter and the backoff.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "meshdns/k8s_informer.h"
#include "suites.h"

/* short names, so that a row of the table fits a line */
#define LIST	false
#define WATCH	true
#define PAGE	K8S_NEXT_PAGE
#define NOW	K8S_NEXT_NOW
#define BACKOFF	K8S_NEXT_BACKOFF
#define R_NONE	K8S_REPORT_NONE
#define R_CURL	K8S_REPORT_TRANSPORT
#define R_HTTP	K8S_REPORT_HTTP
#define R_AUTH	K8S_REPORT_AUTH
#define R_BAD	K8S_REPORT_BAD_PAGE
#define R_CONT	K8S_REPORT_CONTINUE_EXPIRED
#define R_504	K8S_REPORT_WATCH_504
#define R_DROP	K8S_REPORT_DROPPED
#define GONE	K8S_INF_GONE
#define SERR	K8S_INF_STREAM_ERROR
#define LIVE	K8S_INF_LIVELY
#define BADP	K8S_INF_BAD_PAGE

static const struct step_row {
	const char *what;
	bool watching, has_continue;
	long status;
	int res;
	unsigned flags;
	enum k8s_next next;
	enum k8s_report report;
	bool relist, error, reset;
} steps[] = {
	/* LIST pages */
	{ "first page", LIST, false, 200, CURLE_OK, 0, PAGE, R_NONE, false, false, true },
	{ "next page", LIST, true, 200, CURLE_OK, 0, PAGE, R_NONE, false, false, true },
	{ "watch flags mean nothing to a list", LIST, false, 200, CURLE_OK, GONE | SERR | LIVE,
	  PAGE, R_NONE, false, false, true },
	{ "page not JSON: the same page again", LIST, true, 200, CURLE_OK, BADP,
	  BACKOFF, R_BAD, false, true, false },
	{ "first page not JSON", LIST, false, 200, CURLE_OK, BADP,
	  BACKOFF, R_BAD, false, true, false },
	{ "continue token expired", LIST, true, 410, CURLE_OK, 0,
	  NOW, R_CONT, true, false, false },
	{ "continue token expired, body cut", LIST, true, 410, CURLE_PARTIAL_FILE, 0,
	  NOW, R_CONT, true, false, false },
	{ "410 without a continue token", LIST, false, 410, CURLE_OK, 0,
	  BACKOFF, R_HTTP, true, true, false },
	{ "list 401", LIST, false, 401, CURLE_OK, 0, BACKOFF, R_AUTH, true, true, false },
	{ "list 403 while paging", LIST, true, 403, CURLE_OK, 0,
	  BACKOFF, R_AUTH, true, true, false },
	{ "list 401, body over its cap", LIST, false, 401, CURLE_WRITE_ERROR, 0,
	  BACKOFF, R_AUTH, true, true, false },
	{ "list 429 (Retry-After is the backoff's)", LIST, true, 429, CURLE_OK, 0,
	  BACKOFF, R_HTTP, true, true, false },
	{ "list 500", LIST, false, 500, CURLE_OK, 0, BACKOFF, R_HTTP, true, true, false },
	{ "list 504 is no watch 504", LIST, false, 504, CURLE_OK, 0,
	  BACKOFF, R_HTTP, true, true, false },
	{ "page over its cap", LIST, false, 200, CURLE_WRITE_ERROR, 0,
	  BACKOFF, R_HTTP, true, true, false },
	{ "page cut short", LIST, true, 200, CURLE_PARTIAL_FILE, 0,
	  BACKOFF, R_CURL, true, true, false },
	{ "list: no server", LIST, false, 0, CURLE_COULDNT_CONNECT, 0,
	  BACKOFF, R_CURL, true, true, false },
	{ "list: timed out", LIST, true, 0, CURLE_OPERATION_TIMEDOUT, 0,
	  BACKOFF, R_CURL, true, true, false },
	{ "list: write error without a status", LIST, false, 0, CURLE_WRITE_ERROR, 0,
	  BACKOFF, R_CURL, true, true, false },
	{ "list: TLS", LIST, false, 0, CURLE_PEER_FAILED_VERIFICATION, 0,
	  BACKOFF, R_CURL, true, true, false },

	/* WATCHes */
	{ "watch 504", WATCH, false, 504, CURLE_OK, 0, BACKOFF, R_504, true, true, false },
	{ "watch 504 after a 410 event", WATCH, false, 504, CURLE_OK, GONE,
	  NOW, R_NONE, true, false, false },
	{ "watch 410", WATCH, false, 410, CURLE_OK, 0, NOW, R_NONE, true, false, false },
	{ "410 event (stream abandoned)", WATCH, false, 200, CURLE_WRITE_ERROR, GONE,
	  NOW, R_NONE, true, false, false },
	{ "410 event, then an error event", WATCH, false, 200, CURLE_WRITE_ERROR,
	  GONE | SERR, NOW, R_NONE, true, false, false },
	{ "timeoutSeconds, healthy", WATCH, false, 200, CURLE_OK, LIVE,
	  NOW, R_NONE, false, false, true },
	{ "ended at once, no events", WATCH, false, 200, CURLE_OK, 0,
	  BACKOFF, R_NONE, false, false, false },
	{ "dropped, healthy", WATCH, false, 200, CURLE_PARTIAL_FILE, LIVE,
	  NOW, R_DROP, false, false, true },
	{ "dropped at once", WATCH, false, 200, CURLE_PARTIAL_FILE, 0,
	  BACKOFF, R_DROP, false, false, false },
	{ "reset, healthy", WATCH, false, 200, CURLE_RECV_ERROR, LIVE,
	  NOW, R_DROP, false, false, true },
	{ "reset at once", WATCH, false, 200, CURLE_RECV_ERROR, 0,
	  BACKOFF, R_DROP, false, false, false },
	{ "stalled (low speed)", WATCH, false, 200, CURLE_OPERATION_TIMEDOUT, LIVE,
	  NOW, R_DROP, false, false, true },
	{ "empty reply, healthy", WATCH, false, 200, CURLE_GOT_NOTHING, LIVE,
	  NOW, R_DROP, false, false, true },
	{ "error event (stream abandoned)", WATCH, false, 200, CURLE_WRITE_ERROR, SERR,
	  BACKOFF, R_NONE, false, true, false },
	{ "error event, healthy otherwise", WATCH, false, 200, CURLE_OK, SERR | LIVE,
	  BACKOFF, R_NONE, false, true, false },
	{ "event over its cap", WATCH, false, 200, CURLE_WRITE_ERROR, LIVE,
	  BACKOFF, R_HTTP, false, true, false },
	{ "watch 200, TLS cut", WATCH, false, 200, CURLE_SSL_CONNECT_ERROR, LIVE,
	  BACKOFF, R_CURL, false, true, false },
	{ "watch 401", WATCH, false, 401, CURLE_OK, 0, BACKOFF, R_AUTH, false, true, false },
	{ "watch 403", WATCH, false, 403, CURLE_OK, LIVE, BACKOFF, R_AUTH, false, true, false },
	{ "watch 429", WATCH, false, 429, CURLE_OK, 0, BACKOFF, R_HTTP, false, true, false },
	{ "watch 500", WATCH, false, 500, CURLE_OK, 0, BACKOFF, R_HTTP, false, true, false },
	{ "watch 500 with an error event flag", WATCH, false, 500, CURLE_OK, SERR,
	  BACKOFF, R_NONE, false, true, false },
	{ "watch: no server", WATCH, false, 0, CURLE_COULDNT_CONNECT, 0,
	  BACKOFF, R_CURL, false, true, false },
	{ "watch: connect timed out", WATCH, false, 0, CURLE_OPERATION_TIMEDOUT, LIVE,
	  BACKOFF, R_CURL, false, true, false },
	{ "watch: empty reply, no status", WATCH, false, 0, CURLE_GOT_NOTHING, LIVE,
	  BACKOFF, R_CURL, false, true, false },
};

START_TEST(test_next_step)
{
	const struct step_row *r = &steps[_i];
	const struct k8s_informer_state st = { r->watching, r->has_continue };
	struct k8s_step s = k8s_informer_next(&st, r->status, r->res, r->flags);

	ck_assert_msg(s.next == r->next, "%s: next %d, want %d", r->what, s.next, r->next);
	ck_assert_msg(s.report == r->report, "%s: report %d, want %d", r->what, s.report,
		      r->report);
	ck_assert_msg(s.relist == r->relist, "%s: relist %d", r->what, s.relist);
	ck_assert_msg(s.error == r->error, "%s: error %d", r->what, s.error);
	ck_assert_msg(s.reset_backoff == r->reset, "%s: reset_backoff %d", r->what,
		      s.reset_backoff);
}
END_TEST

static char lines_seen[8][64];
static size_t n_lines_seen;

static void on_line(void *arg, char *text, size_t n)
{
	ck_assert_uint_lt(n_lines_seen, 8);
	ck_assert_uint_eq(strlen(text), n);
	snprintf(lines_seen[n_lines_seen++], 64, "%s", text);
}

START_TEST(test_split_lines)
{
	/* events split over chunks, several per chunk */
	static const char *const chunks[] = { "{\"a\":", "1}\n{\"b\":2}\n{\"c\"", ":3}\n", "\n" };
	char buf[256];
	size_t len = 0;

	n_lines_seen = 0;
	for (size_t i = 0; i < 4; i++) {
		memcpy(buf + len, chunks[i], strlen(chunks[i]));
		len += strlen(chunks[i]);
		k8s_split_lines(buf, &len, on_line, NULL);
	}
	ck_assert_uint_eq(n_lines_seen, 4);
	ck_assert_str_eq(lines_seen[0], "{\"a\":1}");
	ck_assert_str_eq(lines_seen[1], "{\"b\":2}");
	ck_assert_str_eq(lines_seen[2], "{\"c\":3}");
	ck_assert_str_eq(lines_seen[3], "");
	ck_assert_uint_eq(len, 0);
	/* an unfinished line stays */
	memcpy(buf, "{\"d\"", 4);
	len = 4;
	ck_assert_uint_eq(k8s_split_lines(buf, &len, on_line, NULL), 0);
	ck_assert_uint_eq(len, 4);
}
END_TEST

START_TEST(test_backoff)
{
	/* grows from 200 ms, capped at 30 s, jitter within [d/2, d] */
	for (uint32_t r = 0; r < 50000; r += 97) {
		ck_assert_uint_ge(k8s_backoff_ms(0, 0, r), 100);
		ck_assert_uint_le(k8s_backoff_ms(0, 0, r), 200);
		ck_assert_uint_ge(k8s_backoff_ms(3, 0, r), 800);
		ck_assert_uint_le(k8s_backoff_ms(3, 0, r), 1600);
		ck_assert_uint_ge(k8s_backoff_ms(40, 0, r), 15000);
		ck_assert_uint_le(k8s_backoff_ms(40, 0, r), 30000);
	}
	/* Retry-After wins when longer */
	ck_assert_uint_eq(k8s_backoff_ms(0, 2000, 5), 2000);
	ck_assert_uint_ge(k8s_backoff_ms(10, 2000, 5), 15000);
}
END_TEST

Suite *k8s_informer_suite(void)
{
	Suite *s = suite_create("k8s_informer");
	TCase *tc = tcase_create("informer");

	tcase_add_loop_test(tc, test_next_step, 0, sizeof(steps) / sizeof(steps[0]));
	tcase_add_test(tc, test_split_lines);
	tcase_add_test(tc, test_backoff);
	suite_add_tcase(s, tc);
	return s;
}
