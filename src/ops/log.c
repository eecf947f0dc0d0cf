/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Level-filtered logging to stderr with an ISO-8601 UTC timestamp.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "meshdns/error.h"
#include "meshdns/log.h"

enum log_level log_threshold = LOG_LEVEL_INFO;
static bool log_json;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_level_parse(const char *name, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return MESHDNS_EOK;
		}
	}
	return MESHDNS_EINVAL;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

void log_set_json(bool on)
{
	log_json = on;
}

/* JSON string escaping of @p in into out (always terminated). */
static size_t json_escape(char *out, size_t cap, const char *in)
{
	size_t n = 0;

	for (; *in && n + 7 < cap; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return n;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	if (level < log_threshold)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (log_json) {
		/* sized so the line always fits: no cut inside an escape */
		char msg[800], esc[1600], stamp[32], jline[1800];
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		json_escape(esc, sizeof(esc), msg);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		r = snprintf(jline, sizeof(jline),
			     "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%d,\"msg\":\"%s\"}\n",
			     stamp, ts.tv_nsec / 1000000L, level_names[level], (int)getpid(), esc);
		if (r > 0 && (size_t)r < sizeof(jline) && write(STDERR_FILENO, jline, (size_t)r) < 0)
			return;
		return;
	}
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ meshdns[%d] %s: ",
		     ts.tv_nsec / 1000000L, (int)getpid(), level_names[level]);
	if (r > 0)
		n += (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n - 1 ? (size_t)r : sizeof(line) - n - 2;
	line[n++] = '\n';
	/* One write per line so that lines from threads never interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
