/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 */
#include "config.h"

#include <pthread.h>

#include "meshdns/thread.h"

/* Written before any worker starts, read-only while they run. */
static pthread_t loop_thread;
static bool loop_marked;

void thread_mark_loop(void)
{
	loop_thread = pthread_self();
	loop_marked = true;
}

void thread_unmark_loop(void)
{
	loop_marked = false;
}

bool thread_is_loop(void)
{
	return !loop_marked || pthread_equal(loop_thread, pthread_self());
}
