/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Pure parts of the informers (k8s_watch.c does their I/O): what to do
 * when a LIST or WATCH request ends, the backoff between attempts, and
 * cutting a watch stream into lines. No I/O, no globals; any thread.
 */
#ifndef MESHDNS_K8S_INFORMER_H
#define MESHDNS_K8S_INFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Where an informer stands when one of its requests ends. */
struct k8s_informer_state {
	bool watching;			/* the request was a WATCH, not a LIST page */
	bool has_continue;		/* it asked for a LIST page after the first */
};

/** What the request showed besides its HTTP status and curl result. */
enum k8s_informer_flag {
	K8S_INF_GONE = 1u << 0,		/* the watch sent an ERROR event, code 410 */
	K8S_INF_STREAM_ERROR = 1u << 1,	/* the watch sent another ERROR event */
	K8S_INF_LIVELY = 1u << 2,	/* the watch had events or lasted over 1 s */
	K8S_INF_BAD_PAGE = 1u << 3,	/* the LIST page that came with 200 is not JSON */
};

/** When the next request starts. */
enum k8s_next {
	K8S_NEXT_PAGE = 0,	/* hand the page's objects on, then at once */
	K8S_NEXT_NOW,		/* at once */
	K8S_NEXT_BACKOFF,	/* after k8s_backoff_ms(), which honours Retry-After */
};

/** What the log says about the request that ended. */
enum k8s_report {
	K8S_REPORT_NONE = 0,		/* nothing (or it was said as it came) */
	K8S_REPORT_TRANSPORT,		/* curl's error */
	K8S_REPORT_HTTP,		/* the status and the Status object's message */
	K8S_REPORT_AUTH,		/* 401/403: check the credentials and RBAC */
	K8S_REPORT_BAD_PAGE,		/* the LIST page is not JSON */
	K8S_REPORT_CONTINUE_EXPIRED,	/* 410 for a continue token: list again */
	K8S_REPORT_WATCH_504,		/* 504 for a watch: list again */
	K8S_REPORT_DROPPED,		/* the stream dropped (curl's error): resume */
};

/** The informer's next step. */
struct k8s_step {
	enum k8s_next next;
	enum k8s_report report;
	/* the next request is the first page of a full LIST; else a WATCH
	 * resumes from the last resourceVersion, and a LIST asks for the
	 * same page again (K8S_NEXT_PAGE: the page says what comes next) */
	bool relist;
	bool error;			/* count a failed request */
	bool reset_backoff;		/* it went well: the backoff starts over */
};

/**
 * Decide what an informer does after a request, as client-go's reflector
 * does: 410 Gone (status or ERROR event) lists again at once, 504 for a
 * watch lists again after a backoff, a watch that ended or dropped while
 * healthy resumes from its resourceVersion at once, an expired continue
 * token restarts the list at once, and any other failure backs off (a
 * failed page restarts the list). Pure.
 * @param http_status  0 when no response came
 * @param curl_result  a CURLcode
 * @param flags        enum k8s_informer_flag bits
 */
struct k8s_step k8s_informer_next(const struct k8s_informer_state *st, long http_status,
				  int curl_result, unsigned flags);

/**
 * Backoff before attempt @p n (0-based): min(cap, base x 2^n) with jitter
 * into its upper half, at least @p retry_after_ms. Pure.
 */
uint32_t k8s_backoff_ms(unsigned n, uint32_t retry_after_ms, uint32_t rnd);

/**
 * Split complete lines off a stream buffer: calls @p line for each
 * newline-terminated line in buf[0..*len), then moves the rest to the
 * front and updates *len. Pure.
 * @return number of lines
 */
size_t k8s_split_lines(char *buf, size_t *len,
		       void (*line)(void *arg, char *text, size_t n), void *arg);

#endif
