/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Logging with stderr sent to a temporary file: level names, the
 * threshold (and log_debug() not evaluating its arguments below it), the
 * text line (UTC timestamp to the millisecond, pid, level), long lines
 * cut to one line, and the JSON format read back with cJSON: quotes,
 * backslashes and control characters escaped, one object per line even
 * when escaping has to cut a long message.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "meshdns/error.h"
#include "meshdns/log.h"
#include "suites.h"

static int saved_stderr = -1;
static FILE *tmp;
static char got[8192];

static void setup(void)
{
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	tmp = tmpfile();
	ck_assert_ptr_nonnull(tmp);
	ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_json(false);
}

static void teardown(void)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(tmp);
	log_set_level(LOG_LEVEL_INFO);
	log_set_json(false);
}

/* What was written since the last call, NUL-terminated. */
static const char *output(void)
{
	int fd = fileno(tmp);
	off_t end = lseek(fd, 0, SEEK_END);

	ck_assert_int_ge(end, 0);
	ck_assert_int_lt(end, (off_t)sizeof(got));
	ck_assert_int_eq(pread(fd, got, (size_t)end, 0), end);
	got[end] = '\0';
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	lseek(fd, 0, SEEK_SET);
	return got;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* "2026-01-31T12:34:56.789Z" within a few seconds of now. */
static void check_stamp(const char *s)
{
	struct tm tm = { 0 };
	int ms = -1, used = 0;

	ck_assert_int_eq(sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
				&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used), 7);
	ck_assert_int_eq(used, 24);
	ck_assert_int_ge(ms, 0);
	ck_assert_int_le(ms, 999);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	/* time() is the coarse clock, a tick behind the log's: not that */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	time_t t = timegm(&tm);
	ck_assert_int_le(t, now.tv_sec);
	ck_assert_int_ge(t, now.tv_sec - 5);
}

START_TEST(test_level_parse)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	static const enum log_level levels[] = { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO,
						 LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
	enum log_level l;

	for (int i = 0; i < 4; i++) {
		l = (enum log_level)-1;
		ck_assert_int_eq(log_level_parse(names[i], &l), 0);
		ck_assert_int_eq(l, levels[i]);
	}
	l = LOG_LEVEL_WARN;
	ck_assert_int_eq(log_level_parse("warning", &l), MESHDNS_EINVAL);
	ck_assert_int_eq(log_level_parse("", &l), MESHDNS_EINVAL);
	ck_assert_int_eq(log_level_parse("err", &l), MESHDNS_EINVAL);
	ck_assert_int_eq(l, LOG_LEVEL_WARN);
}
END_TEST

static int evaluated;
static int side_effect(void)
{
	return ++evaluated;
}

START_TEST(test_threshold)
{
	log_set_level(LOG_LEVEL_WARN);
	ck_assert(!log_enabled(LOG_LEVEL_INFO));
	ck_assert(log_enabled(LOG_LEVEL_WARN) && log_enabled(LOG_LEVEL_ERROR));
	log_debug("d %d", side_effect());
	log_info("i");
	ck_assert_str_eq(output(), "");
	ck_assert_int_eq(evaluated, 0);
	log_warn("w");
	log_err("e");
	const char *o = output();
	ck_assert_uint_eq(count_lines(o), 2);
	ck_assert_ptr_nonnull(strstr(o, " warn: w\n"));
	ck_assert_ptr_nonnull(strstr(o, " error: e\n"));
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("d %d", side_effect());
	ck_assert_int_eq(evaluated, 1);
	ck_assert_ptr_nonnull(strstr(output(), " debug: d 1\n"));
	/* the same threshold for JSON lines */
	log_set_json(true);
	log_set_level(LOG_LEVEL_ERROR);
	log_warn("w");
	ck_assert_str_eq(output(), "");
}
END_TEST

START_TEST(test_text_line)
{
	char tail[64];

	log_msg(LOG_LEVEL_INFO, "x=%d %s %d%%", 42, "y", 5);
	const char *o = output();
	ck_assert_uint_eq(count_lines(o), 1);
	check_stamp(o);
	snprintf(tail, sizeof(tail), " meshdns[%d] info: x=42 y 5%%\n", (int)getpid());
	ck_assert_str_eq(o + 24, tail);
}
END_TEST

START_TEST(test_text_long)
{
	char big[3000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warn("%s", big);
	const char *o = output();
	size_t n = strlen(o);
	/* one line, cut, whole up to its newline */
	ck_assert_uint_eq(count_lines(o), 1);
	ck_assert_int_eq(o[n - 1], '\n');
	ck_assert_uint_lt(n, sizeof(big));
	const char *msg = strstr(o, "warn: ") + 6;
	ck_assert_uint_gt(n - (size_t)(msg - o), 900);
	ck_assert_int_eq(strspn(msg, "x"), n - (size_t)(msg - o) - 1);
}
END_TEST

/* The one JSON line in the output, parsed; checks the fields but msg. */
static cJSON *json_line(const char *level)
{
	const char *o = output();

	ck_assert_uint_eq(count_lines(o), 1);
	ck_assert_int_eq(o[strlen(o) - 1], '\n');
	cJSON *j = cJSON_Parse(o);
	ck_assert_msg(j != NULL, "not JSON: %s", o);
	ck_assert_str_eq(cJSON_GetObjectItem(j, "level")->valuestring, level);
	ck_assert_int_eq(cJSON_GetObjectItem(j, "pid")->valueint, getpid());
	check_stamp(cJSON_GetObjectItem(j, "ts")->valuestring);
	ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "msg")));
	return j;
}

START_TEST(test_json_escaping)
{
	static const char msg[] = "say \"hi\" to C:\\dir\nnext\tline \x01\x1f end \x7f caf\xc3\xa9";

	log_set_json(true);
	log_msg(LOG_LEVEL_ERROR, "%s", msg);
	cJSON *j = json_line("error");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, msg);
	cJSON_Delete(j);
	log_info("%d%%", 5);
	j = json_line("info");
	ck_assert_str_eq(cJSON_GetObjectItem(j, "msg")->valuestring, "5%");
	cJSON_Delete(j);
}
END_TEST

/* Long messages, and ones that grow six-fold when escaped: still one
 * valid object, the message cut between escapes. */
START_TEST(test_json_long)
{
	static const char fill[] = { 'a', '"', '\x01' };
	char big[2000];

	log_set_json(true);
	for (size_t f = 0; f < sizeof(fill); f++) {
		memset(big, fill[f], sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		log_warn("%s", big);
		cJSON *j = json_line("warn");
		const char *m = cJSON_GetObjectItem(j, "msg")->valuestring;
		size_t n = strlen(m);
		ck_assert_msg(n > 200, "fill %zu: %zu chars left", f, n);
		ck_assert_uint_lt(n, sizeof(big) - 1);
		ck_assert_int_eq(memcmp(m, big, n), 0);
		cJSON_Delete(j);
	}
}
END_TEST

Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_level_parse);
	tcase_add_test(tc, test_threshold);
	tcase_add_test(tc, test_text_line);
	tcase_add_test(tc, test_text_long);
	tcase_add_test(tc, test_json_escaping);
	tcase_add_test(tc, test_json_long);
	suite_add_tcase(s, tc);
	return s;
}
