/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The mutable truth about services, owned by the loop thread. Sources
 * (static config, Kubernetes) set and remove services; each change marks
 * the registry dirty, and registry_publish() turns the current state into
 * a new immutable snapshot with one pointer swap. Only the changed
 * services are rebuilt; the others are shared with the previous snapshot.
 *
 * Loop thread only, except registry_snapshot(), see there.
 */
#ifndef MESHDNS_REGISTRY_H
#define MESHDNS_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meshdns/error.h"
#include "meshdns/service.h"
#include "meshdns/snapshot.h"

struct registry;

/** Who set a service: a reload of one source never touches the other's. */
enum registry_source {
	REGISTRY_SOURCE_STATIC = 0,	/* the config file */
	REGISTRY_SOURCE_K8S,		/* the Kubernetes API */
};

/** Called once when the registry goes from clean to dirty. */
typedef void (*registry_dirty_cb)(void *arg);

/**
 * Called after a service is set (@p live non-NULL: the service's live
 * state, valid until the service is removed) and before one is removed
 * (@p live NULL). @p spec is the registry's copy, valid during the call.
 */
typedef void (*registry_observer_cb)(void *arg, const struct svc_spec *spec,
				     struct svc_live *live);

/**
 * Create an empty registry; publishes an empty snapshot at once.
 * @param p  copied
 * @return NULL on failure (no memory, bad domain)
 */
struct registry *registry_create(const struct snapshot_params *p);

/** Free the registry and its snapshots. NULL is fine. */
void registry_delete(struct registry *r);

/**
 * Add or replace a service (matched by namespace and name).
 * @param spec  copied; the caller keeps it
 * @return 0 or MESHDNS_ENOMEM (the registry keeps its previous state)
 */
int registry_set_service(struct registry *r, enum registry_source source,
			 const struct svc_spec *spec) MESHDNS_WUR;

/**
 * Remove a service. @return 0 or MESHDNS_ENOENT.
 */
int registry_remove_service(struct registry *r, const char *ns, const char *name);

/**
 * Replace the services of @p source by @p specs: its services not in the
 * list are removed, unchanged ones keep their objects and health. Used by
 * config reload, so that answers never go through an empty state.
 * @return 0 or MESHDNS_ENOMEM
 */
int registry_replace_all(struct registry *r, enum registry_source source,
			 const struct svc_spec *specs, size_t n) MESHDNS_WUR;

/**
 * Publish pending changes as a new snapshot (no-op when nothing changed).
 * The previous snapshot is retired: freed once no reader can hold it (with
 * all readers on the loop thread, at once).
 * @return 0 or MESHDNS_ENOMEM (the previous snapshot stays current)
 */
int registry_publish(struct registry *r) MESHDNS_WUR;

/**
 * Record an endpoint's health; answers change at the next publish when
 * healthy or load_pct changed.
 * @param hint  the endpoint's index in the spec, checked, else searched
 * @return 0 or MESHDNS_ENOENT (service or endpoint gone)
 */
int registry_set_health(struct registry *r, const char *ns, const char *name,
			size_t hint, int family, const uint8_t *addr,
			const struct ep_health *h);

/**
 * Change the answer policy (zone, zone preference, max_answers); every
 * service is rebuilt at the next publish. @return 0 or MESHDNS_ENOMEM
 */
int registry_set_policy(struct registry *r, const struct snap_policy *p) MESHDNS_WUR;

/**
 * Mark whether every source has delivered its first complete state. While
 * not, negative answers for the mesh become SERVFAIL (a fresh agent must
 * not tell pods that a service does not exist).
 */
void registry_set_synced(struct registry *r, bool synced);

/** Set the callback that schedules a publish (the daemon coalesces). */
void registry_set_dirty_cb(struct registry *r, registry_dirty_cb cb, void *arg);

/** Set the one observer of service changes (the prober). */
void registry_set_observer(struct registry *r, registry_observer_cb cb, void *arg);

/**
 * Who frees replaced snapshots. By default the registry deletes the old
 * one as it publishes the new; a server with worker threads takes them
 * instead and deletes each once no thread can still be reading it
 * (@p cb then owns it and must call snapshot_delete() on the loop thread;
 * reclaim.h does, and says why the order of the two is safe).
 */
typedef void (*registry_retire_cb)(void *arg, struct snapshot *old);
void registry_set_retire(struct registry *r, registry_retire_cb cb, void *arg);

/**
 * The current snapshot. Valid until the next registry_publish() on the
 * loop thread (or, with a retire callback, until the callback lets it
 * go). Never NULL. Any thread may call it (an acquire load).
 */
const struct snapshot *registry_snapshot(const struct registry *r);

/** Number of services currently held. */
size_t registry_count(const struct registry *r);

#endif
