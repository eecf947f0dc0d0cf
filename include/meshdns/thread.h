/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Thread contracts. Most of meshdns runs on one thread, the libevent loop
 * thread; only the UDP workers (src/net/workers.c) run beside it, and they
 * touch nothing but their own state, the current snapshot and their rings.
 * Entry points that must run on the loop thread say so with
 * THREAD_LOOP_ONLY(): with --enable-debug a call from another thread
 * aborts; otherwise it costs nothing.
 */
#ifndef MESHDNS_THREAD_H
#define MESHDNS_THREAD_H

#include <assert.h>
#include <stdbool.h>

/** The calling thread is the loop thread from now on (daemon_create). */
void thread_mark_loop(void);

/** Forget it (daemon_delete). */
void thread_unmark_loop(void);

/** Is this the loop thread? True while none is marked (unit tests). */
bool thread_is_loop(void);

#ifdef NDEBUG
#define THREAD_LOOP_ONLY()	((void)0)
#else
#define THREAD_LOOP_ONLY()	assert(thread_is_loop())
#endif

#endif
