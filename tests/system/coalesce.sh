#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# "udp_coalesce_us": under an open load (many independent clients, here
# one paced sender on 8 sockets) the server naps after a partial batch so
# that one wakeup serves several queries; it never naps at low rates, nor
# for clients that wait for each answer (naps would only slow them down),
# and 0 turns it off. Every query is answered either way. The naps are
# counted in /metrics (meshdns_dns_udp_naps_total).

. "$(dirname "$0")/lib.sh"

FLOOD=$SRCDIR/tests/system/flood.py
WEB=web.default.svc.mesh.local
HTTP=$(python3 "$PYTOOL" freeport 0) || hard_error "no free port"

config() {	# config BUDGET_US THREADS
	cat <<EOF
{ "listen": [@LISTEN@], "http": "127.0.0.1:$HTTP", "threads": $2,
  "udp_coalesce_us": $1,
  "rate_limit": { "responses_per_second": 0 },
  "services": [ { "name": "web", "endpoints": [ {"address": "10.0.0.1"}, {"address": "10.0.0.2"} ] } ] }
EOF
}
# the server on one core and the sender on another when there are two, as
# in bench/dns-qps: the CPU cost the controller measures is then the
# server's own, not a share of a core it fights the sender for
PIN_SENDER=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	SERVER_WRAP=(taskset -c 1)
	PIN_SENDER=(taskset -c 0)
fi
metric() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
naps() { metric meshdns_dns_udp_naps_total; }

# load LABEL FLOOD-ARGS...: run flood.py, check every query was answered
# with the whole set; sets SENT and NAPS (naps taken meanwhile)
load() {
	local label=$1 n0 out
	shift
	n0=$(naps)
	out=$(${PIN_SENDER[@]+"${PIN_SENDER[@]}"} python3 "$FLOOD" "$PORT" "$WEB" "$@")
	NAPS=$(($(naps) - n0))
	SENT=$(awk '$1 == "sent" { print $2 }' <<<"$out")
	note "$label: $(echo "$out" | tr '\n' ' ')naps $NAPS"
	expect_eq "$(awk '$1 == "answered" { print $2 }' <<<"$out")" "$SENT" "$label: every query answered"
	expect_eq "$(awk '$1 == "set" { print $2 }' <<<"$out")" "10.0.0.1,10.0.0.2" "$label: every answer whole"
}

# a budget of 1000 us: naps pay from 4 queries per millisecond on
MESHDNS_TEST_THREADS="" start_server <<<"$(config 1000 1)"
load "500 queries/s" --rate 500 --seconds 2 --sockets 4
expect_eq "$NAPS" 0 "500 queries/s: no naps (too few queries to gather)"

load "open load, 10000 queries/s" --rate 10000 --seconds 3 --sockets 8
expect_ge "$SENT" 20000 "open load: the sender kept up"
expect_ge "$NAPS" "$((SENT / 60))" "open load: the server naps (at least one nap per 60 queries; here about one per 12)"

# four clients with one query in flight each: they only send again what
# was answered; naps are tried now and then, and lose
load "4 clients waiting for each answer" --sockets 4 --window 1 --seconds 3
expect_ge "$SENT" 5000 "waiting clients: at least 5000 queries"
expect_le "$NAPS" "$((SENT / 200))" "waiting clients: naps only as rare tries (at most one per 200 queries; here about one per 1000)"

# off: the same open load, no naps (reloaded: the budget applies at once)
LISTEN="\"127.0.0.1:$PORT\""
[ "$HAVE_IPV6" = 1 ] && LISTEN+=", \"[::1]:$PORT\""
tmpl=$(config 0 1)
printf '%s\n' "${tmpl//@LISTEN@/$LISTEN}" >"$CONF"
kill -HUP "$PID"
sleep 0.5
load "udp_coalesce_us 0" --rate 10000 --seconds 2 --sockets 8
expect_eq "$NAPS" 0 "udp_coalesce_us 0: no naps under the open load"
check_alive "coalescing on and off"
stop_server

# a worker thread naps the same way (all 8 sockets' load on one worker's
# share would be uneven: one socket, so one worker takes it all)
MESHDNS_TEST_THREADS="" start_server <<<"$(config 1000 2)"
load "open load on a worker" --rate 10000 --seconds 3 --sockets 1
expect_ge "$NAPS" "$((SENT / 60))" "worker thread: naps under an open load"
stop_server
finish
