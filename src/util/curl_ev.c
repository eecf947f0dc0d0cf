/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * curl multi socket API on libevent, as in curl's hiperfifo example: one
 * libevent event per socket curl asks us to watch, one timer for curl's
 * timeout, and CURLMSG_DONE messages dispatched to per-transfer callbacks.
 */
#include "config.h"

#include <event2/event.h>
#include <stdlib.h>

#include "meshdns/curl_ev.h"
#include "meshdns/log.h"

struct curl_ev {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	int running;
	struct transfer *transfers;	/* added and not done: freed on delete */
};

/* What we keep per transfer in CURLOPT_PRIVATE. */
struct transfer {
	curl_ev_done_cb cb;
	void *arg;
	CURL *easy;
	struct transfer *prev, *next;
};

/* Forget @p t: out of the multi, out of the list, freed. */
static void transfer_drop(struct curl_ev *ce, struct transfer *t)
{
	curl_multi_remove_handle(ce->multi, t->easy);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
	if (t->prev)
		t->prev->next = t->next;
	else
		ce->transfers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	free(t);
}

/* Per socket, set with curl_multi_assign(). */
struct sock {
	struct curl_ev *ce;
	struct event *ev;
};

static void check_done(struct curl_ev *ce)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(ce->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result;
		struct transfer *t = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
		if (!t) {
			curl_multi_remove_handle(ce->multi, easy);
			continue;
		}
		curl_ev_done_cb cb = t->cb;
		void *arg = t->arg;
		transfer_drop(ce, t);
		cb(easy, result, arg);
	}
}

static void socket_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev *ce = arg;
	int action = (what & EV_READ ? CURL_CSELECT_IN : 0) |
		     (what & EV_WRITE ? CURL_CSELECT_OUT : 0);

	curl_multi_socket_action(ce->multi, fd, action, &ce->running);
	check_done(ce);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct curl_ev *ce = arg;

	curl_multi_socket_action(ce->multi, CURL_SOCKET_TIMEOUT, 0, &ce->running);
	check_done(ce);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
		     void *socketp)
{
	struct curl_ev *ce = userp;
	struct sock *sk = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (sk) {
			event_free(sk->ev);
			free(sk);
			curl_multi_assign(ce->multi, s, NULL);
		}
		return 0;
	}
	short kind = (short)(EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
			     (what & CURL_POLL_OUT ? EV_WRITE : 0));
	if (!sk) {
		sk = calloc(1, sizeof(*sk));
		if (!sk)
			return -1;
		sk->ce = ce;
		curl_multi_assign(ce->multi, s, sk);
	} else {
		event_free(sk->ev);
	}
	sk->ev = event_new(ce->base, s, kind, socket_event_cb, ce);
	if (!sk->ev || event_add(sk->ev, NULL) < 0)
		return -1;
	return 0;
}

static int timer_set_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_ev *ce = userp;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	if (timeout_ms < 0)
		evtimer_del(ce->timer);
	else
		evtimer_add(ce->timer, &tv);	/* 0: run on the next loop turn */
	return 0;
}

struct curl_ev *curl_ev_create(struct event_base *base, long max_connects)
{
	struct curl_ev *ce = calloc(1, sizeof(*ce));

	if (!ce)
		return NULL;
	ce->base = base;
	ce->multi = curl_multi_init();
	ce->timer = evtimer_new(base, timer_cb, ce);
	if (!ce->multi || !ce->timer) {
		curl_ev_delete(ce);
		return NULL;
	}
	curl_multi_setopt(ce->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(ce->multi, CURLMOPT_SOCKETDATA, ce);
	curl_multi_setopt(ce->multi, CURLMOPT_TIMERFUNCTION, timer_set_cb);
	curl_multi_setopt(ce->multi, CURLMOPT_TIMERDATA, ce);
	curl_multi_setopt(ce->multi, CURLMOPT_MAXCONNECTS, max_connects);
	return ce;
}

void curl_ev_delete(struct curl_ev *ce)
{
	if (!ce)
		return;
	/* transfers still added are aborted without a callback (their easy
	 * handles stay their owners'); the multi cleanup closes cached
	 * connections */
	while (ce->transfers)
		transfer_drop(ce, ce->transfers);
	if (ce->multi)
		curl_multi_cleanup(ce->multi);
	if (ce->timer)
		event_free(ce->timer);
	free(ce);
}

int curl_ev_add(struct curl_ev *ce, CURL *easy, curl_ev_done_cb cb, void *arg)
{
	struct transfer *t = NULL;

	/* already running here: leave that transfer alone */
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
	if (t)
		return MESHDNS_EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return MESHDNS_ENOMEM;
	t->cb = cb;
	t->arg = arg;
	t->easy = easy;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
	if (curl_multi_add_handle(ce->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(t);
		return MESHDNS_EINVAL;
	}
	t->next = ce->transfers;
	if (t->next)
		t->next->prev = t;
	ce->transfers = t;
	return 0;
}

void curl_ev_remove(struct curl_ev *ce, CURL *easy)
{
	struct transfer *t = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
	if (t)
		transfer_drop(ce, t);
}
