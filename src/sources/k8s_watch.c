/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Kubernetes client and list+watch informers on libcurl (curl_ev.c).
 * Watch streams are parsed line by line as chunks arrive: an event may be
 * split over chunks and a chunk may hold several events. Every buffer has
 * a cap; a malformed line is counted and skipped; the token never reaches
 * a log line.
 */
#include "config.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "meshdns/clock.h"
#include "meshdns/curl_ev.h"
#include "meshdns/k8s_watch.h"
#include "meshdns/log.h"

#define LIST_BODY_MAX	(512u << 20)	/* one LIST page */
#define LINE_MAX_BYTES	(64u << 20)	/* one watch event */
#define ERROR_BODY_MAX	(64u << 10)
#define TOKEN_MAX	(64u << 10)

struct k8s_client {
	struct event_base *base;
	struct curl_ev *ce;
	char *server;
	char *token;			/* current token (never logged) */
	char *token_file;
	struct timespec token_mtime;
	off_t token_size;
	bool token_warned;

	char *ca_file, *cert_file, *key_file;
	struct curl_blob ca, cert, key;
	char *ca_buf, *cert_buf, *key_buf;
	bool insecure;
	uint64_t rng;
	struct get_req *gets;		/* one-off GETs in progress */
};

struct buf {
	char *p;
	size_t len, cap, max;
	bool overflow;
};

enum inf_mode {
	INF_LIST = 0,
	INF_WATCH,
};

struct k8s_informer {
	struct k8s_client *c;
	char *path;
	char *what;
	uint32_t page_size;
	uint32_t watch_timeout_s;
	const struct k8s_informer_ops *ops;
	void *arg;
	CURL *easy;
	bool busy;
	enum inf_mode mode;
	char *rv;
	char *cont;
	struct buf body;
	long status;
	uint32_t retry_after_ms;
	bool relist;			/* 410 on the watch: list again */
	bool watch_error;		/* ERROR event other than 410 */
	bool in_relist;			/* relist_begin said, relist_end not yet */
	unsigned failures;
	uint64_t started_ms;
	uint64_t watch_events;
	struct event *timer;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	struct k8s_informer_stats stats;
};

/* ------------------------------------------------------------ buffers */

static bool buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->max) {
		b->overflow = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->overflow = true;
			return false;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

static void buf_reset(struct buf *b, size_t max)
{
	b->len = 0;
	b->max = max;
	b->overflow = false;
	if (b->p)
		b->p[0] = '\0';
}

static uint32_t rnd32(struct k8s_client *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return (uint32_t)(c->rng >> 16);
}

/* ------------------------------------------------------------ client */

void k8s_warn_file_mode(const char *what, const char *path)
{
	struct stat st;

	if (path && stat(path, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)))
		log_warn("kubernetes: %s %s is readable or writable by others (mode %04o); "
			 "it holds a credential: chmod o-rw", what, path,
			 (unsigned)(st.st_mode & 07777));
}

/* Re-read the token file when it changed (projected tokens rotate). */
static void token_refresh(struct k8s_client *c)
{
	struct stat st;
	char hdr[TOKEN_MAX + 32];
	FILE *f;

	if (!c->token_file)
		return;
	if (stat(c->token_file, &st) < 0) {
		if (!c->token_warned)
			log_err("kubernetes: cannot read token file %s: %s", c->token_file,
				strerror(errno));
		c->token_warned = true;
		return;
	}
	if (c->token && st.st_mtim.tv_sec == c->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->token_mtime.tv_nsec && st.st_size == c->token_size)
		return;
	k8s_warn_file_mode("token file", c->token_file);
	f = fopen(c->token_file, "r");
	if (!f)
		return;
	size_t n = fread(hdr, 1, TOKEN_MAX, f);
	fclose(f);
	while (n && (hdr[n - 1] == '\n' || hdr[n - 1] == '\r' || hdr[n - 1] == ' '))
		n--;
	hdr[n] = '\0';
	free(c->token);
	c->token = strdup(hdr);
	c->token_mtime = st.st_mtim;
	c->token_size = st.st_size;
	c->token_warned = false;
	log_info("kubernetes: token loaded from %s (%zu bytes)", c->token_file, n);
	memset(hdr, 0, sizeof(hdr));	/* no token copies left lying around */
}

/*
 * Headers for one request. Each request owns its list (@p own, freed and
 * rebuilt here, freed by the owner at the end): a list shared by all
 * handles could be freed under a transfer that still uses it.
 */
static void request_headers(struct k8s_client *c, CURL *e, struct curl_slist **own)
{
	char hdr[TOKEN_MAX + 32];

	curl_slist_free_all(*own);
	*own = curl_slist_append(NULL, "Accept: application/json");
	if (c->token && *c->token) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", c->token);
		*own = curl_slist_append(*own, hdr);
		memset(hdr, 0, sizeof(hdr));
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *own);
}

static void setup_easy(struct k8s_client *c, CURL *e, const char *url,
		       struct curl_slist **hdrs, char *errbuf)
{
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	request_headers(c, e, hdrs);
	errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
	if (c->ca.data)
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &c->ca);
	else if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->cert.data) {
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &c->cert);
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &c->key);
	} else if (c->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	}
}

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

static char *dup_mem(const char *p, size_t n)
{
	char *d = p ? malloc(n + 1) : NULL;

	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

static void gets_abort(struct k8s_client *c);

struct k8s_client *k8s_client_create(struct event_base *base,
				     const struct k8s_client_params *p)
{
	struct k8s_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base = base;
	c->ce = curl_ev_create(base, 16);
	c->server = dup_opt(p->server);
	c->token = dup_opt(p->token);
	c->token_file = dup_opt(p->token_file);
	c->ca_file = dup_opt(p->ca_file);
	c->cert_file = dup_opt(p->cert_file);
	c->key_file = dup_opt(p->key_file);
	c->insecure = p->insecure;
	c->ca_buf = dup_mem(p->ca_data, p->ca_data_len);
	c->cert_buf = dup_mem(p->cert_data, p->cert_data_len);
	c->key_buf = dup_mem(p->key_data, p->key_data_len);
	c->ca = (struct curl_blob){ c->ca_buf, p->ca_data_len, CURL_BLOB_NOCOPY };
	c->cert = (struct curl_blob){ c->cert_buf, p->cert_data_len, CURL_BLOB_NOCOPY };
	c->key = (struct curl_blob){ c->key_buf, p->key_data_len, CURL_BLOB_NOCOPY };
	c->rng = clock_now_ms() * 0x9e3779b97f4a7c15ull | 1;
	if (!c->ce || !c->server) {
		k8s_client_delete(c);
		return NULL;
	}
	size_t l = strlen(c->server);
	while (l && c->server[l - 1] == '/')
		c->server[--l] = '\0';
	k8s_warn_file_mode("client key", c->key_file);
	token_refresh(c);
	return c;
}

void k8s_client_delete(struct k8s_client *c)
{
	if (!c)
		return;
	gets_abort(c);
	curl_ev_delete(c->ce);
	if (c->token)
		memset(c->token, 0, strlen(c->token));
	free(c->token);
	free(c->token_file);
	free(c->server);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->ca_buf);
	free(c->cert_buf);
	if (c->key_buf)
		memset(c->key_buf, 0, c->key.len);
	free(c->key_buf);
	free(c);
}

/* ------------------------------------------------------------ informer */

static void start_request(struct k8s_informer *inf);

static void retry_later(struct k8s_informer *inf)
{
	uint32_t ms = k8s_backoff_ms(inf->failures++, inf->retry_after_ms, rnd32(inf->c));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	inf->retry_after_ms = 0;
	log_debug("kubernetes %s: retrying in %u ms", inf->what, ms);
	evtimer_add(inf->timer, &tv);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	start_request(arg);
}

static void set_rv(struct k8s_informer *inf, const char *rv)
{
	char *d;

	if (!rv || !*rv || (inf->rv && strcmp(inf->rv, rv) == 0))
		return;
	d = strdup(rv);
	if (d) {
		free(inf->rv);
		inf->rv = d;
	}
}

static const char *obj_rv(const cJSON *obj)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(m, "resourceVersion");

	return cJSON_IsString(rv) ? rv->valuestring : NULL;
}

static void on_line(void *arg, char *text, size_t n)
{
	struct k8s_informer *inf = arg;
	cJSON *ev, *type, *obj;

	while (n && (*text == ' ' || *text == '\r')) {
		text++;
		n--;
	}
	if (!n || inf->relist)
		return;	/* blank, or the rest of a stream we are abandoning */
	ev = cJSON_ParseWithLength(text, n);
	type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	if (!cJSON_IsString(type) || !cJSON_IsObject(obj)) {
		inf->stats.bad_lines++;
		log_warn("kubernetes %s: skipped a malformed watch line (%zu bytes)", inf->what, n);
		cJSON_Delete(ev);
		return;
	}
	const char *t = type->valuestring;
	if (strcmp(t, "ADDED") == 0 || strcmp(t, "MODIFIED") == 0 ||
	    strcmp(t, "DELETED") == 0) {
		enum k8s_event_type et = t[0] == 'A' ? K8S_EVENT_ADDED :
					 t[0] == 'M' ? K8S_EVENT_MODIFIED : K8S_EVENT_DELETED;
		inf->stats.events++;
		inf->watch_events++;
		set_rv(inf, obj_rv(obj));
		inf->ops->object(inf->arg, et, obj);
	} else if (strcmp(t, "BOOKMARK") == 0) {
		inf->stats.bookmarks++;
		set_rv(inf, obj_rv(obj));
	} else if (strcmp(t, "ERROR") == 0) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(obj, "message");
		if (cJSON_IsNumber(code) && code->valueint == 410) {
			log_info("kubernetes %s: resourceVersion %s expired, listing again",
				 inf->what, inf->rv ? inf->rv : "");
			inf->relist = true;
		} else {
			log_warn("kubernetes %s: watch error %d: %s", inf->what,
				 cJSON_IsNumber(code) ? code->valueint : 0,
				 cJSON_IsString(msg) ? msg->valuestring : "?");
			inf->watch_error = true;
		}
	} else {
		inf->stats.bad_lines++;
		log_warn("kubernetes %s: skipped a watch event of type %.20s", inf->what, t);
	}
	cJSON_Delete(ev);
}

static size_t header_cb(char *b, size_t size, size_t n, void *arg)
{
	struct k8s_informer *inf = arg;
	size_t len = size * n;

	if (len > 12 && strncasecmp(b, "Retry-After:", 12) == 0) {
		long s = strtol(b + 12, NULL, 10);
		if (s > 0 && s < 3600)
			inf->retry_after_ms = (uint32_t)s * 1000;
	}
	return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct k8s_informer *inf = arg;
	size_t len = size * n;

	if (!inf->status)
		curl_easy_getinfo(inf->easy, CURLINFO_RESPONSE_CODE, &inf->status);
	if (inf->mode == INF_WATCH && inf->status == 200) {
		if (!buf_add(&inf->body, p, len))
			return 0;	/* one event larger than LINE_MAX_BYTES */
		k8s_split_lines(inf->body.p, &inf->body.len, on_line, inf);
		return inf->relist || inf->watch_error ? 0 : len;
	}
	return buf_add(&inf->body, p, len) ? len : 0;
}

static void list_page(struct k8s_informer *inf, cJSON *list)
{
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(list, "metadata");
	const cJSON *cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");

	if (!inf->cont && !inf->in_relist) {
		if (inf->stats.synced)
			inf->stats.relists++;
		inf->in_relist = true;
		inf->ops->relist_begin(inf->arg);
	}
	for (const cJSON *it = cJSON_IsArray(items) ? items->child : NULL; it; it = it->next) {
		if (cJSON_IsObject(it))
			inf->ops->object(inf->arg, K8S_EVENT_ADDED, it);
		else
			inf->stats.bad_lines++;
	}
	free(inf->cont);
	inf->cont = NULL;
	if (cJSON_IsString(cont) && *cont->valuestring) {
		inf->cont = strdup(cont->valuestring);
		return;
	}
	set_rv(inf, cJSON_IsString(rv) ? rv->valuestring : NULL);
	inf->in_relist = false;
	if (!inf->stats.synced)
		log_info("kubernetes %s: listed, watching from resourceVersion %s", inf->what,
			 inf->rv ? inf->rv : "?");
	inf->stats.synced = true;
	inf->mode = INF_WATCH;
	inf->ops->relist_end(inf->arg);
}

/* Say what the informer's step says about the request that ended. */
static void report(const struct k8s_informer *inf, enum k8s_report why, CURLcode res)
{
	const char *op = inf->mode == INF_LIST ? "list" : "watch";
	const cJSON *msg;
	cJSON *st;

	switch (why) {
	case K8S_REPORT_NONE:
		break;
	case K8S_REPORT_TRANSPORT:
		log_warn("kubernetes %s: %s %s: %s", inf->what, op, inf->path,
			 inf->errbuf[0] ? inf->errbuf : curl_easy_strerror(res));
		break;
	case K8S_REPORT_AUTH:
		log_err("kubernetes %s: HTTP %ld (%s): check the token or client certificate and the RBAC rules (get/list/watch %s)",
			inf->what, inf->status, inf->status == 401 ? "unauthorized" : "forbidden",
			inf->what);
		break;
	case K8S_REPORT_HTTP:
		st = inf->body.len ? cJSON_Parse(inf->body.p) : NULL;
		msg = cJSON_GetObjectItemCaseSensitive(st, "message");
		log_warn("kubernetes %s: %s %s: HTTP %ld%s%s", inf->what, op, inf->path,
			 inf->status, cJSON_IsString(msg) ? ": " : "",
			 cJSON_IsString(msg) ? msg->valuestring : "");
		cJSON_Delete(st);
		break;
	case K8S_REPORT_BAD_PAGE:
		log_warn("kubernetes %s: list response is not JSON", inf->what);
		break;
	case K8S_REPORT_CONTINUE_EXPIRED:
		log_info("kubernetes %s: list continuation expired, listing again", inf->what);
		break;
	case K8S_REPORT_WATCH_504:
		log_info("kubernetes %s: watch answered 504, listing again", inf->what);
		break;
	case K8S_REPORT_DROPPED:
		log_info("kubernetes %s: watch dropped (%s), resuming from %s", inf->what,
			 curl_easy_strerror(res), inf->rv ? inf->rv : "?");
		break;
	}
}

/* Gather what the request showed, let k8s_informer_next() decide, do it. */
static void done_cb(CURL *easy, CURLcode res, void *arg)
{
	struct k8s_informer *inf = arg;
	const struct k8s_informer_state st = { inf->mode == INF_WATCH, inf->cont != NULL };
	struct k8s_step step;
	cJSON *page = NULL;
	unsigned flags;

	inf->busy = false;
	if (!inf->status)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &inf->status);
	flags = (inf->relist ? K8S_INF_GONE : 0) | (inf->watch_error ? K8S_INF_STREAM_ERROR : 0) |
		(inf->watch_events || clock_now_ms() - inf->started_ms > 1000 ?
		 K8S_INF_LIVELY : 0);
	step = k8s_informer_next(&st, inf->status, res, flags);
	if (step.next == K8S_NEXT_PAGE) {
		page = cJSON_ParseWithLength(inf->body.p, inf->body.len);
		if (!page)
			step = k8s_informer_next(&st, inf->status, res, flags | K8S_INF_BAD_PAGE);
	}
	report(inf, step.report, res);
	inf->relist = inf->watch_error = false;
	if (step.error)
		inf->stats.errors++;
	if (step.relist) {
		inf->mode = INF_LIST;
		free(inf->cont);
		inf->cont = NULL;
	}
	if (page) {
		list_page(inf, page);
		cJSON_Delete(page);
	}
	if (step.reset_backoff)
		inf->failures = 0;
	if (step.next == K8S_NEXT_BACKOFF)
		retry_later(inf);
	else
		start_request(inf);
}

static void start_request(struct k8s_informer *inf)
{
	char url[4096];
	int n;

	if (inf->busy)
		return;
	token_refresh(inf->c);
	if (inf->mode == INF_LIST) {
		char *esc = inf->cont ? curl_easy_escape(inf->easy, inf->cont, 0) : NULL;
		n = snprintf(url, sizeof(url), "%s%s?limit=%u%s%s", inf->c->server, inf->path,
			     inf->page_size, esc ? "&continue=" : "", esc ? esc : "");
		curl_free(esc);
		inf->stats.lists++;
		buf_reset(&inf->body, LIST_BODY_MAX);
	} else {
		/* like client-go: a random timeout in [T, 2T) spreads reconnects */
		uint32_t t = inf->watch_timeout_s + rnd32(inf->c) % inf->watch_timeout_s;
		char *esc = curl_easy_escape(inf->easy, inf->rv ? inf->rv : "", 0);
		n = snprintf(url, sizeof(url),
			     "%s%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%u",
			     inf->c->server, inf->path, esc ? esc : "", t);
		curl_free(esc);
		inf->stats.watches++;
		inf->watch_events = 0;
		buf_reset(&inf->body, LINE_MAX_BYTES);
	}
	if (n < 0 || (size_t)n >= sizeof(url)) {
		log_err("kubernetes %s: request URL too long", inf->what);
		return;
	}
	setup_easy(inf->c, inf->easy, url, &inf->hdrs, inf->errbuf);
	curl_easy_setopt(inf->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(inf->easy, CURLOPT_WRITEDATA, inf);
	curl_easy_setopt(inf->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(inf->easy, CURLOPT_HEADERDATA, inf);
	/* a stream that says nothing (not even a bookmark) for this long is
	 * stalled: drop it and resume */
	curl_easy_setopt(inf->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(inf->easy, CURLOPT_LOW_SPEED_TIME,
			 inf->mode == INF_LIST ? 60L : (long)inf->watch_timeout_s * 2 + 30);
	inf->status = 0;
	inf->retry_after_ms = 0;
	inf->relist = inf->watch_error = false;
	inf->started_ms = clock_now_ms();
	if (curl_ev_add(inf->c->ce, inf->easy, done_cb, inf) < 0) {
		log_err("kubernetes %s: cannot start a request", inf->what);
		retry_later(inf);
		return;
	}
	inf->busy = true;
}

struct k8s_informer *k8s_informer_create(struct k8s_client *c, const char *path,
					 const char *what, uint32_t page_size,
					 uint32_t watch_timeout_s,
					 const struct k8s_informer_ops *ops, void *arg)
{
	struct k8s_informer *inf = calloc(1, sizeof(*inf));

	if (!inf)
		return NULL;
	inf->c = c;
	inf->path = strdup(path);
	inf->what = strdup(what);
	inf->page_size = page_size ? page_size : 500;
	inf->watch_timeout_s = watch_timeout_s ? watch_timeout_s : 300;
	inf->ops = ops;
	inf->arg = arg;
	inf->easy = curl_easy_init();
	inf->timer = evtimer_new(c->base, timer_cb, inf);
	if (!inf->path || !inf->what || !inf->easy || !inf->timer) {
		k8s_informer_delete(inf);
		return NULL;
	}
	start_request(inf);
	return inf;
}

void k8s_informer_delete(struct k8s_informer *inf)
{
	if (!inf)
		return;
	if (inf->busy)
		curl_ev_remove(inf->c->ce, inf->easy);
	if (inf->timer)
		event_free(inf->timer);
	if (inf->easy)
		curl_easy_cleanup(inf->easy);
	curl_slist_free_all(inf->hdrs);
	free(inf->body.p);
	free(inf->rv);
	free(inf->cont);
	free(inf->path);
	free(inf->what);
	free(inf);
}

const struct k8s_informer_stats *k8s_informer_stats(const struct k8s_informer *inf)
{
	return &inf->stats;
}

const char *k8s_informer_rv(const struct k8s_informer *inf)
{
	return inf->rv ? inf->rv : "";
}

/* ------------------------------------------------------------ one GET */

struct get_req {
	struct get_req *prev, *next;
	struct k8s_client *c;
	char *path;
	unsigned tries, attempt;
	void (*cb)(void *arg, const cJSON *obj);
	void *arg;
	CURL *easy;
	struct buf body;
	struct event *timer;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
};

static void get_free(struct get_req *g)
{
	if (g->prev)
		g->prev->next = g->next;
	else if (g->c->gets == g)
		g->c->gets = g->next;
	if (g->next)
		g->next->prev = g->prev;
	curl_easy_cleanup(g->easy);
	curl_slist_free_all(g->hdrs);
	event_free(g->timer);
	free(g->body.p);
	free(g->path);
	free(g);
}

static void get_start(struct get_req *g);

static size_t get_write(char *p, size_t size, size_t n, void *arg)
{
	struct get_req *g = arg;

	return buf_add(&g->body, p, size * n) ? size * n : 0;
}

static void get_done(CURL *easy, CURLcode res, void *arg)
{
	struct get_req *g = arg;
	long status = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (res == CURLE_OK && status == 200) {
		cJSON *obj = cJSON_ParseWithLength(g->body.p, g->body.len);
		if (obj) {
			g->cb(g->arg, obj);
			cJSON_Delete(obj);
			get_free(g);
			return;
		}
	}
	log_warn("kubernetes: GET %s failed (%s, HTTP %ld), attempt %u of %u", g->path,
		 curl_easy_strerror(res), status, g->attempt, g->tries);
	if (g->attempt >= g->tries) {
		g->cb(g->arg, NULL);
		get_free(g);
		return;
	}
	uint32_t ms = k8s_backoff_ms(g->attempt - 1, 0, rnd32(g->c));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(g->timer, &tv);
}

static void get_timer(evutil_socket_t fd, short what, void *arg)
{
	get_start(arg);
}

static void get_start(struct get_req *g)
{
	char url[4096];

	g->attempt++;
	token_refresh(g->c);
	snprintf(url, sizeof(url), "%s%s", g->c->server, g->path);
	setup_easy(g->c, g->easy, url, &g->hdrs, g->errbuf);
	curl_easy_setopt(g->easy, CURLOPT_WRITEFUNCTION, get_write);
	curl_easy_setopt(g->easy, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(g->easy, CURLOPT_TIMEOUT_MS, 15000L);
	buf_reset(&g->body, ERROR_BODY_MAX * 16);
	if (curl_ev_add(g->c->ce, g->easy, get_done, g) < 0) {
		g->cb(g->arg, NULL);
		get_free(g);
	}
}

static void gets_abort(struct k8s_client *c)
{
	while (c->gets) {
		curl_ev_remove(c->ce, c->gets->easy);
		get_free(c->gets);
	}
}

int k8s_client_get(struct k8s_client *c, const char *path, unsigned tries,
		   void (*cb)(void *arg, const cJSON *obj), void *arg)
{
	struct get_req *g = calloc(1, sizeof(*g));

	if (!g)
		return MESHDNS_ENOMEM;
	g->c = c;
	g->path = strdup(path);
	g->tries = tries ? tries : 1;
	g->cb = cb;
	g->arg = arg;
	g->easy = curl_easy_init();
	g->timer = evtimer_new(c->base, get_timer, g);
	if (!g->path || !g->easy || !g->timer) {
		get_free(g);
		return MESHDNS_ENOMEM;
	}
	g->next = c->gets;
	if (c->gets)
		c->gets->prev = g;
	c->gets = g;
	get_start(g);
	return 0;
}
