/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * DNS over TCP on the loop thread (RFC 7766): connections capped
 * (tcp_max_connections) and closed when idle, pipelined queries answered
 * in order through serve_query(), and a client that does not read its
 * replies stops being read from. Allocates only the connection and inside
 * libevent's buffers.
 */
#include "config.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meshdns/clock.h"
#include "meshdns/log.h"
#include "meshdns/registry.h"
#include "server_int.h"

void tcp_conn_free(struct tcp_conn *c)
{
	struct dns_server *srv = c->srv;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	bufferevent_free(c->bev);
	free(c);
}

/* One message out on a connection, with its two-byte length (RFC 1035). */
static void tcp_send(struct tcp_conn *c, const uint8_t *m, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add(out, hdr, 2);
	evbuffer_add(out, m, len);
}

/* A forwarded answer to connection @p conn_id, if it is still open. */
void tcp_send_to(struct dns_server *srv, uint64_t conn_id, const uint8_t *m, size_t len)
{
	for (struct tcp_conn *c = srv->conns; c; c = c->next) {
		if (c->id == conn_id) {
			tcp_send(c, m, len);
			return;
		}
	}
}

static void tcp_read_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct dns_server *srv = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(bev);
	struct query_from from = {
		.addr = &c->peer, .addr_len = sizeof(c->peer), .tcp = true, .fd = -1,
		.conn_id = c->id,
	};

	/* Answer every complete message; pipelining is allowed (RFC 7766). */
	while (evbuffer_get_length(in) >= 2) {
		uint8_t lenb[2];

		evbuffer_copyout(in, lenb, 2);
		size_t len = rd16(lenb);
		if (len == 0) {
			tcp_conn_free(c);
			return;
		}
		if (evbuffer_get_length(in) < 2 + len)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, srv->in, len);
		srv->main.scratch.now_ms = clock_now_ms();
		uint64_t t0 = now_ns();
		size_t out_len = serve_query(&srv->main, registry_snapshot(srv->reg), srv->in,
					     len, &from, srv->out, sizeof(srv->out));
		if (!out_len)
			continue;
		tcp_send(c, srv->out, out_len);
		serve_count_latency(&srv->main.stats, now_ns() - t0, 1);
		if (evbuffer_get_length(out) > TCP_OUT_HIGH) {
			/* The client is not reading: stop reading from it. */
			bufferevent_disable(bev, EV_READ);
			break;
		}
	}
}

static void tcp_write_cb(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	if (c->closing) {
		tcp_conn_free(c);	/* everything asked has been answered */
		return;
	}
	/* The output drained: resume reading, and answer what is waiting. */
	if (bufferevent_get_enabled(bev) & EV_READ)
		return;
	bufferevent_enable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(bev)) >= 2)
		tcp_read_cb(bev, arg);
}

static void tcp_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;

	if (what & BEV_EVENT_TIMEOUT)
		STAT_ADD(c->srv->main.stats.tcp_timeouts, 1);
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		tcp_conn_free(c);
}

static void tcp_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
			  struct sockaddr *addr, int socklen, void *arg)
{
	struct dns_server *srv = arg;
	struct sockaddr_storage ss;
	struct tcp_conn *c;

	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, addr, (size_t)socklen < sizeof(ss) ? (size_t)socklen : sizeof(ss));
	if (!serve_allowed(srv, &ss)) {
		STAT_ADD(srv->main.stats.refused_clients, 1);
		close(fd);	/* not a client we serve */
		return;
	}
	if (srv->n_conns >= srv->max_conns) {
		STAT_ADD(srv->main.stats.tcp_rejected, 1);
		log_debug("tcp: %u connections open, closing a new one", srv->n_conns);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->peer = ss;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		return;
	}
	c->id = ++srv->next_conn_id;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	STAT_ADD(srv->main.stats.tcp_accepted, 1);
	bufferevent_setcb(c->bev, tcp_read_cb, tcp_write_cb, tcp_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 2, DNS_MAX_MSG + 2);
	bufferevent_set_timeouts(c->bev, &srv->idle, &srv->idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void tcp_error_cb(struct evconnlistener *l, void *arg)
{
	/* EMFILE and friends: keep going; the backlog waits for us. */
	log_warn("tcp accept: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* Listen on TCP at @p l. @return 0, or -1 (logged) */
int tcp_listen(struct dns_server *srv, const struct config_listen *l)
{
	int fd = net_open_socket(l, SOCK_STREAM);

	if (fd < 0) {
		log_err("cannot listen on tcp %s: %s", l->text, strerror(errno));
		return -1;
	}
	srv->tcp[srv->n_tcp] = evconnlistener_new(srv->base, tcp_accept_cb, srv,
						  LEV_OPT_CLOSE_ON_FREE, TCP_BACKLOG, fd);
	if (!srv->tcp[srv->n_tcp]) {
		log_err("cannot listen on tcp %s: %s", l->text, strerror(errno));
		close(fd);
		return -1;
	}
	evconnlistener_set_error_cb(srv->tcp[srv->n_tcp], tcp_error_cb);
	srv->n_tcp++;
	return 0;
}
