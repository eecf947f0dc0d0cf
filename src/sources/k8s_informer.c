/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The informer's decisions, apart from the I/O that carries them out
 * (k8s_watch.c), so that each case can be tested from a table.
 */
#include "config.h"

#include <curl/curl.h>
#include <string.h>

#include "meshdns/k8s_informer.h"

#define BACKOFF_BASE_MS	200
#define BACKOFF_CAP_MS	30000

uint32_t k8s_backoff_ms(unsigned n, uint32_t retry_after_ms, uint32_t rnd)
{
	uint64_t d = BACKOFF_BASE_MS;

	while (n-- > 0 && d < BACKOFF_CAP_MS)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	/* jitter into [d/2, d]: spreads a fleet of agents after an outage */
	d = d / 2 + rnd % (d / 2 + 1);
	return d < retry_after_ms ? retry_after_ms : (uint32_t)d;
}

size_t k8s_split_lines(char *buf, size_t *len,
		       void (*line)(void *arg, char *text, size_t n), void *arg)
{
	size_t start = 0, count = 0;

	for (size_t i = 0; i < *len; i++) {
		if (buf[i] != '\n')
			continue;
		buf[i] = '\0';
		line(arg, buf + start, i - start);
		start = i + 1;
		count++;
	}
	memmove(buf, buf + start, *len - start);
	*len -= start;
	return count;
}

/* How a failed request is told: a write error that came with a status is
 * ours (a body over its cap, a stream we abandoned), so the status says
 * more than curl would. */
static enum k8s_report failure(long status, int res)
{
	if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && status))
		return K8S_REPORT_TRANSPORT;
	return status == 401 || status == 403 ? K8S_REPORT_AUTH : K8S_REPORT_HTTP;
}

static struct k8s_step list_next(bool has_continue, long status, int res, unsigned flags)
{
	if (res == CURLE_OK && status == 200) {
		/* a page that is not JSON is asked for again */
		if (flags & K8S_INF_BAD_PAGE)
			return (struct k8s_step){ .next = K8S_NEXT_BACKOFF,
						  .report = K8S_REPORT_BAD_PAGE, .error = true };
		return (struct k8s_step){ .next = K8S_NEXT_PAGE, .reset_backoff = true };
	}
	/* an expired continue token: start the list over */
	if (status == 410 && has_continue)
		return (struct k8s_step){ .next = K8S_NEXT_NOW,
					  .report = K8S_REPORT_CONTINUE_EXPIRED, .relist = true };
	/* a failed page restarts the list */
	return (struct k8s_step){ .next = K8S_NEXT_BACKOFF, .report = failure(status, res),
				  .relist = true, .error = true };
}

/* Curl results that end a stream that was fine while it lasted. */
static bool stream_ended(int res)
{
	return res == CURLE_OK || res == CURLE_PARTIAL_FILE || res == CURLE_RECV_ERROR ||
	       res == CURLE_OPERATION_TIMEDOUT || res == CURLE_GOT_NOTHING;
}

static struct k8s_step watch_next(long status, int res, unsigned flags)
{
	bool gone = flags & K8S_INF_GONE, stream_error = flags & K8S_INF_STREAM_ERROR;

	/* 410 Gone, or 504 for a resourceVersion the server does not have
	 * yet: client-go lists again in both cases */
	if (status == 504 && !gone)
		return (struct k8s_step){ .next = K8S_NEXT_BACKOFF, .report = K8S_REPORT_WATCH_504,
					  .relist = true, .error = true };
	if (gone || status == 410)
		return (struct k8s_step){ .next = K8S_NEXT_NOW, .relist = true };
	if (status == 200 && !stream_error && stream_ended(res)) {
		/* the stream ended (timeoutSeconds) or dropped: resume from the
		 * last resourceVersion; at once if it was a healthy stream */
		enum k8s_report r = res == CURLE_OK ? K8S_REPORT_NONE : K8S_REPORT_DROPPED;

		if (flags & K8S_INF_LIVELY)
			return (struct k8s_step){ .next = K8S_NEXT_NOW, .report = r,
						  .reset_backoff = true };
		return (struct k8s_step){ .next = K8S_NEXT_BACKOFF, .report = r };
	}
	/* an ERROR event was logged as it came */
	return (struct k8s_step){ .next = K8S_NEXT_BACKOFF,
				  .report = stream_error ? K8S_REPORT_NONE : failure(status, res),
				  .error = true };
}

struct k8s_step k8s_informer_next(const struct k8s_informer_state *st, long http_status,
				  int curl_result, unsigned flags)
{
	if (st->watching)
		return watch_next(http_status, curl_result, flags);
	return list_next(st->has_continue, http_status, curl_result, flags);
}
