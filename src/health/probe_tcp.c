/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * TCP probes: a non-blocking connect on the loop; writable with no
 * SO_ERROR means pass. Results are always reported from an event, never
 * from inside start().
 */
#include "config.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "probe_int.h"

static void close_fd(struct probe_target *t)
{
	if (t->io) {
		event_free(t->io);
		t->io = NULL;
	}
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe_target *t = arg;
	enum probe_result r;
	int err = t->sync_err;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT)
		r = PROBE_FAIL_TIMEOUT;
	else if (!err && getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		r = PROBE_FAIL_OTHER;
	else
		r = err ? PROBE_FAIL_CONNECT : PROBE_PASS;
	close_fd(t);
	probe_done(t, r, -1);
}

static int tcp_start(struct probe_target *t)
{
	const struct svc_probe *c = probe_target_conf(t);
	struct sockaddr_storage ss;
	socklen_t sl;
	struct timeval tv = { c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000 };

	memset(&ss, 0, sizeof(ss));
	if (t->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(probe_target_port(t));
		memcpy(&sin->sin_addr, t->addr, 4);
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(probe_target_port(t));
		memcpy(&sin6->sin6_addr, t->addr, 16);
		sl = sizeof(*sin6);
	}
	t->fd = socket(t->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0)
		return -errno;
	t->sync_err = 0;
	if (connect(t->fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
		t->sync_err = errno ? errno : ECONNREFUSED;
	t->io = event_new(probe_target_base(t), t->fd, EV_WRITE, io_cb, t);
	if (!t->io) {
		close_fd(t);
		return MESHDNS_ENOMEM;
	}
	if (t->sync_err)
		event_active(t->io, EV_WRITE, 0);	/* report from the loop */
	else if (event_add(t->io, &tv) < 0) {
		close_fd(t);
		return MESHDNS_EINVAL;
	}
	return 0;
}

static void tcp_cancel(struct probe_target *t)
{
	close_fd(t);
}

static void tcp_release(struct probe_target *t)
{
	close_fd(t);
}

const struct probe_ops probe_tcp_ops = {
	.start = tcp_start,
	.cancel = tcp_cancel,
	.release = tcp_release,
};
