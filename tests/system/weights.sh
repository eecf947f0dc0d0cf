#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# Load-weighted, zone-aware answers through the real server: with
# max_answers 1 the first (only) address follows the weights 10/30/60
# (chi-square over 20,000 queries), a live backend's X-Mesh-Weight moves
# the shares, zone preference keeps A answers in the node's zone, and SRV
# records carry zone priorities and scaled weights (asked with dig).
. "$(dirname "$0")/lib.sh"

need_backend
need_cmd curl
start_backends 2 1

# sample NAME COUNT: ask COUNT times over UDP, print "ADDR COUNT" of first
# answers (python3: 20,000 dig processes would take minutes)
cat >"$TMP/sample.py" <<'PY'
import socket, struct, sys, collections
port, name, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("127.0.0.1", port))
seen = collections.Counter()
for i in range(count):
    qid = i & 0xffff
    s.send(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1))
    while True:
        r = s.recv(4096)
        if struct.unpack(">H", r[:2])[0] == qid:
            break
    an = struct.unpack(">H", r[6:8])[0]
    if an == 0:
        seen["none"] += 1
        continue
    p = 12 + len(q) + 4
    p += 2 if r[p] & 0xc0 == 0xc0 else len(q)
    rtype, _, _, rdlen = struct.unpack(">HHIH", r[p:p + 10])
    seen[socket.inet_ntoa(r[p + 10:p + 14]) if rtype == 1 else "other"] += 1
    seen["answers=%d" % an] += 1
for k, v in sorted(seen.items()):
    print(k, v)
PY
sample() { python3 "$TMP/sample.py" "$PORT" "$1" "$2"; }
count_of() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' <<<"$2"; }

start_server <<EOF
{ "listen": [@LISTEN@], "node": {"name": "node-1", "zone": "zone-a"},
  "services": [
    { "name": "stat", "max_answers": 1,
      "endpoints": [{"address": "10.9.0.1", "weight": 10},
                    {"address": "10.9.0.2", "weight": 30},
                    {"address": "10.9.0.3", "weight": 60}] },
    { "name": "live", "max_answers": 1, "ports": [{"name": "http", "port": $BP}],
      "probe": {"type": "http", "interval_ms": 200, "timeout_ms": 150},
      "endpoints": [{"address": "127.0.0.1"}, {"address": "127.0.0.2"}] },
    { "name": "zoned", "ports": [{"name": "http", "port": 8080}],
      "endpoints": [{"address": "10.8.0.1", "zone": "zone-a", "weight": 100},
                    {"address": "10.8.0.2", "zone": "zone-a", "weight": 50},
                    {"address": "10.8.0.3", "zone": "zone-b", "weight": 200},
                    {"address": "10.8.0.4", "zone": "zone-b", "weight": 0}] },
    { "name": "faraway",
      "endpoints": [{"address": "10.7.0.1", "zone": "zone-a", "weight": 10},
                    {"address": "10.7.0.2", "zone": "zone-b", "weight": 100}] }
  ] }
EOF

# --- chi-square on first answers, weights 10/30/60, 20,000 queries
out=$(sample stat.default.svc.mesh.local 20000)
note "first answers: $(tr '\n' ' ' <<<"$out")"
expect_eq "$(count_of answers=1 "$out")" 20000 "max_answers 1: every answer holds one address"
chi=$(python3 -c '
import sys
obs = [int(x) for x in sys.argv[1:4]]
exp = [2000, 6000, 12000]
print("%.3f" % sum((o - e) ** 2 / e for o, e in zip(obs, exp)))' \
	"$(count_of 10.9.0.1 "$out")" "$(count_of 10.9.0.2 "$out")" "$(count_of 10.9.0.3 "$out")")
note "chi-square = $chi (2 dof; rejects at p = 0.001 above 13.816)"
check "first-answer shares follow the weights 10/30/60 (chi-square $chi < 13.816)" \
	python3 -c "import sys; sys.exit(0 if float('$chi') < 13.816 else 1)"

# --- a live backend's X-Mesh-Weight moves the shares
sleep 0.6
out=$(sample live.default.svc.mesh.local 4000)
a=$(count_of 127.0.0.1 "$out")
note "equal weights: 127.0.0.1 first in $a of 4000"
check "equal weights: about half each ($a of 4000)" test "$a" -gt 1700 -a "$a" -lt 2300
ctl 2 "set?port=$BP&weight=25" >/dev/null
sleep 0.8	# a few probe intervals
out=$(sample live.default.svc.mesh.local 4000)
a=$(count_of 127.0.0.1 "$out")
note "127.0.0.2 reports X-Mesh-Weight 25: 127.0.0.1 first in $a of 4000 (expected 3200)"
check "X-Mesh-Weight 25 moves the share to 100:25 ($a of 4000)" test "$a" -gt 3000 -a "$a" -lt 3400
ctl 2 "set?port=$BP&weight=100" >/dev/null

# --- zone preference: A answers from zone-a while it holds >= 30% of the weight
q zoned.default.svc.mesh.local A
expect_rcode NOERROR
expect_eq "$(rdata ANSWER A | tr '\n' ' ')" "10.8.0.1 10.8.0.2 " \
	"zone preference: A answers hold only the node's zone (150 of 350 = 43%)"
# faraway: zone-a holds 10 of 110 = 9% < 30%: every zone
q faraway.default.svc.mesh.local A
expect_eq "$(rdata ANSWER A | tr '\n' ' ')" "10.7.0.1 10.7.0.2 " \
	"zone preference: below zone_min_share_pct all zones are answered"

# --- SRV priorities across zones and scaled weights, with dig
q _http._tcp.zoned.default.svc.mesh.local SRV
expect_rcode NOERROR
srv=$(rrs ANSWER SRV | awk '{print $5, $6, $8}' | sort -k3)
note "SRV: $(tr '\n' ';' <<<"$srv")"
# 10.8.0.4 (weight 0) drains and is left out; heaviest (200) = 65535
expect_eq "$srv" "0 32767 10-8-0-1.zoned.default.svc.mesh.local.
0 16383 10-8-0-2.zoned.default.svc.mesh.local.
10 65535 10-8-0-3.zoned.default.svc.mesh.local." \
	"SRV: same-zone targets priority 0, others 10, weights scaled keeping 100:50:200"
first=$(rrs ANSWER SRV | head -n 1 | awk '{print $5}')
expect_eq "$first" 0 "SRV: priority-0 targets come first"

check_alive
finish
