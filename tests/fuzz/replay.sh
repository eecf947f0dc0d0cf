#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Replays every committed fuzz corpus through its target (built without
# libFuzzer) so make check catches regressions; sanitizers catch the rest.
set -u
rc=0
for t in dns k8s config; do
	"${BUILDDIR}/tests/fuzz/replay_$t" "${SRCDIR}/tests/fuzz/corpus/$t" || rc=1
done
exit $rc
