#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# EDNS0 (echo, advertised size, BADVERS, client payload), UDP truncation
# and TCP fallback, TCP framing (pipelining, byte-at-a-time), idle timeout
# and the connection limit.

. "$(dirname "$0")/lib.sh"

# endpoints N A.B.C: N endpoints A.B.C.1 .. A.B.C.N as JSON
endpoints() {
	local i sep=""
	for ((i = 1; i <= $1; i++)); do
		printf '%s{"address": "%s.%d"}' "$sep" "$2" "$i"
		sep=", "
	done
}
# addrs N A.B.C: the same addresses, one per line, sorted
addrs() {
	local i
	for ((i = 1; i <= $1; i++)); do printf '%s.%d\n' "$2" "$i"; done | sort
}

start_server <<EOF
{
  "listen": [@LISTEN@],
  "edns_buffer_size": 1232,
  "tcp_idle_timeout_ms": 500,
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.0.0.1"}, {"address": "10.0.0.2"}, {"address": "fd00::1"} ] },
    { "name": "s20", "namespace": "default", "ports": [], "endpoints": [ $(endpoints 20 10.2.0) ] },
    { "name": "s40", "namespace": "default", "ports": [], "endpoints": [ $(endpoints 40 10.4.0) ] },
    { "name": "big", "namespace": "default",
      "ports": [ {"name": "http", "port": 80, "protocol": "tcp"} ],
      "endpoints": [ $(endpoints 100 10.1.0) ] }
  ]
}
EOF

WEB=web.default.svc.mesh.local
BIG=big.default.svc.mesh.local
S20=s20.default.svc.mesh.local
S40=s40.default.svc.mesh.local

# ---------------------------------------------------------------- EDNS0

opt_present() { _last_response | grep -q '^;; OPT PSEUDOSECTION:'; }
opt_udp() { _last_response | sed -n 's/^; EDNS: version: [0-9]*, flags:.*; udp: \([0-9]*\).*/\1/p'; }
opt_version() { _last_response | sed -n 's/^; EDNS: version: \([0-9]*\),.*/\1/p'; }

q +edns=0 "$WEB" A
expect_rcode NOERROR
check "$Q: OPT echoed" opt_present
expect_eq "$(opt_udp)" 1232 "$Q: advertised UDP payload 1232"
expect_eq "$(opt_version)" 0 "$Q: EDNS version 0"

q +edns=0 nosuch.default.svc.mesh.local A
expect_rcode NXDOMAIN
check "$Q: OPT echoed in NXDOMAIN" opt_present

q +edns=0 example.com A
expect_rcode REFUSED
check "$Q: OPT echoed in REFUSED" opt_present

q +noedns "$WEB" A
expect_rcode NOERROR
if opt_present; then fail "$Q: OPT in the reply to a query without one"; else ok "$Q: no OPT without EDNS"; fi

q +edns=1 +noednsnegotiation "$WEB" A
expect_rcode BADVERS
check "$Q: BADVERS carries an OPT" opt_present
expect_eq "$(opt_version)" 0 "$Q: BADVERS OPT says version 0"
expect_section_count ANSWER 0

# ---------------------------------------------------------------- UDP size limits

# ~690 bytes: fits 1232, not 512
q +ignore +bufsize=1232 "$S40" A
expect_rcode NOERROR
expect_no_flag tc
expect_answer_count 40
q +ignore +bufsize=512 "$S40" A
expect_flag tc
expect_le "$(msg_size)" 512 "$Q: reply within the client's 512"
q +ignore +noedns "$S40" A
expect_flag tc
expect_le "$(msg_size)" 512 "$Q: reply within 512 without EDNS"

# ~370 bytes: a payload below 512 counts as 512 (RFC 6891 6.2.5)
q +ignore +bufsize=256 "$S20" A
expect_no_flag tc
expect_answer_count 20
q +ignore +noedns "$S20" A
expect_no_flag tc
expect_answer_count 20
expect_le "$(msg_size)" 512 "$Q: reply size"

# 100 endpoints, ~1.7 KB
q +ignore +bufsize=1232 "$BIG" A
expect_flag tc
expect_le "$(msg_size)" 1232 "$Q: truncated reply within 1232"
q +ignore +noedns "$BIG" A
expect_flag tc
expect_le "$(msg_size)" 512 "$Q: truncated reply within 512 without EDNS"

# dig falls back to TCP by itself
q "$BIG" A
expect_contains 'Truncated, retrying in TCP mode' "$Q: UDP reply truncated, dig retried over TCP"
expect_rcode NOERROR
expect_no_flag tc
expect_answer_count 100
expect_eq "$(rdata ANSWER A)" "$(addrs 100 10.1.0)" "$Q: all 100 addresses after the TCP retry"

q +tcp "$BIG" A
expect_rcode NOERROR
expect_flag aa
expect_no_flag tc
expect_answer_count 100
expect_eq "$(rdata ANSWER A)" "$(addrs 100 10.1.0)" "$Q: all 100 addresses"

# over TCP the EDNS payload size does not limit the reply
q +tcp +bufsize=512 "$BIG" A
expect_no_flag tc
expect_answer_count 100

q +tcp "_http._tcp.$BIG" SRV
expect_rcode NOERROR
expect_answer_count 100

# ---------------------------------------------------------------- TCP framing

# has_reply OUTPUT ID RCODE AN: a summary line with that id, rcode, ancount
has_reply() { printf '%s\n' "$1" | grep -qE "^id=$2 qr=1 .*rcode=$3 .* an=$4 "; }

LAST_CMD="dnstool pipeline 127.0.0.1 $PORT (4 queries in one write)"
DIG=$(py pipeline 127.0.0.1 "$PORT" "$WEB:A" "$WEB:AAAA" nosuch.default.svc.mesh.local:A "$BIG:A" 2>&1)
Q="pipelined TCP"
expect_eq "$(printf '%s\n' "$DIG" | grep -c '^id=')" 4 "$Q: 4 answers on one connection"
check "$Q: web A -> 2 records" has_reply "$DIG" 1001 NOERROR 2
check "$Q: web AAAA -> 1 record" has_reply "$DIG" 1002 NOERROR 1
check "$Q: nosuch -> NXDOMAIN" has_reply "$DIG" 1003 NXDOMAIN 0
check "$Q: big A -> 100 records" has_reply "$DIG" 1004 NOERROR 100

LAST_CMD="dnstool trickle 127.0.0.1 $PORT"
DIG=$(py trickle 127.0.0.1 "$PORT" "$WEB" A 2>&1)
Q="TCP query sent a byte at a time"
check "$Q: answered" has_reply "$DIG" 4242 NOERROR 2

if command -v kdig >/dev/null 2>&1; then
	LAST_CMD="kdig @127.0.0.1 -p $PORT +tcp +keepopen $WEB A $BIG A nosuch.default.svc.mesh.local A"
	DIG=$(kdig @127.0.0.1 -p "$PORT" +tcp +keepopen +norec +time=2 +retry=0 \
		"$WEB" A "$BIG" A nosuch.default.svc.mesh.local A 2>&1)
	Q="kdig +keepopen, 3 queries"
	expect_eq "$(printf '%s\n' "$DIG" | grep -oE 'status: [A-Z]+' | tr '\n' ' ')" \
		"status: NOERROR status: NOERROR status: NXDOMAIN " "$Q: three answers"
fi

q +tcp +keepopen "$WEB" A "$BIG" A nosuch.default.svc.mesh.local A
Q="dig +keepopen, 3 queries"
expect_eq "$(printf '%s\n' "$DIG" | grep -oE 'status: [A-Z]+' | tr '\n' ' ')" \
	"status: NOERROR status: NOERROR status: NXDOMAIN " "$Q: three answers"

LAST_CMD="dnstool halfclose 127.0.0.1 $PORT"
DIG=$(py halfclose 127.0.0.1 "$PORT" 2>&1)
Q="TCP query, then the client shuts down its sending side"
check "$Q: still answered (RFC 7766 6.2.1)" has_reply "$DIG" 4343 NOERROR 2

LAST_CMD="dnstool backpressure 127.0.0.1 $PORT 3000"
DIG=$(py backpressure 127.0.0.1 "$PORT" 3000 2>&1)
Q="a TCP client that never reads its big answers"
note "$DIG"
expect_contains '^udp=rcode=NOERROR t=0\.' "$Q: UDP still answered within 1 s"
expect_contains '^tcp=rcode=NOERROR t=0\.' "$Q: another TCP client still answered within 1 s"

# unknown EDNS options are ignored, DO is fine without DNSSEC
q +ednsopt=65001:abcd "$WEB" A
expect_rcode NOERROR
expect_answer_count 2
q +dnssec "$WEB" A
expect_rcode NOERROR
expect_answer_count 2

# ---------------------------------------------------------------- idle timeout (500 ms)

# idle_closed MODE: the server closes within [0.4, 2.5] s
idle_closed() {
	local out t
	LAST_CMD="dnstool idle 127.0.0.1 $PORT $1 5"
	out=$(py idle 127.0.0.1 "$PORT" "$1" 5 2>&1)
	DIG=$out
	case $out in
	closed\ *)
		t=${out#closed }
		if awk -v t="$t" 'BEGIN { exit !(t >= 0.4 && t <= 2.5) }'; then
			ok "idle TCP ($1): closed after ${t}s (timeout 500 ms)"
		else
			fail "idle TCP ($1): closed after ${t}s, want 0.4..2.5 s (timeout 500 ms)"
		fi ;;
	*) fail "idle TCP ($1): $out" ;;
	esac
}
idle_closed silent
idle_closed query
idle_closed partial

check_alive "the TCP tests"

# ---------------------------------------------------------------- connection limit

start_server <<'EOF'
{
  "listen": [@LISTEN@],
  "edns_buffer_size": 1400,
  "tcp_max_connections": 4,
  "tcp_idle_timeout_ms": 10000,
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.0.0.1"}, {"address": "10.0.0.2"} ] }
  ]
}
EOF

q +edns=0 "$WEB" A
expect_eq "$(opt_udp)" 1400 "$Q: advertises the configured edns_buffer_size 1400"

LAST_CMD="dnstool conncap 127.0.0.1 $PORT 10 1.5"
DIG=$(py conncap 127.0.0.1 "$PORT" 10 1.5 2>&1)
Q="10 TCP connections, tcp_max_connections 4"
note "$DIG"
answered=$(printf '%s\n' "$DIG" | sed -n 's/.*answered=\([0-9]*\).*/\1/p')
expect_le "${answered:-99}" 4 "$Q: at most 4 served at once"
expect_ge "${answered:-0}" 1 "$Q: some served"
expect_contains 'udp=NOERROR' "$Q: UDP still answered while TCP is full"

# the slots come back once the clients went away
sleep 0.5
q +tcp "$WEB" A
expect_rcode NOERROR
expect_answer_count 2

check_alive "the connection limit test"

finish
