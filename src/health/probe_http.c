/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * HTTP(S) probes through libcurl (curl_ev.c). One easy handle per target,
 * kept between probes so that keep-alive connections are reused. The body
 * is read and thrown away up to a cap; the status code and the
 * X-Mesh-Weight header decide.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "probe_int.h"

#define BODY_CAP	(64u << 10)
#define WEIGHT_HDR	"x-mesh-weight:"

static size_t header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct probe_target *t = arg;
	size_t len = size * n, hl = sizeof(WEIGHT_HDR) - 1;
	uint8_t w;

	/* a new response (e.g. after 100 Continue) starts with its status line */
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0)
		t->weight_hdr = -1;
	if (len > hl && strncasecmp(buf, WEIGHT_HDR, hl) == 0)
		t->weight_hdr = probe_parse_weight(buf + hl, len - hl, &w) == 0 ? w : -2;
	return len;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct probe_target *t = arg;
	size_t len = size * n;

	t->body_bytes += len;
	if (t->body_bytes > BODY_CAP) {
		t->body_capped = true;
		return 0;	/* stop reading: enough to judge */
	}
	return len;
}

static void done_cb(CURL *easy, CURLcode res, void *arg)
{
	struct probe_target *t = arg;
	const struct svc_probe *c = probe_target_conf(t);
	long status = 0;
	enum probe_result r;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (res == CURLE_OK || (res == CURLE_WRITE_ERROR && t->body_capped))
		r = status >= c->status_min && status <= c->status_max ? PROBE_PASS
								       : PROBE_FAIL_STATUS;
	else if (res == CURLE_OPERATION_TIMEDOUT)
		r = PROBE_FAIL_TIMEOUT;
	else if (res == CURLE_COULDNT_CONNECT || res == CURLE_RECV_ERROR ||
		 res == CURLE_SEND_ERROR || res == CURLE_GOT_NOTHING)
		r = PROBE_FAIL_CONNECT;
	else
		r = PROBE_FAIL_OTHER;
	probe_done(t, r, r == PROBE_PASS ? t->weight_hdr : -1);
}

static int setup(struct probe_target *t)
{
	const struct svc_probe *c = probe_target_conf(t);
	char addr[INET6_ADDRSTRLEN], url[512], host[300];
	CURL *e = curl_easy_init();

	if (!e)
		return MESHDNS_ENOMEM;
	inet_ntop(t->family, t->addr, addr, sizeof(addr));
	snprintf(url, sizeof(url), "%s://%s%s%s:%u%s",
		 c->type == SVC_PROBE_HTTPS ? "https" : "http",
		 t->family == AF_INET6 ? "[" : "", addr, t->family == AF_INET6 ? "]" : "",
		 probe_target_port(t), c->path ? c->path : "/");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PROXY, "");		/* never via a proxy */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* Addresses are literal: a DNS cache only costs. curl keys it by
	 * host:port and prunes it by a full scan on every connect, which
	 * made 5,000 targets quadratic (perf: 60% in that scan). */
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, PACKAGE_NAME "-probe/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
	if (c->host) {
		snprintf(host, sizeof(host), "Host: %s", c->host);
		t->headers = curl_slist_append(NULL, host);
		if (!t->headers) {
			curl_easy_cleanup(e);
			return MESHDNS_ENOMEM;
		}
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	}
	t->easy = e;
	return 0;
}

static int http_start(struct probe_target *t)
{
	int r;

	if (!t->easy && (r = setup(t)) < 0)
		return r;
	t->body_bytes = 0;
	t->body_capped = false;
	t->weight_hdr = -1;
	return curl_ev_add(probe_target_curl(t), t->easy, done_cb, t);
}

static void http_cancel(struct probe_target *t)
{
	if (t->easy)
		curl_ev_remove(probe_target_curl(t), t->easy);
}

static void http_release(struct probe_target *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	t->easy = NULL;
	t->headers = NULL;
}

const struct probe_ops probe_http_ops = {
	.start = http_start,
	.cancel = http_cancel,
	.release = http_release,
};
