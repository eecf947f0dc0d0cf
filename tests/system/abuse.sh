#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# Abuse that must not stop the service: 10,000 TCP connections opened and
# left idle (the cap holds, UDP is not affected, the excess is closed and
# counted, idle ones time out), and random garbage at full rate for a
# while (no crash, RSS does not grow, normal queries are answered; 8 s
# here, ABUSE_GARBAGE_S=60 for the issue's minute-long soak).
. "$(dirname "$0")/lib.sh"
need_cmd curl

HTTP_PORT=$(python3 "$PYTOOL" freeport 0)
start_server <<EOF
{ "listen": [@LISTEN@], "http": "127.0.0.1:$HTTP_PORT",
  "tcp_max_connections": 200, "tcp_idle_timeout_ms": 3000,
  "rate_limit": {"responses_per_second": 0},
  "services": [{ "name": "web", "endpoints": [{"address": "10.0.0.1"}] }] }
EOF
metric() { curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }

cat >"$TMP/idle.py" <<'PY'
# idle PORT N HOLD: open N TCP connections, keep them HOLD seconds while
# timing UDP queries; print "opened udp_answered udp_max_ms"
import resource, socket, struct, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
conns = []
for i in range(n):
    try:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        conns.append(c)
    except OSError:
        break
q = struct.pack(">HHHHHH", 7, 0x100, 1, 0, 0, 0) + \
    b"\x03web\x07default\x03svc\x04mesh\x05local\x00\x00\x01\x00\x01"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1)
answered, worst, end = 0, 0.0, time.time() + hold
while time.time() < end:
    t = time.time()
    u.sendto(q, ("127.0.0.1", port))
    try:
        u.recv(512)
        answered += 1
        worst = max(worst, (time.time() - t) * 1000)
    except socket.timeout:
        worst = 1000
    time.sleep(0.05)
print(len(conns), answered, "%.1f" % worst)
PY
read -r opened answered worst < <(python3 "$TMP/idle.py" "$PORT" 10000 2)
note "$opened TCP connections opened and left idle; UDP meanwhile: $answered answered, slowest $worst ms"
check "thousands of idle connections were opened" test "$opened" -ge 2000
check "UDP keeps answering while TCP is flooded (slowest < 200 ms)" \
	python3 -c "import sys; sys.exit(0 if float('$worst') < 200 and $answered >= 20 else 1)"
rej=$(metric 'meshdns_dns_tcp_connections_total{result="rejected"}')
acc=$(metric 'meshdns_dns_tcp_connections_total{result="accepted"}')
note "accepted $acc, rejected $rej"
check "connections over tcp_max_connections are closed and counted" test "$rej" -ge 1000
check "the cap holds (accepted so far within cap + closed ones)" test "$acc" -le "$opened"
open_fds=$(find "/proc/$PID/fd" -mindepth 1 2>/dev/null | wc -l)
check "open descriptors stay bounded by the cap ($open_fds)" test "$open_fds" -le 400

# --- garbage at full rate, RSS before and after
q web.default.svc.mesh.local A
rss0=$(rss_kb)
# ABUSE_GARBAGE_S=60 makes this the issue's 60 s soak (RSS every 10 s)
GARBAGE_S=${ABUSE_GARBAGE_S:-8}
python3 - "$PORT" "$GARBAGE_S" "$PID" >"$TMP/garbage.out" <<'PY'
import os, random, socket, sys, time
port, secs, pid = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
t0 = time.time()
next_sample = t0 + 10
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
rnd = random.Random(42)
end, n = time.time() + secs, 0
while time.time() < end:
    for _ in range(200):
        size = rnd.randrange(0, 600)
        pkt = bytearray(rnd.getrandbits(8) for _ in range(size))
        if size > 12 and n % 2:
            pkt[2] &= 0x7f; pkt[4] = 0; pkt[5] = 1
        try:
            s.sendto(pkt, ("127.0.0.1", port))
        except BlockingIOError:
            pass
        n += 1
    try:
        while True:
            s.recv(4096)
    except BlockingIOError:
        pass
    if time.time() >= next_sample:
        print("after %2.0f s: %d datagrams, RSS %d kB" % (time.time() - t0, n, rss()))
        next_sample += 10
print("sent %d datagrams in %.0f s (%.0f/s)" % (n, time.time() - t0, n / (time.time() - t0)))
PY
rss1=$(rss_kb)
while read -r line; do note "garbage: $line"; done <"$TMP/garbage.out"
note "garbage: RSS $rss0 kB before, $rss1 kB after"
check_alive
if grep -q __asan_init "$MESHDNS" 2>/dev/null; then
	# ASan keeps freed memory in quarantine and touches shadow pages:
	# RSS says nothing there (valgrind.sh checks leaks in the plain build)
	note "sanitizer build: the RSS bound is checked in the plain build only"
else
	check "no memory growth from garbage (RSS +$((rss1 - rss0)) kB < 2 MB)" \
		test $((rss1 - rss0)) -lt 2048
fi
q web.default.svc.mesh.local A
expect_eq "$(rdata ANSWER A)" "10.0.0.1" "normal queries still answered"
finish
