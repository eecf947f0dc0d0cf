/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * meshdns_strerror(): text for MESHDNS_E* codes.
 */
#include "config.h"

#include <string.h>

#include "meshdns/error.h"

const char *meshdns_strerror(int code)
{
	switch (code) {
	case MESHDNS_EOK:
		return "ok";
	case MESHDNS_EMALF:
		return "malformed input";
	case MESHDNS_ECONFIG:
		return "configuration rejected";
	case MESHDNS_ESPACE:
		return "no space left in buffer";
	default:
		if (code < 0 && code > -1000)
			return strerror(-code);
		return "unknown error";
	}
}
