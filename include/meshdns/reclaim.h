/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * When may a replaced snapshot be freed? Quiescent-state based
 * reclamation for the worker threads that answer from snapshots without a
 * lock. The whole memory-ordering argument is here; registry_publish()'s
 * part in it is one seq_cst store.
 *
 * The loop thread publishes (registry_publish(): a seq_cst store of the
 * new snapshot), then retires the old one here: reclaim_retire() bumps
 * the epoch (seq_cst) and files the old snapshot under the new epoch.
 * A reader, before it loads the snapshot for a batch, announces the epoch
 * it has seen (reclaim_online(): a load of the epoch, a store of it, a
 * seq_cst fence so that the store is ordered before the snapshot load),
 * and announces QS_OFFLINE when it goes to sleep holding none.
 *
 * A snapshot retired at epoch e is freed once every reader is offline or
 * has announced e or later. Why that is safe: all of these accesses are
 * seq_cst (or ordered by the fence), so they fall in one total order. A
 * reader that announced e' >= e read the epoch after it was bumped to e,
 * which came after the store of the new snapshot: its snapshot load, after
 * its announcement, sees the new snapshot or a later one. A reader that
 * announced an older epoch may hold the old snapshot, and blocks it. An
 * offline reader holds nothing, and announces again before it loads.
 *
 * Threads: reclaim_online()/reclaim_offline() on the reader's own thread;
 * everything else on the loop thread.
 */
#ifndef MESHDNS_RECLAIM_H
#define MESHDNS_RECLAIM_H

#include <stddef.h>
#include <stdint.h>

struct event;
struct event_base;
struct snapshot;

/* A reader's announcement; one per reader thread, written by it alone. */
struct reclaim_reader {
	uint64_t qs;			/* epoch seen, or RECLAIM_OFFLINE */
} __attribute__((aligned(64)));

#define RECLAIM_OFFLINE		UINT64_MAX

struct reclaim_retired {
	struct snapshot *snap;
	uint64_t epoch;			/* freed once every reader saw it */
};

/* Open so that readers announce without a call; the loop thread's. */
struct reclaim {
	uint64_t epoch;			/* retirements so far */
	struct reclaim_reader *readers;
	unsigned n_readers;
	struct reclaim_retired *retired;
	size_t n_retired, cap_retired;
	struct event *timer;
};

/**
 * A reclamation domain for @p n_readers reader threads (all offline to
 * begin with); retired snapshots wait on a 1 ms timer of @p base.
 * @return NULL when out of memory
 */
struct reclaim *reclaim_create(struct event_base *base, unsigned n_readers);

/** Reader @p i's announcement slot (0 <= i < n_readers). */
struct reclaim_reader *reclaim_reader_of(struct reclaim *rc, unsigned i);

/** Reader: about to load the snapshot; announce the epoch seen. */
static inline void reclaim_online(const struct reclaim *rc, struct reclaim_reader *r)
{
	__atomic_store_n(&r->qs, __atomic_load_n(&rc->epoch, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELAXED);
	/* store-load: the announcement before the snapshot load */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/** Reader: done with the snapshot until it announces again. */
static inline void reclaim_offline(struct reclaim_reader *r)
{
	__atomic_store_n(&r->qs, RECLAIM_OFFLINE, __ATOMIC_RELEASE);
}

/**
 * Loop thread, right after the publish that replaced @p old: free it as
 * soon as no reader can hold it (now, or on a later timer tick). Out of
 * memory for the list: waits here until no reader holds it.
 */
void reclaim_retire(struct reclaim *rc, struct snapshot *old);

/** Retired snapshots still waiting for a reader. */
size_t reclaim_pending(const struct reclaim *rc);

/** Free the domain and every snapshot still retired (readers stopped). */
void reclaim_delete(struct reclaim *rc);

#endif
