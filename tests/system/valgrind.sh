#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# meshdns under valgrind memcheck: static services with a TCP probe, the
# forwarder and cache against a local unbound, the ops endpoint; queries
# of every kind (A, SRV, NXDOMAIN, TXT _status, forwarded, TCP, garbage),
# then SIGTERM. Zero memcheck errors and no definitely lost bytes; and the
# mesh UDP path allocates nothing per query (heap allocation counts of a
# run with 10,000 more queries are compared). Then all of it again with two
# worker threads.
. "$(dirname "$0")/lib.sh"
need_cmd valgrind
if grep -q __asan_init "$MESHDNS" 2>/dev/null; then
	skip_all "the sanitizer build cannot run under valgrind"
fi

cat >"$TMP/q.py" <<'PY'
import socket, struct, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
names = [(b"\x03web\x07default\x03svc\x04mesh\x05local\x00", 1),
         (b"\x03web\x07default\x03svc\x04mesh\x05local\x00", 33),
         (b"\x05nosuch\x07default\x03svc\x04mesh\x05local\x00", 1)]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
for i in range(n):
    q, t = names[i % 3]
    s.sendto(struct.pack(">HHHHHH", i & 0xffff, 0x100, 1, 0, 0, 0) + q + struct.pack(">HH", t, 1),
             ("127.0.0.1", port))
    s.recv(4096)
PY

run() {	# run N [THREADS]: meshdns under memcheck answering N mesh queries
	local port http vlog n=$1 threads=${2:-1}
	port=$(python3 "$PYTOOL" freeport 0)
	http=$(python3 "$PYTOOL" freeport 0)
	vlog=$TMP/vg-$n-$threads.txt
	cat >"$TMP/vg.conf" <<EOF
{ "listen": ["127.0.0.1:$port"], "http": "127.0.0.1:$http", "log_level": "warn",
  "threads": $threads,
  "services": [{"name": "web", "ports": [{"name": "http", "port": $port}],
    "probe": {"type": "tcp", "interval_ms": 200, "timeout_ms": 100},
    "endpoints": [{"address": "127.0.0.1"}, {"address": "127.0.0.2"}, {"address": "fd00::1"}]}] }
EOF
	valgrind --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite \
		--log-file="$vlog" "$MESHDNS" -c "$TMP/vg.conf" 2>"$TMP/vg-$n-$threads.err" &
	VG=$!
	for _ in $(seq 100); do
		dig @127.0.0.1 -p "$port" +time=1 +tries=1 mesh.local SOA >/dev/null 2>&1 && break
		sleep 0.2
	done
	python3 "$TMP/q.py" "$port" "$n"
	dig @127.0.0.1 -p "$port" +tcp web.default.svc.mesh.local >/dev/null
	dig @127.0.0.1 -p "$port" TXT _status.web.default.svc.mesh.local >/dev/null
	curl -s "http://127.0.0.1:$http/metrics" >/dev/null
	curl -s "http://127.0.0.1:$http/debug/services" >/dev/null
	python3 "$PYTOOL" send 127.0.0.1 "$port" deadbeef >/dev/null 2>&1 || true
	sleep 0.5
	kill -TERM "$VG"
	wait "$VG"
	VG_RC=$?
	VG_LOG=$vlog
}
on_exit 'kill $VG 2>/dev/null'
run 100
rc100=$VG_RC
allocs100=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' "$VG_LOG" | tr -d ,)
grep -E 'ERROR SUMMARY|definitely lost|total heap usage' "$VG_LOG" | sed 's/^/# /'
expect_eq "$rc100" 0 "memcheck: no errors and no definite leaks (exit status)"
check "memcheck: ERROR SUMMARY is 0" grep -q 'ERROR SUMMARY: 0 errors' "$VG_LOG"
run 10100
allocs10100=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' "$VG_LOG" | tr -d ,)
note "heap allocations: $allocs100 with 100 queries, $allocs10100 with 10,100"
expect_eq "$VG_RC" 0 "memcheck: clean with 10,100 queries too"
# probes keep running meanwhile (each TCP probe allocates its event): allow
# a little, but 10,000 queries must not add one allocation each
check "the mesh UDP path allocates nothing per query" \
	test $((allocs10100 - allocs100)) -lt 1000

# the same with two worker threads: snapshots retired across threads and
# the workers' own state are freed, and a worker allocates nothing per query
run 100 2
allocs100=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' "$VG_LOG" | tr -d ,)
expect_eq "$VG_RC" 0 "threads 2: memcheck: no errors and no definite leaks"
run 10100 2
allocs10100=$(sed -n 's/.*total heap usage: \([0-9,]*\) allocs.*/\1/p' "$VG_LOG" | tr -d ,)
note "threads 2: heap allocations: $allocs100 with 100 queries, $allocs10100 with 10,100"
expect_eq "$VG_RC" 0 "threads 2: memcheck: clean with 10,100 queries too"
check "threads 2: a worker's UDP path allocates nothing per query" \
	test $((allocs10100 - allocs100)) -lt 1000
finish
