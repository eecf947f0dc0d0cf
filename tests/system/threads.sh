#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# "threads": N worker threads answer UDP from their own SO_REUSEPORT
# sockets. What users see must not change: mesh answers, and the queries
# workers hand to the loop thread (forwarded names, PTR, _status) are
# answered; counters add up; and answers stay whole while the registry
# changes under load (snapshots are reclaimed only when no worker can read
# them: under ASan a use-after-free here is a report in the log).

. "$(dirname "$0")/lib.sh"

FLOOD=$SRCDIR/tests/system/flood.py
WEB=web.default.svc.mesh.local

# An upstream for forwarded names: answers every A query with 192.0.2.7.
UP_PORT=$(python3 "$PYTOOL" freeport 0) || hard_error "no free port"
cat >"$TMP/upstream.py" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    m, peer = s.recvfrom(4096)
    if len(m) < 17:
        continue
    end = m.index(b"\0", 12) + 5
    hdr = m[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
    s.sendto(hdr + m[12:end] + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4)
             + socket.inet_aton("192.0.2.7"), peer)
PY
python3 "$TMP/upstream.py" "$UP_PORT" &
UP_PID=$!
on_exit 'kill "$UP_PID" 2>/dev/null; wait "$UP_PID" 2>/dev/null'

config() {	# config SERVICES-JSON (threads from the file, not the command line)
	cat <<EOF
{ "listen": [@LISTEN@], "threads": 4, "http": "127.0.0.1:@HTTP@",
  "forward": { "upstreams": ["127.0.0.1:$UP_PORT"] },
  "rate_limit": { "responses_per_second": 0 },
  "node": { "name": "node-1", "zone": "z1" },
  "services": [ $1 ] }
EOF
}
SET_A='{ "name": "web", "endpoints": [ {"address": "10.0.0.1"}, {"address": "10.0.0.2"} ] }'
SET_B='{ "name": "web", "endpoints": [ {"address": "10.0.0.3"}, {"address": "10.0.0.4"}, {"address": "10.0.0.5"} ] }'

HTTP=$(python3 "$PYTOOL" freeport 0) || hard_error "no free port"
tmpl=$(config "$SET_A")
MESHDNS_TEST_THREADS="" start_server <<<"${tmpl//@HTTP@/$HTTP}"
metric() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

tasks=$(find "/proc/$PID/task" -mindepth 1 -maxdepth 1 | wc -l)
expect_ge "$tasks" 5 "threads 4: four worker threads beside the loop thread"
check "threads: logged" grep -q "answering UDP with 4 worker threads" "$LOG"

q "$WEB" A
expect_rdata ANSWER A 10.0.0.1 10.0.0.2
q example.org A
expect_rcode NOERROR
expect_rdata ANSWER A 192.0.2.7
q -x 10.0.0.2
expect_rdata ANSWER PTR 10-0-0-2.web.default.svc.mesh.local.
q "_status.$WEB" TXT
expect_contains '"addr=10.0.0.1 ' "_status through a worker: facts from the loop thread"
q +tcp "$WEB" A
expect_rdata ANSWER A 10.0.0.1 10.0.0.2

# forwarded names: once the loop thread has an answer, each worker keeps
# a copy and answers repeats itself (no hop to the loop per cache hit)
hits0=$(metric meshdns_cache_worker_hits_total)
out=$(python3 "$FLOOD" "$PORT" example.org --sockets 16 --seconds 1 --window 4)
note "example.org from 16 sockets: $(echo "$out" | tr '\n' ' ')"
sent=$(awk '$1 == "sent" { print $2 }' <<<"$out")
expect_eq "$(awk '$1 == "answered" { print $2 }' <<<"$out")" "$sent" "forwarded name: every query answered"
expect_eq "$(awk '$1 == "set" { print $2 }' <<<"$out")" "192.0.2.7" "forwarded name: every answer the upstream's"
hits=$(($(metric meshdns_cache_worker_hits_total) - hits0))
expect_ge "$hits" "$((sent * 9 / 10))" "at least 90% of $sent answered from the workers' own caches"
expect_eq "$(metric meshdns_forward_upstream_queries_total)" 1 "the upstream was asked once in all"

# load from 32 sockets: every query answered, spread over the workers
before=$(metric 'meshdns_dns_requests_total{proto="udp"}')
out=$(python3 "$FLOOD" "$PORT" "$WEB" --sockets 32 --seconds 2 --window 8)
note "$(echo "$out" | tr '\n' ' ')"
sent=$(awk '$1 == "sent" { print $2 }' <<<"$out")
answered=$(awk '$1 == "answered" { print $2 }' <<<"$out")
expect_ge "$sent" 2000 "flood: at least 2000 queries sent"
expect_eq "$answered" "$sent" "flood: every query answered"
expect_eq "$(awk '$1 == "set" { print $2 }' <<<"$out")" "10.0.0.1,10.0.0.2" "flood: every answer whole"
after=$(metric 'meshdns_dns_requests_total{proto="udp"}')
expect_eq "$((after - before))" "$sent" "metrics: the threads' counters add up to what was sent"
busy=0
for t in 1 2 3 4; do
	n=$(metric "meshdns_dns_thread_requests_total{thread=\"$t\"}")
	note "thread $t answered ${n:-?}"
	[ "${n:-0}" -gt 0 ] && busy=$((busy + 1))
done
expect_ge "$busy" 3 "flood: the kernel spread 32 sockets over at least 3 of 4 workers"

# the registry changes 60 times under load: each answer is one whole set,
# never a mix, and the last config wins
LISTEN="\"127.0.0.1:$PORT\""
[ "$HAVE_IPV6" = 1 ] && LISTEN+=", \"[::1]:$PORT\""
python3 "$FLOOD" "$PORT" "$WEB" --sockets 16 --seconds 4 --window 8 >"$TMP/churn.out" &
FPID=$!
for i in $(seq 1 60); do
	if ((i % 2)); then set=$SET_B; else set=$SET_A; fi
	tmpl=$(config "$set")
	tmpl=${tmpl//@HTTP@/$HTTP}
	printf '%s\n' "${tmpl//@LISTEN@/$LISTEN}" >"$CONF.new" && mv "$CONF.new" "$CONF"
	kill -HUP "$PID"
	sleep 0.05
done
wait "$FPID"
out=$(cat "$TMP/churn.out")
note "$(echo "$out" | tr '\n' ' ')"
sets=$(awk '$1 == "set" { print $2 }' <<<"$out" | sort | tr '\n' ' ')
expect_eq "$sets" "10.0.0.1,10.0.0.2 10.0.0.3,10.0.0.4,10.0.0.5 " \
	"churn: answers were the old set or the new one, never a mix"
lost=$(awk '$1 == "lost" { print $2 }' <<<"$out")
sent=$(awk '$1 == "sent" { print $2 }' <<<"$out")
expect_le "$lost" "$((sent / 100))" "churn: at most 1% lost while reloading 60 times (workers pause per reload)"
q "$WEB" A
expect_rdata ANSWER A 10.0.0.1 10.0.0.2
check_alive "60 reloads under load"

# a command-line --threads wins over the file
stop_server
tmpl=$(config "$SET_A")
MESHDNS_TEST_THREADS=2 start_server <<<"${tmpl//@HTTP@/$HTTP}"
check "--threads 2 overrides threads: 4" grep -q "answering UDP with 2 worker threads" "$LOG"
q "$WEB" A
expect_rdata ANSWER A 10.0.0.1 10.0.0.2
stop_server
finish
