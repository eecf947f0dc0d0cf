#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# Zero-downtime restart: a second meshdns binds the same addresses
# (SO_REUSEPORT) while the first serves a steady query load; the first gets
# SIGTERM, hands its traffic over and exits 0. No query may be lost. Also:
# SIGTERM without a successor exits 0 within grace + drain.
. "$(dirname "$0")/lib.sh"

cat >"$TMP/load.py" <<'PY'
# load PORT SECONDS NSOCK: one query in flight at a time over UDP, sent
# from NSOCK sockets in turn (so that SO_REUSEPORT spreads them over worker
# threads); count answers and losses (no answer within 1 s);
# print "sent answered lost"
import socket, struct, sys, time
port, secs, nsock = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
q = b"\x03web\x07default\x03svc\x04mesh\x05local\x00\x00\x01\x00\x01"
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(nsock)]
for s in socks:
    s.settimeout(1.0)
sent = answered = lost = 0
end = time.time() + secs
qid = 0
while time.time() < end:
    qid = (qid + 1) & 0xffff
    s = socks[qid % nsock]
    s.sendto(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + q, ("127.0.0.1", port))
    sent += 1
    try:
        while True:
            r, _ = s.recvfrom(4096)
            if struct.unpack(">H", r[:2])[0] == qid:
                answered += 1
                break
    except socket.timeout:
        lost += 1
print(sent, answered, lost)
PY

# handover OLD_THREADS NEW_THREADS: one handover under load ("" = 1 thread)
handover() {
	local what="threads ${1:-1} -> ${2:-1}"
	note "--- handover, $what"
	MESHDNS_TEST_THREADS=$1 start_server <<-EOF
	{ "listen": [@LISTEN@], "http": "off", "shutdown_grace_ms": 5000,
	  "services": [{ "name": "web", "endpoints": [{"address": "10.0.0.1"}] }] }
	EOF
	OLD=$PID
	OLD_LOG=$LOG

	python3 "$TMP/load.py" "$PORT" 4 8 >"$TMP/load.out" &
	LOADPID=$!
	on_exit 'kill $LOADPID 2>/dev/null'
	sleep 1
	# the successor: same config, same addresses
	"$MESHDNS" -c "$CONF" -l debug ${2:+--threads "$2"} >"$TMP/new.log" 2>&1 &
	NEW=$!
	on_exit 'kill $NEW 2>/dev/null'
	for _ in $(seq 50); do grep -q 'ready' "$TMP/new.log" && break; sleep 0.1; done
	check "$what: the successor binds the same addresses beside the old one" grep -q 'ready' "$TMP/new.log"
	sleep 0.5
	t0=$(date +%s%3N)
	kill -TERM "$OLD"
	wait "$OLD"
	rc=$?
	t1=$(date +%s%3N)
	PID=""	# the old one is gone; lib.sh must not stop it again
	expect_eq "$rc" 0 "$what: the old instance exits 0 after SIGTERM"
	note "old instance exited $((t1 - t0)) ms after SIGTERM"
	check "$what: it handed over instead of waiting out the 5 s grace" grep -q 'a successor serves our addresses' "$OLD_LOG"
	wait "$LOADPID"
	read -r sent answered lost <"$TMP/load.out"
	note "load through the handover: sent $sent, answered $answered, lost $lost"
	check "$what: the load ran (>= 1000 queries)" test "$sent" -ge 1000
	expect_eq "$lost" 0 "$what: no query lost across the handover"
	# the successor keeps serving
	LOG=$TMP/new.log
	PID=$NEW
	q web.default.svc.mesh.local A
	expect_rcode NOERROR
	expect_eq "$(rdata ANSWER A)" "10.0.0.1" "$what: the successor answers"
	stop_server
}
handover "" ""
# worker threads: the old instance steers its group to the first socket
# after its own N, the successor's first
handover 3 2

# SIGTERM with nobody to hand over to: grace, then exit 0
start_server <<EOF
{ "listen": [@LISTEN@], "http": "off", "shutdown_grace_ms": 300,
  "services": [{ "name": "web", "endpoints": [{"address": "10.0.0.1"}] }] }
EOF
t0=$(date +%s%3N)
kill -TERM "$PID"
wait "$PID"
rc=$?
t1=$(date +%s%3N)
PID=""
expect_eq "$rc" 0 "SIGTERM alone: exit 0"
note "exited $((t1 - t0)) ms after SIGTERM (grace 300 ms)"
check "SIGTERM alone: exits after the grace period and within 2.5 s" \
	test $((t1 - t0)) -ge 250 -a $((t1 - t0)) -le 2500
finish
