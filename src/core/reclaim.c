/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Quiescent-state based reclamation of snapshots; the argument for why it
 * is safe is in include/meshdns/reclaim.h.
 */
#include "config.h"

#include <event2/event.h>
#include <sched.h>
#include <stdlib.h>

#include "meshdns/reclaim.h"
#include "meshdns/snapshot.h"
#include "meshdns/thread.h"

static void reclaim_cb(evutil_socket_t fd, short what, void *arg);

struct reclaim *reclaim_create(struct event_base *base, unsigned n_readers)
{
	struct reclaim *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	rc->readers = aligned_alloc(64, (n_readers ? n_readers : 1) * sizeof(*rc->readers));
	rc->timer = evtimer_new(base, reclaim_cb, rc);
	if (!rc->readers || !rc->timer) {
		reclaim_delete(rc);
		return NULL;
	}
	rc->n_readers = n_readers;
	for (unsigned i = 0; i < n_readers; i++)
		rc->readers[i].qs = RECLAIM_OFFLINE;
	return rc;
}

struct reclaim_reader *reclaim_reader_of(struct reclaim *rc, unsigned i)
{
	return &rc->readers[i];
}

/* The oldest epoch a reader may still be reading a snapshot of. */
static uint64_t oldest_held(const struct reclaim *rc)
{
	uint64_t seen = UINT64_MAX;

	for (unsigned i = 0; i < rc->n_readers; i++) {
		uint64_t qs = __atomic_load_n(&rc->readers[i].qs, __ATOMIC_SEQ_CST);
		if (qs < seen)
			seen = qs;
	}
	return seen;
}

/* Free the retired snapshots no reader can be reading any more; look
 * again in 1 ms while some are left. */
static void reclaim_run(struct reclaim *rc)
{
	uint64_t seen = oldest_held(rc);
	size_t keep = 0;

	for (size_t i = 0; i < rc->n_retired; i++) {
		if (rc->retired[i].epoch <= seen)
			snapshot_delete(rc->retired[i].snap);
		else
			rc->retired[keep++] = rc->retired[i];
	}
	rc->n_retired = keep;
	if (keep && !evtimer_pending(rc->timer, NULL)) {
		struct timeval tv = { 0, 1000 };
		evtimer_add(rc->timer, &tv);
	}
}

static void reclaim_cb(evutil_socket_t fd, short what, void *arg)
{
	reclaim_run(arg);
}

void reclaim_retire(struct reclaim *rc, struct snapshot *old)
{
	uint64_t e = __atomic_add_fetch(&rc->epoch, 1, __ATOMIC_SEQ_CST);

	THREAD_LOOP_ONLY();
	if (rc->n_retired == rc->cap_retired) {
		size_t cap = rc->cap_retired ? 2 * rc->cap_retired : 16;
		struct reclaim_retired *r = realloc(rc->retired, cap * sizeof(*r));
		if (!r) {
			/* no room to wait: wait here until no reader holds it */
			while (oldest_held(rc) < e)
				sched_yield();
			snapshot_delete(old);
			return;
		}
		rc->retired = r;
		rc->cap_retired = cap;
	}
	rc->retired[rc->n_retired++] = (struct reclaim_retired){ old, e };
	reclaim_run(rc);
}

size_t reclaim_pending(const struct reclaim *rc)
{
	return rc->n_retired;
}

void reclaim_delete(struct reclaim *rc)
{
	if (!rc)
		return;
	for (size_t i = 0; i < rc->n_retired; i++)
		snapshot_delete(rc->retired[i].snap);
	if (rc->timer)
		event_free(rc->timer);
	free(rc->retired);
	free(rc->readers);
	free(rc);
}
