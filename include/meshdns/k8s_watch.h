/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Talking to the API server the way client-go's reflector does, in C on
 * the libevent loop: a client (URL, bearer token re-read when its file
 * changes, TLS) and informers, each of which LISTs one resource with
 * paging, then WATCHes it from the list's resourceVersion with bookmarks,
 * re-watches from the last resourceVersion when a stream ends, relists on
 * 410 Gone, and backs off exponentially with jitter (honouring
 * Retry-After) on errors. All HTTP goes through curl_ev. Loop thread only.
 */
#ifndef MESHDNS_K8S_WATCH_H
#define MESHDNS_K8S_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/error.h"
#include "meshdns/k8s_informer.h"

struct cJSON;
struct event_base;
struct k8s_client;
struct k8s_informer;

/** How to reach the API server. Strings are copied. */
struct k8s_client_params {
	const char *server;		/* https://HOST:PORT, no trailing path */
	const char *token;		/* a fixed token, or NULL */
	const char *token_file;		/* re-read when it changes, or NULL */
	const char *ca_file;
	const char *ca_data;		/* PEM in memory (kubeconfig), or NULL */
	size_t ca_data_len;
	const char *cert_file, *key_file;
	const char *cert_data, *key_data;	/* PEM in memory */
	size_t cert_data_len, key_data_len;
	bool insecure;			/* skip TLS verification (never default) */
};

/** Warn (once per call) when the credential file @p path is readable or
 * writable by others; @p what names it in the message. NULL is fine. */
void k8s_warn_file_mode(const char *what, const char *path);

/** @return a client or NULL (logged) */
struct k8s_client *k8s_client_create(struct event_base *base,
				     const struct k8s_client_params *p);

/** Free; informers must be gone. NULL is fine. */
void k8s_client_delete(struct k8s_client *c);

enum k8s_event_type {
	K8S_EVENT_ADDED = 0,
	K8S_EVENT_MODIFIED,
	K8S_EVENT_DELETED,
};

/** What an informer reports. @p obj lives only during the call. */
struct k8s_informer_ops {
	/** A full LIST starts: what follows replaces what was known. */
	void (*relist_begin)(void *arg);
	/** An object from a LIST page or a watch event. */
	void (*object)(void *arg, enum k8s_event_type type, const struct cJSON *obj);
	/** The LIST is complete: objects not reported since relist_begin are gone. */
	void (*relist_end)(void *arg);
};

/** Counters of one informer. */
struct k8s_informer_stats {
	uint64_t lists;			/* LIST requests (pages) */
	uint64_t relists;		/* full LISTs after the first */
	uint64_t watches;		/* WATCH requests */
	uint64_t events;		/* ADDED/MODIFIED/DELETED received */
	uint64_t bookmarks;
	uint64_t bad_lines;		/* unparsable or unexpected stream lines */
	uint64_t errors;		/* failed requests (HTTP or transport) */
	bool synced;			/* first LIST complete */
};

/**
 * Start listing and watching @p path (e.g. "/api/v1/services").
 * @param what   resource name for logs ("services")
 * @return an informer or NULL
 */
struct k8s_informer *k8s_informer_create(struct k8s_client *c, const char *path,
					 const char *what, uint32_t page_size,
					 uint32_t watch_timeout_s,
					 const struct k8s_informer_ops *ops, void *arg);

/** Stop and free. NULL is fine. */
void k8s_informer_delete(struct k8s_informer *inf);

const struct k8s_informer_stats *k8s_informer_stats(const struct k8s_informer *inf);

/** The last resourceVersion seen ("" before the first list). */
const char *k8s_informer_rv(const struct k8s_informer *inf);

/**
 * GET one object (e.g. "/api/v1/nodes/NAME") and pass it to @p cb (NULL on
 * failure, after retries with backoff up to @p tries attempts).
 * @return 0 or MESHDNS_ENOMEM
 */
int k8s_client_get(struct k8s_client *c, const char *path, unsigned tries,
		   void (*cb)(void *arg, const struct cJSON *obj), void *arg) MESHDNS_WUR;

#endif
