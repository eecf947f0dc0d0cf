/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * mesh-backend: many controllable HTTP/TCP health-check targets on
 * loopback, for the meshdns system tests and benchmarks. One process, one
 * libevent loop, no threads. Every backend port is served by a tiny
 * HTTP/1.1 responder on bufferevents (so that hang, reset, closed and huge
 * can misbehave at the TCP level); the control API is plain evhttp.
 * Usage: see tests/backend/README.md or --help.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, accept4 flags */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#define PROG		"mesh-backend"
#define MAX_PORTS	10000u
#define BACKLOG		1024
#define MAX_HDR		8192u		/* request line + headers */
#define READ_HIGH_WM	16384u		/* stop reading above this */
#define OUT_HIGH	65536u		/* stop answering pipelined requests */
#define HUGE_CHUNK	65536u
#define HUGE_FILL	262144u		/* keep at most this much queued */
#define HUGE_LOW	131072u		/* refill below this */
#define LINGER_SEC	2		/* drain after our FIN, then close */
#define WEIGHT_MAX	63u
#define SLOW_MAX_MS	3600000ul
#define MAX_CLEN	(1ull << 40)
#define UNUSED(x)	((void)(x))

enum mode {
	MODE_OK, MODE_FAIL, MODE_STATUS, MODE_HANG, MODE_SLOW, MODE_HUGE,
	MODE_RESET, MODE_CLOSED, MODE_FLAP,
};

enum cstate {
	CS_READ,	/* waiting for / answering requests */
	CS_SLOW,	/* request taken, timer running */
	CS_HANG,	/* request taken, never answered; input discarded */
	CS_HUGE,	/* streaming the endless body */
	CS_CLOSING,	/* last response queued; close when flushed */
	CS_LINGER,	/* FIN sent; drain input until EOF or timeout */
};

struct conn;

struct port {
	struct evconnlistener *lst;	/* NULL when closed */
	struct conn *conns;		/* open connections */
	uint64_t requests, connections, last_request_ms;
	unsigned arg;			/* status code or slow ms */
	uint16_t num;
	uint8_t mode;
	bool has_weight, paused;
	char weight[WEIGHT_MAX + 1];
};

struct conn {
	struct conn *prev, *next;
	struct port *port;
	struct bufferevent *bev;
	struct event *timer;		/* slow mode, created on demand */
	uint64_t discard_left;		/* request body still to skip */
	uint64_t huge_left;
	enum cstate state;
	bool keepalive, head, peer_eof, out_blocked;
};

struct req {
	bool head, keepalive, chunked;
	uint64_t clen;
};

static struct {
	struct event_base *base;
	struct evhttp *http;
	struct event *resume_timer;
	struct port *ports;
	unsigned nports, port_base;
	int family;
	const char *addr;
	const char *ready_file;
	uint64_t max_body;
	uint64_t requests, connections;	/* since start or /reset-stats */
	struct {			/* whole lifetime, printed at exit */
		uint64_t requests, connections, responses, resets, hangs;
		uint64_t huge, huge_bytes, bad, accept_errors, open, peak;
	} life;
} g;

static char huge_block[HUGE_CHUNK];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *reason(unsigned code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Status";
	}
}

/* ------------------------------------------------------------ connections */

static void conn_free(struct conn *c)
{
	struct port *p = c->port;

	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->timer)
		event_free(c->timer);
	bufferevent_free(c->bev);
	free(c);
	g.life.open--;
}

static void set_rst(evutil_socket_t fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

/* Close with RST. Frees c. */
static void conn_rst(struct conn *c)
{
	set_rst(bufferevent_getfd(c->bev));
	g.life.resets++;
	conn_free(c);
}

/* All output is flushed in CS_CLOSING. May free c. */
static void closing_flushed(struct conn *c)
{
	struct timeval tv = { LINGER_SEC, 0 };

	if (c->peer_eof) {
		conn_free(c);
		return;
	}
	/* Half-close and drain what the client still sends, so that unread
	 * input does not turn our close into an RST that eats the reply. */
	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	c->state = CS_LINGER;
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ);
}

/* Close once the output is flushed. May free c (when nothing is queued). */
static void start_closing(struct conn *c)
{
	c->state = CS_CLOSING;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		closing_flushed(c);
}

static void add_weight(struct evbuffer *out, const struct port *p)
{
	if (p->has_weight)
		evbuffer_add_printf(out, "X-Mesh-Weight: %s\r\n", p->weight);
}

/* Queue one complete response. Never frees c; switches to CS_CLOSING when
 * the connection is not kept alive. */
static void reply(struct conn *c, unsigned code, const char *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char dflt[32];
	bool nobody = code < 200 || code == 204 || code == 304;

	if (!body) {
		snprintf(dflt, sizeof(dflt), "status %u\n", code);
		body = dflt;
	}
	evbuffer_add_printf(out, "HTTP/1.1 %u %s\r\n", code, reason(code));
	add_weight(out, c->port);
	if (!nobody)
		evbuffer_add_printf(out, "Content-Type: text/plain\r\n"
		    "Content-Length: %zu\r\n", strlen(body));
	evbuffer_add_printf(out, "Connection: %s\r\n\r\n",
	    c->keepalive ? "keep-alive" : "close");
	if (!nobody && !c->head)
		evbuffer_add(out, body, strlen(body));
	g.life.responses++;
	if (!c->keepalive)
		start_closing(c);
}

/* Refuse a broken request and close (400, 431, 501). */
static void reply_error(struct conn *c, unsigned code)
{
	g.life.bad++;
	c->keepalive = false;
	c->head = false;
	reply(c, code, NULL);
}

/* Top up the endless body. May free c. */
static void huge_fill(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	while (c->huge_left > 0 && evbuffer_get_length(out) < HUGE_FILL) {
		size_t n = c->huge_left < HUGE_CHUNK ?
		    (size_t)c->huge_left : HUGE_CHUNK;

		/* Points at static memory: no copy, no allocation of data. */
		if (evbuffer_add_reference(out, huge_block, n, NULL, NULL) < 0)
			break;
		c->huge_left -= n;
		g.life.huge_bytes += n;
	}
	if (c->huge_left == 0)
		start_closing(c);
}

/* May free c. */
static void huge_start(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	g.life.huge++;
	g.life.responses++;
	evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\n");
	add_weight(out, c->port);
	evbuffer_add_printf(out, "Content-Type: application/octet-stream\r\n"
	    "Connection: close\r\n\r\n");
	c->keepalive = false;
	if (c->head) {
		start_closing(c);
		return;
	}
	c->state = CS_HUGE;
	c->huge_left = g.max_body;
	bufferevent_setwatermark(c->bev, EV_WRITE, HUGE_LOW, 0);
	huge_fill(c);
}

static bool token_eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

/* Parse a NUL-terminated request head (request line and header lines, LF
 * or CRLF). Returns false for anything malformed. */
static bool parse_request(char *buf, struct req *r)
{
	char *line = buf, *nl, *sp1, *sp2;
	bool have_clen = false;

	memset(r, 0, sizeof(*r));
	nl = strchr(line, '\n');
	if (!nl)
		return false;
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	sp1 = strchr(line, ' ');
	if (!sp1 || sp1 == line)
		return false;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || sp2 == sp1 + 1)
		return false;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2[8] < '0' ||
	    sp2[8] > '9' || sp2[9] != '\0')
		return false;
	r->keepalive = sp2[8] != '0';
	r->head = (size_t)(sp1 - line) == 4 && strncmp(line, "HEAD", 4) == 0;

	for (line = nl + 1; *line; line = nl + 1) {
		char *colon, *v, *end;
		size_t nlen;

		nl = strchr(line, '\n');
		if (!nl)
			return false;
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (*line == '\0')
			break;			/* end of head */
		if (*line == ' ' || *line == '\t')
			return false;		/* obsolete folding */
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return false;
		nlen = (size_t)(colon - line);
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		end = v + strlen(v);
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';

		if (token_eq(line, nlen, "Connection")) {
			char *t = v;

			while (*t) {
				size_t tl = strcspn(t, ", \t");

				if (token_eq(t, tl, "close"))
					r->keepalive = false;
				else if (token_eq(t, tl, "keep-alive"))
					r->keepalive = true;
				t += tl;
				t += strspn(t, ", \t");
			}
		} else if (token_eq(line, nlen, "Content-Length")) {
			uint64_t n = 0;

			if (*v == '\0')
				return false;
			for (char *d = v; *d; d++) {
				if (*d < '0' || *d > '9')
					return false;
				n = n * 10 + (uint64_t)(*d - '0');
				if (n > MAX_CLEN)
					return false;
			}
			if (have_clen && n != r->clen)
				return false;
			have_clen = true;
			r->clen = n;
		} else if (token_eq(line, nlen, "Transfer-Encoding")) {
			r->chunked = true;
		}
	}
	return true;
}

/* Length of the request head at data[0..len) including the blank line, or
 * 0 if it is not complete yet. Accepts CRLF and bare LF. */
static size_t head_end(const char *data, size_t len)
{
	const char *a = memmem(data, len, "\n\r\n", 3);
	const char *b = memmem(data, len, "\n\n", 2);

	if (a && (!b || a < b))
		return (size_t)(a - data) + 3;
	if (b)
		return (size_t)(b - data) + 2;
	return 0;
}

static void slow_cb(evutil_socket_t fd, short what, void *arg);

/* Answer every complete request in the input, in order, until one of them
 * takes the connection out of CS_READ. May free c. */
static void conn_process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct port *p = c->port;

	while (c->state == CS_READ) {
		size_t len = evbuffer_get_length(in), scan, skip, hlen;
		const char *data;
		char head[MAX_HDR + 1];
		struct req r;
		struct timeval tv;

		if (c->discard_left) {
			size_t n = len < c->discard_left ?
			    len : (size_t)c->discard_left;

			evbuffer_drain(in, n);
			c->discard_left -= n;
			if (c->discard_left)
				break;
			continue;
		}
		if (evbuffer_get_length(out) >= OUT_HIGH) {
			/* Client does not read its answers: stop parsing;
			 * reading stops too at the input high watermark. */
			c->out_blocked = true;
			bufferevent_setwatermark(c->bev, EV_WRITE,
			    OUT_HIGH / 2, 0);
			return;
		}
		if (len == 0)
			break;
		scan = len < MAX_HDR ? len : MAX_HDR;
		data = (const char *)evbuffer_pullup(in, (ev_ssize_t)scan);
		if (!data)
			break;
		for (skip = 0; skip < scan &&
		    (data[skip] == '\r' || data[skip] == '\n'); skip++)
			;
		if (skip) {
			evbuffer_drain(in, skip);
			continue;
		}
		hlen = head_end(data, scan);
		if (hlen == 0) {
			if (len >= MAX_HDR)
				reply_error(c, 431);
			break;
		}
		memcpy(head, data, hlen);
		head[hlen] = '\0';
		evbuffer_drain(in, hlen);

		p->requests++;
		p->last_request_ms = now_ms();
		g.requests++;
		g.life.requests++;

		if (!parse_request(head, &r)) {
			reply_error(c, 400);
			break;
		}
		if (r.chunked) {
			reply_error(c, 501);
			break;
		}
		c->discard_left = r.clen;
		c->keepalive = r.keepalive;
		c->head = r.head;

		switch ((enum mode)p->mode) {
		case MODE_OK:
			reply(c, 200, "ok\n");
			break;
		case MODE_FAIL:
			reply(c, 503, "fail\n");
			break;
		case MODE_STATUS:
			reply(c, p->arg, NULL);
			break;
		case MODE_FLAP:
			/* every request the opposite of the one before */
			p->arg ^= 1;
			if (p->arg)
				reply(c, 200, "ok\n");
			else
				reply(c, 503, "fail\n");
			break;
		case MODE_SLOW:
			if (!c->timer)
				c->timer = evtimer_new(g.base, slow_cb, c);
			if (!c->timer) {
				reply(c, 200, "ok\n");
				break;
			}
			c->state = CS_SLOW;
			tv.tv_sec = p->arg / 1000;
			tv.tv_usec = (suseconds_t)(p->arg % 1000) * 1000;
			evtimer_add(c->timer, &tv);
			break;
		case MODE_HANG:
			c->state = CS_HANG;
			c->discard_left = 0;
			g.life.hangs++;
			evbuffer_drain(in, evbuffer_get_length(in));
			break;
		case MODE_HUGE:
			huge_start(c);
			return;
		case MODE_RESET:
		case MODE_CLOSED:
			conn_rst(c);
			return;
		}
	}
	if (c->state == CS_READ && c->peer_eof)
		start_closing(c);	/* everything complete is answered */
}

static void slow_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	UNUSED(fd);
	UNUSED(what);
	c->state = CS_READ;
	reply(c, 200, "ok\n");
	if (c->state == CS_READ)
		conn_process(c);
}

static void conn_readcb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	switch (c->state) {
	case CS_READ:
		conn_process(c);
		break;
	case CS_SLOW:
		break;		/* keep it; the input high watermark bounds it */
	case CS_HANG:
	case CS_HUGE:
	case CS_CLOSING:
	case CS_LINGER:
		evbuffer_drain(in, evbuffer_get_length(in));
		break;
	}
}

static void conn_writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	switch (c->state) {
	case CS_READ:
		if (c->out_blocked) {
			c->out_blocked = false;
			bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
			conn_process(c);
		}
		break;
	case CS_HUGE:
		huge_fill(c);
		break;
	case CS_CLOSING:
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			closing_flushed(c);
		break;
	case CS_SLOW:
	case CS_HANG:
	case CS_LINGER:
		break;
	}
}

static void conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (!(what & BEV_EVENT_EOF) || (what & BEV_EVENT_ERROR)) {
		conn_free(c);		/* error, or linger timeout */
		return;
	}
	c->peer_eof = true;
	switch (c->state) {
	case CS_READ:
		if (!c->out_blocked)
			conn_process(c);
		break;
	case CS_SLOW:
		break;			/* answer, then close */
	case CS_CLOSING:
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(c);
		break;
	case CS_HANG:
	case CS_HUGE:
	case CS_LINGER:
		conn_free(c);
		break;
	}
}

/* --------------------------------------------------------------- listeners */

static void accept_cb(struct evconnlistener *lst, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct port *p = arg;
	struct conn *c;

	UNUSED(lst);
	UNUSED(sa);
	UNUSED(salen);
	p->connections++;
	g.connections++;
	g.life.connections++;
	if (p->mode == MODE_RESET || p->mode == MODE_CLOSED) {
		set_rst(fd);
		evutil_closesocket(fd);
		g.life.resets++;
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(g.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->port = p;
	c->state = CS_READ;
	c->next = p->conns;
	if (p->conns)
		p->conns->prev = c;
	p->conns = c;
	if (++g.life.open > g.life.peak)
		g.life.peak = g.life.open;
	bufferevent_setwatermark(c->bev, EV_READ, 0, READ_HIGH_WM);
	bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	UNUSED(fd);
	UNUSED(what);
	UNUSED(arg);
	for (unsigned i = 0; i < g.nports; i++) {
		struct port *p = &g.ports[i];

		if (p->paused) {
			p->paused = false;
			if (p->lst)
				evconnlistener_enable(p->lst);
		}
	}
}

/* accept() failed for real (EMFILE and friends): pause that port briefly
 * instead of spinning on a level-triggered listener. */
static void accept_error_cb(struct evconnlistener *lst, void *arg)
{
	struct port *p = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, 100000 };

	if (g.life.accept_errors++ == 0)
		fprintf(stderr, PROG ": accept on port %u: %s (pausing)\n",
		    (unsigned)p->num, evutil_socket_error_to_string(err));
	if (!p->paused) {
		p->paused = true;
		evconnlistener_disable(lst);
	}
	if (!evtimer_pending(g.resume_timer, NULL))
		evtimer_add(g.resume_timer, &tv);
}

static socklen_t make_sockaddr(unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (g.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, g.addr, &sin->sin_addr);
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, g.addr, &sin6->sin6_addr);
		return sizeof(*sin6);
	}
}

/* Start listening on p. Returns 0, or -1 with errno set. */
static int port_open(struct port *p)
{
	struct sockaddr_storage ss;
	socklen_t sl = make_sockaddr(p->num, &ss);
	int one = 1, fd, err;

	fd = socket(g.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(fd, BACKLOG) < 0)
		goto fail;
	/* backlog 0: we already called listen() */
	p->lst = evconnlistener_new(g.base, accept_cb, p,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!p->lst) {
		errno = ENOMEM;
		goto fail;
	}
	evconnlistener_set_error_cb(p->lst, accept_error_cb);
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* Stop listening on p and drop its connections. */
static void port_close(struct port *p)
{
	if (p->lst) {
		evconnlistener_free(p->lst);
		p->lst = NULL;
	}
	p->paused = false;
	while (p->conns)
		conn_free(p->conns);
}

/* ------------------------------------------------------------- control API */

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* "all", "P" or "A-B" -> index range into g.ports. */
static bool parse_port_spec(const char *s, unsigned *lo, unsigned *hi)
{
	unsigned long a, b;
	char buf[32];
	char *dash;

	if (!s)
		return false;
	if (strcmp(s, "all") == 0) {
		*lo = 0;
		*hi = g.nports - 1;
		return true;
	}
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash) {
		*dash = '\0';
		if (!parse_ulong(buf, 65535, &a) ||
		    !parse_ulong(dash + 1, 65535, &b))
			return false;
	} else {
		if (!parse_ulong(buf, 65535, &a))
			return false;
		b = a;
	}
	if (a > b || a < g.port_base || b >= g.port_base + g.nports)
		return false;
	*lo = (unsigned)(a - g.port_base);
	*hi = (unsigned)(b - g.port_base);
	return true;
}

/* Weight values are sent verbatim, so only printable ASCII is allowed. */
static bool valid_weight(const char *w)
{
	if (strlen(w) > WEIGHT_MAX)
		return false;
	for (; *w; w++)
		if (*w < 0x20 || *w > 0x7e)
			return false;
	return true;
}

/* Parse a mode. A "weight:W" mode sets *weight and leaves *mode alone. */
static bool parse_mode(const char *s, int *mode, unsigned *arg,
    const char **weight)
{
	unsigned long v;

	*mode = -1;
	*weight = NULL;
	if (strncmp(s, "weight:", 7) == 0) {
		*weight = s + 7;
		return valid_weight(*weight);
	}
	*arg = 0;
	if (strcmp(s, "ok") == 0)
		*mode = MODE_OK;
	else if (strcmp(s, "fail") == 0)
		*mode = MODE_FAIL;
	else if (strcmp(s, "hang") == 0)
		*mode = MODE_HANG;
	else if (strcmp(s, "huge") == 0)
		*mode = MODE_HUGE;
	else if (strcmp(s, "reset") == 0)
		*mode = MODE_RESET;
	else if (strcmp(s, "closed") == 0)
		*mode = MODE_CLOSED;
	else if (strcmp(s, "flap") == 0)
		*mode = MODE_FLAP;
	else if (strncmp(s, "status:", 7) == 0 &&
	    parse_ulong(s + 7, 599, &v) && v >= 100) {
		*mode = MODE_STATUS;
		*arg = (unsigned)v;
	} else if (strncmp(s, "slow:", 5) == 0 &&
	    parse_ulong(s + 5, SLOW_MAX_MS, &v)) {
		*mode = MODE_SLOW;
		*arg = (unsigned)v;
	} else
		return false;
	return true;
}

static void mode_str(const struct port *p, char *buf, size_t len)
{
	static const char *const names[] = {
		[MODE_OK] = "ok", [MODE_FAIL] = "fail",
		[MODE_STATUS] = "status", [MODE_HANG] = "hang",
		[MODE_SLOW] = "slow", [MODE_HUGE] = "huge",
		[MODE_RESET] = "reset", [MODE_CLOSED] = "closed",
		[MODE_FLAP] = "flap",
	};

	if (p->mode == MODE_STATUS || p->mode == MODE_SLOW)
		snprintf(buf, len, "%s:%u", names[p->mode], p->arg);
	else
		snprintf(buf, len, "%s", names[p->mode]);
}

static void ctl_send(struct evhttp_request *req, int code, const char *ctype,
    struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason((unsigned)code), body);
}

static void ctl_text(struct evhttp_request *req, int code, const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (b)
		evbuffer_add_printf(b, "%s\n", msg);
	ctl_send(req, code, "text/plain", b);
	if (b)
		evbuffer_free(b);
}

static void ctl_set(struct evhttp_request *req, struct evkeyvalq *q)
{
	const char *ps = evhttp_find_header(q, "port");
	const char *ms = evhttp_find_header(q, "mode");
	const char *ws = evhttp_find_header(q, "weight");
	const char *mw = NULL;
	unsigned lo, hi, arg = 0, failed = 0;
	int mode = -1, first_err = 0;
	char msg[160];

	if (!parse_port_spec(ps, &lo, &hi)) {
		snprintf(msg, sizeof(msg), "bad port: need all, P or A-B "
		    "within %u-%u", g.port_base, g.port_base + g.nports - 1);
		ctl_text(req, 400, msg);
		return;
	}
	if (!ms && !ws) {
		ctl_text(req, 400, "need mode= or weight=");
		return;
	}
	if (ms && !parse_mode(ms, &mode, &arg, &mw)) {
		ctl_text(req, 400, "bad mode: ok fail status:CODE hang "
		    "slow:MS huge reset closed flap weight:W");
		return;
	}
	if (ws && !valid_weight(ws)) {
		ctl_text(req, 400, "bad weight: printable ASCII, at most 63 "
		    "bytes, or none");
		return;
	}
	if (ws && mw && strcmp(ws, mw) != 0) {
		ctl_text(req, 400, "weight given twice");
		return;
	}
	if (!mw)
		mw = ws;

	for (unsigned i = lo; i <= hi; i++) {
		struct port *p = &g.ports[i];

		if (mw) {
			p->has_weight = strcmp(mw, "none") != 0;
			snprintf(p->weight, sizeof(p->weight), "%s",
			    p->has_weight ? mw : "");
		}
		if (mode < 0)
			continue;
		if (mode == MODE_CLOSED) {
			port_close(p);
		} else if (!p->lst && port_open(p) < 0) {
			if (failed++ == 0)
				first_err = errno;
			continue;	/* stays closed */
		}
		p->mode = (uint8_t)mode;
		p->arg = arg;
	}
	if (failed) {
		snprintf(msg, sizeof(msg), "could not reopen %u port(s): %s",
		    failed, strerror(first_err));
		ctl_text(req, 500, msg);
		return;
	}
	ctl_text(req, 200, "ok");
}

static void json_str(struct evbuffer *b, const char *s)
{
	evbuffer_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add(b, "\\", 1);
		evbuffer_add(b, s, 1);
	}
	evbuffer_add(b, "\"", 1);
}

static void ctl_stats(struct evhttp_request *req, struct evkeyvalq *q)
{
	const char *ps = evhttp_find_header(q, "port");
	struct evbuffer *b = evbuffer_new();
	unsigned lo, hi;
	bool first = true;

	if (!b) {
		ctl_text(req, 500, "out of memory");
		return;
	}
	if (ps) {
		struct port *p;
		char mode[32];

		if (!parse_port_spec(ps, &lo, &hi) || lo != hi) {
			evbuffer_free(b);
			ctl_text(req, 400, "bad port: need one port in range");
			return;
		}
		p = &g.ports[lo];
		mode_str(p, mode, sizeof(mode));
		evbuffer_add_printf(b, "{\"port\":%u,\"requests\":%" PRIu64
		    ",\"connections\":%" PRIu64 ",\"last_request_ms\":%" PRIu64
		    ",\"now_ms\":%" PRIu64 ",\"mode\":\"%s\",\"weight\":",
		    (unsigned)p->num, p->requests, p->connections,
		    p->last_request_ms, now_ms(), mode);
		if (p->has_weight)
			json_str(b, p->weight);
		else
			evbuffer_add_printf(b, "null");
		evbuffer_add_printf(b, "}\n");
	} else {
		evbuffer_add_printf(b, "{\"requests\":%" PRIu64
		    ",\"connections\":%" PRIu64 ",\"now_ms\":%" PRIu64
		    ",\"per_port\":{", g.requests, g.connections, now_ms());
		for (unsigned i = 0; i < g.nports; i++) {
			if (!g.ports[i].requests)
				continue;
			evbuffer_add_printf(b, "%s\"%u\":%" PRIu64,
			    first ? "" : ",", (unsigned)g.ports[i].num,
			    g.ports[i].requests);
			first = false;
		}
		evbuffer_add_printf(b, "}}\n");
	}
	ctl_send(req, 200, "application/json", b);
	evbuffer_free(b);
}

static void ctl_reset_stats(struct evhttp_request *req)
{
	for (unsigned i = 0; i < g.nports; i++) {
		g.ports[i].requests = 0;
		g.ports[i].connections = 0;
		g.ports[i].last_request_ms = 0;
	}
	g.requests = 0;
	g.connections = 0;
	ctl_text(req, 200, "ok");
}

static void ctl_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq q;

	UNUSED(arg);
	q.tqh_first = NULL;		/* TAILQ_INIT */
	q.tqh_last = &q.tqh_first;
	if (!path || (query && evhttp_parse_query_str(query, &q) < 0)) {
		ctl_text(req, 400, "bad request");
		evhttp_clear_headers(&q);
		return;
	}
	if (strcmp(path, "/set") == 0)
		ctl_set(req, &q);
	else if (strcmp(path, "/stats") == 0)
		ctl_stats(req, &q);
	else if (strcmp(path, "/reset-stats") == 0)
		ctl_reset_stats(req);
	else if (strcmp(path, "/") == 0)
		ctl_text(req, 200, "GET /set?port=P|A-B|all&mode=M  "
		    "GET /set?port=..&weight=W|none  GET /stats[?port=P]  "
		    "GET /reset-stats\nmodes: ok fail status:CODE hang slow:MS "
		    "huge reset closed weight:W");
	else
		ctl_text(req, 404, "not found");
	evhttp_clear_headers(&q);
}

/* -------------------------------------------------------------------- main */

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	UNUSED(sig);
	UNUSED(what);
	UNUSED(arg);
	event_base_loopbreak(g.base);
}

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: " PROG " --addr ADDR --port-base P --ports N\n"
	    "       [--control PORT] [--ready-file FILE] [--max-body-mib M]\n"
	    "Serves HTTP health-check targets on ADDR:P..P+N-1 (loopback "
	    "only, N <= %u).\n"
	    "Control API on ADDR:PORT: /set?port=P|A-B|all&mode=MODE, "
	    "/set?port=..&weight=W|none,\n"
	    "  /stats[?port=P], /reset-stats. Modes: ok fail status:CODE "
	    "hang slow:MS huge\n"
	    "  reset closed weight:W.\n", MAX_PORTS);
}

static bool is_loopback(const char *addr, int *family)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1) {
		*family = AF_INET;
		return (ntohl(a4.s_addr) >> 24) == 127;
	}
	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		*family = AF_INET6;
		return IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

static void raise_nofile(unsigned need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;

		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 &&
		    want == RLIM_INFINITY) {
			rl.rlim_cur = 1u << 20;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
				rl.rlim_cur = 65536;
				setrlimit(RLIMIT_NOFILE, &rl);
			}
		}
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need)
		fprintf(stderr, PROG ": warning: RLIMIT_NOFILE is %llu, want "
		    "at least %u (ports + 64)\n",
		    (unsigned long long)rl.rlim_cur, need);
}

static int write_ready_file(const char *path)
{
	char tmp[4096];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "addr",	  required_argument, NULL, 'a' },
		{ "port-base",	  required_argument, NULL, 'p' },
		{ "ports",	  required_argument, NULL, 'n' },
		{ "control",	  required_argument, NULL, 'c' },
		{ "ready-file",	  required_argument, NULL, 'r' },
		{ "max-body-mib", required_argument, NULL, 'm' },
		{ "help",	  no_argument,	     NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long port_base = 0, nports = 0, control = 0, mib = 1024;
	struct event *sigterm, *sigint;
	struct evhttp_bound_socket *ctl_sock = NULL;
	int opt;

	g.addr = "127.0.0.1";
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'a': g.addr = optarg; break;
		case 'p': ok = parse_ulong(optarg, 65535, &port_base) &&
			      port_base > 0; break;
		case 'n': ok = parse_ulong(optarg, MAX_PORTS, &nports) &&
			      nports > 0; break;
		case 'c': ok = parse_ulong(optarg, 65535, &control) &&
			      control > 0; break;
		case 'r': g.ready_file = optarg; break;
		case 'm': ok = parse_ulong(optarg, 1ul << 24, &mib); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (!ok) {
			const struct option *o = opts;

			while (o->val != opt)
				o++;
			fprintf(stderr, PROG ": bad value for --%s: %s\n",
			    o->name, optarg);
			return 2;
		}
	}
	if (optind != argc || !port_base || !nports) {
		usage(stderr);
		return 2;
	}
	if (port_base + nports - 1 > 65535) {
		fprintf(stderr, PROG ": ports %lu..%lu exceed 65535\n",
		    port_base, port_base + nports - 1);
		return 2;
	}
	if (control && control >= port_base && control < port_base + nports) {
		fprintf(stderr, PROG ": control port %lu is inside the "
		    "backend range\n", control);
		return 2;
	}
	if (!is_loopback(g.addr, &g.family)) {
		fprintf(stderr, PROG ": refusing to bind %s: only loopback "
		    "addresses (127.0.0.0/8, ::1) are allowed\n", g.addr);
		return 2;
	}
	g.nports = (unsigned)nports;
	g.port_base = (unsigned)port_base;
	g.max_body = (uint64_t)mib << 20;
	for (size_t i = 0; i < sizeof(huge_block); i++)
		huge_block[i] = (i % 64 == 63) ? '\n' : 'x';

	raise_nofile(g.nports + 64);
	signal(SIGPIPE, SIG_IGN);

	g.base = event_base_new();
	g.ports = calloc(g.nports, sizeof(*g.ports));
	if (!g.base || !g.ports) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	g.resume_timer = evtimer_new(g.base, resume_cb, NULL);
	sigterm = evsignal_new(g.base, SIGTERM, signal_cb, NULL);
	sigint = evsignal_new(g.base, SIGINT, signal_cb, NULL);
	if (!g.resume_timer || !sigterm || !sigint ||
	    evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
		fprintf(stderr, PROG ": cannot set up events\n");
		return 1;
	}

	for (unsigned i = 0; i < g.nports; i++) {
		struct port *p = &g.ports[i];

		p->num = (uint16_t)(g.port_base + i);
		p->mode = MODE_OK;
		if (port_open(p) < 0) {
			fprintf(stderr, PROG ": cannot listen on %s port %u: "
			    "%s\n", g.addr, (unsigned)p->num, strerror(errno));
			return 1;
		}
	}
	if (control) {
		g.http = evhttp_new(g.base);
		if (g.http)
			ctl_sock = evhttp_bind_socket_with_handle(g.http,
			    g.addr, (uint16_t)control);
		if (!ctl_sock) {
			fprintf(stderr, PROG ": cannot listen on %s control "
			    "port %lu\n", g.addr, control);
			return 1;
		}
		evhttp_set_allowed_methods(g.http, EVHTTP_REQ_GET |
		    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
		evhttp_set_gencb(g.http, ctl_cb, NULL);
	}
	if (g.ready_file && write_ready_file(g.ready_file) < 0) {
		fprintf(stderr, PROG ": cannot write %s: %s\n", g.ready_file,
		    strerror(errno));
		return 1;
	}
	if (control)
		fprintf(stderr, PROG ": pid %ld serving %s ports %u-%u, "
		    "control port %lu\n", (long)getpid(), g.addr, g.port_base,
		    g.port_base + g.nports - 1, control);
	else
		fprintf(stderr, PROG ": pid %ld serving %s ports %u-%u\n",
		    (long)getpid(), g.addr, g.port_base,
		    g.port_base + g.nports - 1);

	event_base_dispatch(g.base);

	for (unsigned i = 0; i < g.nports; i++)
		port_close(&g.ports[i]);
	if (g.http)
		evhttp_free(g.http);
	event_free(sigterm);
	event_free(sigint);
	event_free(g.resume_timer);
	event_base_free(g.base);
	free(g.ports);
	if (g.ready_file)
		unlink(g.ready_file);
	fprintf(stderr, PROG ": exiting: requests=%" PRIu64 " connections=%"
	    PRIu64 " responses=%" PRIu64 " resets=%" PRIu64 " hangs=%" PRIu64
	    " huge=%" PRIu64 " huge_bytes=%" PRIu64 " bad_requests=%" PRIu64
	    " accept_errors=%" PRIu64 " peak_open_connections=%" PRIu64 "\n",
	    g.life.requests, g.life.connections, g.life.responses,
	    g.life.resets, g.life.hangs, g.life.huge, g.life.huge_bytes,
	    g.life.bad, g.life.accept_errors, g.life.peak);
	return 0;
}
