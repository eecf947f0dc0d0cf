/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The only glue between libcurl's multi socket interface and libevent:
 * curl tells which sockets to watch and when to time out, libevent tells
 * curl when they are ready. No thread, no blocking call. Loop thread only.
 */
#ifndef MESHDNS_CURL_EV_H
#define MESHDNS_CURL_EV_H

#include <curl/curl.h>

#include "meshdns/error.h"

struct event_base;
struct curl_ev;

/**
 * Called when a transfer ends (removed from the multi handle already).
 * The callback may free @p easy and may start new transfers.
 */
typedef void (*curl_ev_done_cb)(CURL *easy, CURLcode result, void *arg);

/**
 * Create the glue. @param max_connects  size of curl's connection cache
 * (kept-alive connections reused by later transfers).
 * @return NULL on failure
 */
struct curl_ev *curl_ev_create(struct event_base *base, long max_connects);

/** Abort every transfer (no callbacks) and free. NULL is fine. */
void curl_ev_delete(struct curl_ev *ce);

/**
 * Start a transfer. @p cb runs once when it ends, unless
 * curl_ev_remove() comes first. The easy handle's CURLOPT_PRIVATE is used.
 * @return 0 or MESHDNS_EINVAL
 */
int curl_ev_add(struct curl_ev *ce, CURL *easy, curl_ev_done_cb cb, void *arg)
	MESHDNS_WUR;

/** Abort a running transfer without calling its callback. */
void curl_ev_remove(struct curl_ev *ce, CURL *easy);

#endif
