/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The running agent: owns the event base, the registry, the DNS server and
 * the signal handling (SIGTERM/SIGINT stop, SIGHUP reloads the config).
 */
#ifndef MESHDNS_DAEMON_H
#define MESHDNS_DAEMON_H

#include "meshdns/config.h"
#include "meshdns/error.h"

struct daemon;

/**
 * Create the agent from a validated config and bind its sockets.
 * @param cfg  ownership passes to the daemon
 * @return NULL on failure (logged)
 */
struct daemon *daemon_create(struct config *cfg);

/** Run the loop until SIGTERM/SIGINT. @return 0 on a clean stop. */
int daemon_run(struct daemon *d);

/** Free everything. NULL is fine. */
void daemon_delete(struct daemon *d);

#endif
