/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * Error codes shared by every module: 0 is success, failures are negative
 * MESHDNS_E* values built on errno numbers where one fits (like Knot's).
 */
#ifndef MESHDNS_ERROR_H
#define MESHDNS_ERROR_H

#include <errno.h>

#define MESHDNS_EOK		0
#define MESHDNS_ENOMEM		(-ENOMEM)
#define MESHDNS_EINVAL		(-EINVAL)
#define MESHDNS_ENOENT		(-ENOENT)
#define MESHDNS_EEXIST		(-EEXIST)
#define MESHDNS_ERANGE		(-ERANGE)
#define MESHDNS_ESPACE		(-ENOSPC)	/* output buffer too small */
#define MESHDNS_EMALF		(-1000)		/* malformed input */
#define MESHDNS_ECONFIG		(-1001)		/* configuration rejected */

#define MESHDNS_WUR __attribute__((warn_unused_result))

/**
 * Human-readable text for a MESHDNS_E* code.
 * @param code  a value returned by a meshdns function
 * @return a static string; never NULL. Any thread.
 */
const char *meshdns_strerror(int code);

#endif
