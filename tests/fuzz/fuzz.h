/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 the meshdns authors
 *
 * The libFuzzer entry point every target defines. Built with
 * --enable-fuzzing they are libFuzzer programs; otherwise replay.c drives
 * them over the committed corpora in make check.
 */
#ifndef MESHDNS_FUZZ_H
#define MESHDNS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
