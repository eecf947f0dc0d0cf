/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Rolling updates without a lost query. The new instance binds beside us
 * (every socket is SO_REUSEPORT); we see it in /proc/net/udp{,6}, steer
 * our reuseport groups to its sockets with a one-instruction classic BPF
 * program, answer what is queued here, and close. See daemon.c for when.
 */
#include "config.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <linux/filter.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "meshdns/config.h"
#include "meshdns/thread.h"
#include "server_int.h"

/*
 * Is a UDP socket other than ours (inodes @p self) bound to @p ss's
 * address and port, or, with @p wildcard, to the wildcard address on that
 * port? /proc/net/udp{,6} lists every socket with its local address, as
 * the kernel prints it (IPv4 as a host-order u32), and its inode.
 */
static bool udp_bound(const struct sockaddr_storage *ss, const unsigned long *self,
		      size_t n_self, bool wildcard)
{
	const char *file = ss->ss_family == AF_INET ? "/proc/net/udp" : "/proc/net/udp6";
	char line[512], want[64], any[64];
	bool found = false;
	FILE *f;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;
		snprintf(want, sizeof(want), "%08X:%04X", sin->sin_addr.s_addr, ntohs(sin->sin_port));
		snprintf(any, sizeof(any), "00000000:%04X", ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		const uint32_t *w = (const uint32_t *)&sin6->sin6_addr;
		snprintf(want, sizeof(want), "%08X%08X%08X%08X:%04X", w[0], w[1], w[2], w[3],
			 ntohs(sin6->sin6_port));
		snprintf(any, sizeof(any), "%032d:%04X", 0, ntohs(sin6->sin6_port));
	}
	f = fopen(file, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char local[64];
		unsigned long inode;
		if (sscanf(line, " %*d: %63s %*s %*x %*s %*s %*s %*d %*d %lu", local, &inode) != 2)
			continue;
		if (strcmp(local, want) != 0 && !(wildcard && strcmp(local, any) == 0))
			continue;
		found = true;
		for (size_t i = 0; i < n_self; i++)
			found &= inode != self[i];
	}
	fclose(f);
	return found;
}

bool dns_server_addresses_in_use(const struct config_listen *listen, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (udp_bound(&listen[i].addr, NULL, 0, true))
			return true;
	}
	return false;
}

/* Has another process (a new meshdns) bound each of our UDP addresses? */
bool dns_server_successor_ready(const struct dns_server *srv)
{
	unsigned long self[srv->n_udp ? srv->n_udp : 1];
	struct stat st;

	for (size_t i = 0; i < srv->n_udp; i++)
		self[i] = fstat(srv->udp[i].fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
	for (size_t i = 0; i < srv->n_udp; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(srv->udp[i].fd, (struct sockaddr *)&ss, &sl) < 0 ||
		    !udp_bound(&ss, self, srv->n_udp, false))
			return false;
	}
	return srv->n_udp > 0;
}

/*
 * Steer the reuseport group to the successor's first socket: a group
 * indexes its sockets in the order they joined, so ours come first
 * (@p ours of them) and the successor's next. An index that does not
 * exist makes the kernel fall back to its hash, so with no successor
 * nothing changes, and once we are gone the successor's sockets share the
 * load again.
 */
static void steer_away(int fd, unsigned ours)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, ours) };
	struct sock_fprog prog = { 1, code };

	setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog));
}

void dns_server_handover(struct dns_server *srv)
{
	THREAD_LOOP_ONLY();
	unsigned per_addr = srv->n_workers ? srv->n_workers : 1;

	/* new queries go to the successor from now on; answer what is
	 * queued here, then close (a closed reuseport socket drops its queue) */
	for (size_t i = 0; i < srv->n_udp; i++)
		steer_away(srv->udp[i].fd, per_addr);
	for (size_t i = 0; i < srv->n_tcp; i++)
		steer_away(evconnlistener_get_fd(srv->tcp[i]), 1);
	workers_stop(srv);
	for (size_t i = 0; i < srv->n_udp; i++) {
		udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
		/* datagrams hashed to us just before the steering */
		udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
	}
	dns_server_stop_listening(srv);
}

void dns_server_stop_listening(struct dns_server *srv)
{
	workers_stop(srv);
	for (size_t i = 0; i < srv->n_udp; i++) {
		/* whatever is still queued gets its answer */
		for (int k = 0; k < 1000; k++) {
			uint64_t before = srv->main.stats.queries_udp;
			udp_read_cb(srv->udp[i].fd, EV_READ, &srv->udp[i]);
			if (srv->main.stats.queries_udp - before < UDP_BATCH * UDP_ROUNDS)
				break;
		}
	}
	net_close_listeners(srv);
	/* open connections finish the queries they sent, then close */
	for (struct tcp_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		c->closing = true;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			tcp_conn_free(c);
	}
}

size_t dns_server_busy_connections(const struct dns_server *srv)
{
	size_t n = 0;

	for (struct tcp_conn *c = srv->conns; c; c = c->next)
		n += evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;
	return n;
}
