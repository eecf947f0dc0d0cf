/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The curl/libevent glue against a small HTTP server on the same loop
 * (libevent's evhttp on 127.0.0.1, a port the kernel chose): a transfer's
 * callback runs once with curl's result, transfers run side by side, curl's
 * timeouts fire through the loop, a refused connection is reported, a
 * removed transfer never calls back, a callback may free its handle and
 * start the next, kept-alive connections are reused, deleting the glue
 * mid-transfer frees what it holds, and a handle added twice is refused
 * without harm.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "meshdns/curl_ev.h"
#include "suites.h"

#define SLOW_MS 2000	/* only reached when a test fails */

struct xfer {
	CURL *easy;
	char body[64];
	size_t body_len;
	unsigned done;		/* callbacks */
	CURLcode result;
	long status;
	long connects;		/* new connections it made */
};

static struct event_base *base;
static struct evhttp *http;
static uint16_t port;
static struct curl_ev *ce;
static unsigned requests, finished;

static void ok_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	requests++;
	evbuffer_add_printf(b, "hello");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* Never answers: the connection's end frees the request. */
static void slow_cb(struct evhttp_request *req, void *arg)
{
	requests++;
}

static void setup(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	base = event_base_new();
	http = evhttp_new(base);
	ck_assert_ptr_nonnull(http);
	evhttp_set_cb(http, "/ok", ok_cb, NULL);
	evhttp_set_cb(http, "/slow", slow_cb, NULL);
	struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	ck_assert_ptr_nonnull(bs);
	ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
				     &len), 0);
	port = ntohs(sin.sin_port);
	ce = curl_ev_create(base, 4);
	ck_assert_ptr_nonnull(ce);
	requests = finished = 0;
}

static void teardown(void)
{
	curl_ev_delete(ce);
	ce = NULL;
	evhttp_free(http);
	event_base_free(base);
}

static void run_until(const unsigned *count, unsigned want, unsigned max_ms)
{
	th_run_until(base, count, want, max_ms);
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = size * n;

	if (len > sizeof(x->body) - 1 - x->body_len)
		len = sizeof(x->body) - 1 - x->body_len;
	memcpy(x->body + x->body_len, p, len);
	x->body_len += len;
	x->body[x->body_len] = '\0';
	return size * n;
}

static void done_cb(CURL *easy, CURLcode result, void *arg)
{
	struct xfer *x = arg;

	ck_assert_ptr_eq(easy, x->easy);
	x->done++;
	x->result = result;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->status);
	curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &x->connects);
	finished++;
}

static void prepare(struct xfer *x, const char *path, uint16_t to_port, long timeout_ms)
{
	char url[128];

	memset(x, 0, sizeof(*x));
	x->easy = curl_easy_init();
	ck_assert_ptr_nonnull(x->easy);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", to_port, path);
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
}

/* Start @p x with done_cb. */
static void start(struct xfer *x, const char *path, long timeout_ms)
{
	prepare(x, path, port, timeout_ms);
	ck_assert_int_eq(curl_ev_add(ce, x->easy, done_cb, x), 0);
}

START_TEST(test_get)
{
	struct xfer x;

	start(&x, "/ok", SLOW_MS);
	ck_assert_uint_eq(x.done, 0);	/* nothing before the loop runs */
	run_until(&finished, 1, SLOW_MS);
	ck_assert_uint_eq(x.done, 1);
	ck_assert_int_eq(x.result, CURLE_OK);
	ck_assert_int_eq(x.status, 200);
	ck_assert_str_eq(x.body, "hello");
	ck_assert_uint_eq(requests, 1);
	/* the handle is the caller's again: it can go */
	curl_easy_cleanup(x.easy);
}
END_TEST

START_TEST(test_parallel)
{
	struct xfer x[3];

	for (int i = 0; i < 3; i++)
		start(&x[i], "/ok", SLOW_MS);
	run_until(&finished, 3, SLOW_MS);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(x[i].done, 1);
		ck_assert_int_eq(x[i].result, CURLE_OK);
		ck_assert_str_eq(x[i].body, "hello");
		curl_easy_cleanup(x[i].easy);
	}
	ck_assert_uint_eq(requests, 3);
}
END_TEST

START_TEST(test_timeout)
{
	struct xfer x;

	start(&x, "/slow", 50);
	run_until(&finished, 1, SLOW_MS);
	ck_assert_uint_eq(x.done, 1);
	ck_assert_int_eq(x.result, CURLE_OPERATION_TIMEDOUT);
	ck_assert_uint_eq(requests, 1);
	curl_easy_cleanup(x.easy);
}
END_TEST

START_TEST(test_refused)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct xfer x;

	/* a port just given up: nothing listens there */
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	prepare(&x, "/ok", ntohs(sin.sin_port), SLOW_MS);
	ck_assert_int_eq(curl_ev_add(ce, x.easy, done_cb, &x), 0);
	run_until(&finished, 1, SLOW_MS);
	ck_assert_uint_eq(x.done, 1);
	ck_assert_int_eq(x.result, CURLE_COULDNT_CONNECT);
	curl_easy_cleanup(x.easy);
}
END_TEST

START_TEST(test_remove)
{
	struct xfer a, b, c, d;

	/* removed before it ran, and once the server has it */
	start(&a, "/slow", SLOW_MS);
	curl_ev_remove(ce, a.easy);
	start(&b, "/slow", SLOW_MS);
	start(&c, "/ok", SLOW_MS);
	run_until(&finished, 1, SLOW_MS);	/* c */
	ck_assert_uint_eq(c.done, 1);
	curl_ev_remove(ce, b.easy);
	/* a handle it never had, and one removed twice: nothing happens */
	prepare(&d, "/ok", port, SLOW_MS);
	curl_ev_remove(ce, d.easy);
	curl_ev_remove(ce, b.easy);
	ck_assert_int_eq(curl_ev_add(ce, d.easy, done_cb, &d), 0);
	run_until(&finished, 2, SLOW_MS);	/* d */
	ck_assert_uint_eq(d.done, 1);
	ck_assert_uint_eq(a.done + b.done, 0);
	ck_assert_uint_eq(finished, 2);
	curl_easy_cleanup(a.easy);
	curl_easy_cleanup(b.easy);
	curl_easy_cleanup(c.easy);
	curl_easy_cleanup(d.easy);
}
END_TEST

/* A callback that frees its handle and starts the next transfer. */
static struct xfer chain[3];
static unsigned chained;

static void chain_cb(CURL *easy, CURLcode result, void *arg)
{
	struct xfer *x = arg;

	ck_assert_int_eq(result, CURLE_OK);
	x->done++;
	curl_easy_cleanup(easy);
	finished++;
	if (++chained < 3) {
		prepare(&chain[chained], "/ok", port, SLOW_MS);
		ck_assert_int_eq(curl_ev_add(ce, chain[chained].easy, chain_cb,
					     &chain[chained]), 0);
	}
}

START_TEST(test_chain)
{
	chained = 0;
	prepare(&chain[0], "/ok", port, SLOW_MS);
	ck_assert_int_eq(curl_ev_add(ce, chain[0].easy, chain_cb, &chain[0]), 0);
	run_until(&finished, 3, SLOW_MS);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(chain[i].done, 1);
	ck_assert_uint_eq(requests, 3);
}
END_TEST

START_TEST(test_reuse)
{
	struct xfer a, b;

	start(&a, "/ok", SLOW_MS);
	run_until(&finished, 1, SLOW_MS);
	start(&b, "/ok", SLOW_MS);
	run_until(&finished, 2, SLOW_MS);
	ck_assert_int_eq(a.result, CURLE_OK);
	ck_assert_int_eq(b.result, CURLE_OK);
	ck_assert_int_eq(a.connects, 1);
	ck_assert_int_eq(b.connects, 0);	/* the kept-alive one */
	curl_easy_cleanup(a.easy);
	curl_easy_cleanup(b.easy);
}
END_TEST

/* Deleting the glue mid-transfer frees the transfer (it used to leak it:
 * run under ASan or valgrind to see) and calls nothing back. */
START_TEST(test_delete_running)
{
	struct xfer x;

	start(&x, "/slow", SLOW_MS);
	run_until(&requests, 1, SLOW_MS);
	ck_assert_uint_eq(requests, 1);
	curl_ev_delete(ce);
	ce = NULL;
	ck_assert_uint_eq(x.done, 0);
	curl_easy_cleanup(x.easy);
}
END_TEST


/* curl_ev_add() of a running handle is refused and leaves that transfer
 * alone (it used to take over CURLOPT_PRIVATE: the callback never came). */
START_TEST(test_add_twice)
{
	struct xfer x;

	start(&x, "/ok", SLOW_MS);
	/* curl refuses a handle it has: the first transfer goes on as it was */
	ck_assert_int_eq(curl_ev_add(ce, x.easy, done_cb, &x), MESHDNS_EINVAL);
	run_until(&finished, 1, 300);
	ck_assert_uint_eq(x.done, 1);
	ck_assert_int_eq(x.result, CURLE_OK);
	curl_easy_cleanup(x.easy);
}
END_TEST

Suite *curl_ev_suite(void)
{
	Suite *s = suite_create("curl_ev");
	TCase *tc = tcase_create("curl_ev");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_parallel);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_chain);
	tcase_add_test(tc, test_reuse);
	tcase_add_test(tc, test_delete_running);
	tcase_add_test(tc, test_add_twice);
	suite_add_tcase(s, tc);
	return s;
}
