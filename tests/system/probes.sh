#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# Active health probing against real HTTP/TCP backends on loopback
# (tests/backend/mesh-backend, one per address 127.0.0.1-3): a refused
# endpoint leaves the answer within interval x fall + timeout, a hanging one
# times out without delaying the others' probes, a recovered one comes back,
# X-Mesh-Weight 0 drains, bad weights are ignored, TCP probes, the panic
# threshold, no healthy endpoint (empty answer) and on_demand probing.
. "$(dirname "$0")/lib.sh"

need_backend
need_cmd curl
start_backends 3 2

addrs() {	# addrs NAME: sorted A records, space separated
	dns "$PORT" +short "$1" A | sort | tr '\n' ' ' | sed 's/ $//'
}
now_ms() { date +%s%3N; }
within() {	# within RESULT MAX_MS: a wait_for result no later than MAX_MS
	case $1 in timeout*) return 1 ;; esac
	[ "$1" -le "$2" ]
}
# wait_for NAME EXPECTED MAX_MS: poll until the A set equals EXPECTED;
# prints the elapsed ms (or "timeout")
wait_for() {
	local start got
	start=$(now_ms)
	while :; do
		got=$(addrs "$1")
		if [ "$got" = "$2" ]; then
			echo $(($(now_ms) - start))
			return 0
		fi
		if [ $(($(now_ms) - start)) -gt "$3" ]; then
			echo "timeout (last: '$got')"
			return 1
		fi
		sleep 0.05
	done
}

# interval 300 ms, timeout 200 ms, fall 2, rise 2:
# a dead endpoint is out within 300 x 2 + 200 = 800 ms
HTTP_PORT=$(python3 "$PYTOOL" freeport 0) || hard_error "no free port"
start_server <<EOF
{ "listen": [@LISTEN@], "probe_idle_s": 2, "http": "127.0.0.1:$HTTP_PORT",
  "services": [
    { "name": "web", "ports": [{"name": "http", "port": $BP}],
      "probe": {"type": "http", "path": "/healthz", "interval_ms": 300,
                "timeout_ms": 200, "rise": 2, "fall": 2},
      "endpoints": [{"address": "127.0.0.1"}, {"address": "127.0.0.2"},
                    {"address": "127.0.0.3"}] },
    { "name": "tcpsvc", "ports": [{"name": "x", "port": $BP}],
      "probe": {"type": "tcp", "interval_ms": 300, "timeout_ms": 200, "fall": 1},
      "endpoints": [{"address": "127.0.0.1"}, {"address": "127.0.0.4"}] },
    { "name": "panic", "ports": [{"name": "http", "port": $BP}],
      "panic_threshold_pct": 50,
      "probe": {"type": "http", "interval_ms": 300, "timeout_ms": 200, "fall": 1},
      "endpoints": [{"address": "127.0.0.1"}, {"address": "127.0.0.5"},
                    {"address": "127.0.0.6"}, {"address": "127.0.0.7"}] },
    { "name": "dead", "ports": [{"name": "http", "port": $BP}],
      "probe": {"type": "http", "interval_ms": 300, "timeout_ms": 200, "fall": 1},
      "endpoints": [{"address": "127.0.0.5"}] },
    { "name": "lazy", "ports": [{"name": "http", "port": $((BP + 1))}],
      "probe_mode": "on_demand",
      "probe": {"type": "http", "interval_ms": 300, "timeout_ms": 200, "fall": 1},
      "endpoints": [{"address": "127.0.0.1"}, {"address": "127.0.0.9"}] }
  ] }
EOF

ALL="127.0.0.1 127.0.0.2 127.0.0.3"
W=web.default.svc.mesh.local
sleep 1
expect_eq "$(addrs $W)" "$ALL" "all three healthy endpoints answered"
check "backends are probed at the configured path" \
	test "$(requests 1 "$BP")" -ge 2

# --- a refused endpoint leaves within interval x fall + timeout
ctl 2 "set?port=$BP&mode=closed" >/dev/null
t=$(wait_for $W "127.0.0.1 127.0.0.3" 3000)
note "127.0.0.2 refused: gone after $t ms (bound 800 ms + query polling)"
check "refused endpoint leaves the answer within the bound" within "$t" 1100

# --- a hanging endpoint times out; the others keep their schedule
ctl 3 "set?port=$BP&mode=hang" >/dev/null
before=$(requests 1 "$BP")
t=$(wait_for $W "127.0.0.1" 3000)
note "127.0.0.3 hangs: gone after $t ms"
check "hanging endpoint leaves the answer within the bound" within "$t" 1100
sleep 1.5
after=$(requests 1 "$BP")
# web, tcpsvc and panic each probe 127.0.0.1:BP every <= 300 ms (tcpsvc's
# connects are not HTTP requests): 1.5 s+ must see at least 2 x 4 requests
note "127.0.0.1 answered $((after - before)) probes while 127.0.0.3 hung"
check "probes of the others run on time while one hangs" \
	test $((after - before)) -ge 8

# --- recovery after rise passes
ctl 2 "set?port=$BP&mode=ok" >/dev/null
ctl 3 "set?port=$BP&mode=ok" >/dev/null
t=$(wait_for $W "$ALL" 3000)
note "recovered after $t ms (rise 2 x interval 300 ms)"
check "recovered endpoints come back" within "$t" 3000

# --- X-Mesh-Weight: 0 drains; the drained endpoint is given out only when
# nothing else is healthy
ctl 1 "set?port=$BP&weight=0" >/dev/null
t=$(wait_for $W "127.0.0.2 127.0.0.3" 3000)
check "X-Mesh-Weight: 0 drains the endpoint ($t ms)" within "$t" 3000
ctl 2 "set?port=$BP&mode=fail" >/dev/null
ctl 3 "set?port=$BP&mode=status:500" >/dev/null
t=$(wait_for $W "127.0.0.1" 3000)
check "503/500 fail the probe; the draining endpoint is all that is left ($t ms)" \
	within "$t" 3000
ctl 2 "set?port=$BP&mode=ok" >/dev/null
ctl 3 "set?port=$BP&mode=ok" >/dev/null
t=$(wait_for $W "127.0.0.2 127.0.0.3" 3000)
check "with healthy ones back, the drained one is left out again ($t ms)" within "$t" 3000

# --- a bad weight is ignored (load 100), counted and logged
ctl 1 "set?port=$BP&weight=abc" >/dev/null
t=$(wait_for $W "$ALL" 3000)
check "a bad X-Mesh-Weight value counts as no header ($t ms)" within "$t" 3000
check "the bad weight is logged" grep -q 'bad X-Mesh-Weight' "$LOG"
ctl 1 "set?port=$BP&weight=none" >/dev/null

# --- a huge body: the probe reads a capped amount and passes
ctl 1 "set?port=$BP&mode=huge" >/dev/null
sleep 1.2
expect_eq "$(addrs $W)" "$ALL" "an endless body still passes (the probe caps what it reads)"
ctl 1 "set?port=$BP&mode=ok" >/dev/null

# out_and_back MODE WHAT: 127.0.0.2 in MODE leaves the answer within
# interval x fall + timeout, and comes back once it answers again
out_and_back() {
	local t
	ctl 2 "set?port=$BP&mode=$1" >/dev/null
	t=$(wait_for $W "127.0.0.1 127.0.0.3" 3000)
	check "$2 fails the probe: endpoint out ($t ms)" within "$t" 1100
	ctl 2 "set?port=$BP&mode=ok" >/dev/null
	t=$(wait_for $W "$ALL" 3000)
	check "$2: back once it answers ok again ($t ms)" within "$t" 3000
}

# --- a reset connection fails the probe; the endpoint leaves, then returns
out_and_back reset "a connection reset (RST)"

# --- slow answers: inside the timeout they pass, beyond it they fail
ctl 2 "set?port=$BP&mode=slow:100" >/dev/null
sleep 1.5
expect_eq "$(addrs $W)" "$ALL" "an answer after 100 ms (timeout 200 ms) passes"
out_and_back slow:400 "an answer after 400 ms (timeout 200 ms)"

# --- flapping every probe: pass, fail, pass, ... never rise 2 or fall 2
# in a row, so the endpoint's state must not change at all (no answer
# oscillates faster than rise/fall allow)
trans() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
	awk '$1 == "meshdns_probe_transitions_total" { print $2 }'; }
tr0=$(trans)
ctl 2 "set?port=$BP&mode=flap" >/dev/null
changes=0
prev=$(addrs $W)
for _ in $(seq 1 60); do	# 3 s: about 10 probes of 127.0.0.2
	cur=$(addrs $W)
	[ "$cur" != "$prev" ] && changes=$((changes + 1))
	prev=$cur
	sleep 0.05
done
ctl 2 "set?port=$BP&mode=ok" >/dev/null
expect_eq "$changes/$prev" "0/$ALL" "a target flapping every probe never changes the answer (rise 2, fall 2)"
expect_eq "$(trans)" "$tr0" "and no health transition is counted meanwhile"
check "the flapping target was probed meanwhile" test "$(requests 2 "$BP")" -ge 8

# --- TCP probes
expect_eq "$(addrs tcpsvc.default.svc.mesh.local)" "127.0.0.1" \
	"tcp probe: refused 127.0.0.4 is out, 127.0.0.1 in"

# --- panic: 1 of 4 healthy is below 50%: every ready endpoint is answered
expect_eq "$(addrs panic.default.svc.mesh.local)" \
	"127.0.0.1 127.0.0.5 127.0.0.6 127.0.0.7" \
	"below the panic threshold all ready endpoints are answered"

# --- no healthy endpoint, panic off: empty NOERROR with the SOA
q dead.default.svc.mesh.local A
expect_nodata mesh.local 5

# --- on_demand: nothing probed until asked; then the dead one leaves
expect_eq "$(requests 1 $((BP + 1)))" 0 "on_demand service not probed before anyone asks"
expect_eq "$(addrs lazy.default.svc.mesh.local)" "127.0.0.1 127.0.0.9" \
	"on_demand: before results, answers follow the source"
t=$(wait_for lazy.default.svc.mesh.local "127.0.0.1" 4000)
check "on_demand: probing starts once asked, the dead endpoint leaves ($t ms)" \
	within "$t" 4000
seen=0
for _ in $(seq 20); do
	seen=$(requests 1 $((BP + 1)))
	[ "$seen" -ge 1 ] && break
	sleep 0.1
done
check "on_demand: the backend now sees probes" test "$seen" -ge 1
# idle for probe_idle_s (2 s): probing stops. The sweep that notices a
# query runs up to 1 s after it and the one that notices idleness up to
# 1 s after the 2 s: 4 s at most, 5 s to be safe
sleep 5
n1=$(requests 1 $((BP + 1)))
sleep 1
n2=$(requests 1 $((BP + 1)))
expect_eq "$n2" "$n1" "on_demand: probing stops after probe_idle_s without a query"

check_alive
finish
