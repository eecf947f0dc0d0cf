#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# Operating meshdns: /metrics (checked by a strict parser of the Prometheus
# text format) and its counters moving, /healthz, /readyz before and after
# a source is synced, /debug/services, TXT _status matching /debug, CH TXT
# version.bind and id.server, Extended DNS Errors on empty answers, JSON
# logs, and dropping privileges (visible in /proc).
. "$(dirname "$0")/lib.sh"
need_cmd curl

HTTP_PORT=$(python3 "$PYTOOL" freeport 0)
start_server <<EOF
{ "listen": [@LISTEN@], "http": "127.0.0.1:$HTTP_PORT",
  "node": {"name": "node-7", "zone": "z1"}, "log_format": "json",
  "services": [
    { "name": "web", "ports": [{"name": "dns", "port": @PORT@}],
      "probe": {"type": "tcp", "interval_ms": 200, "timeout_ms": 100, "fall": 1},
      "endpoints": [{"address": "127.0.0.1", "zone": "z1"}, {"address": "127.0.0.2", "weight": 50}] },
    { "name": "down", "ports": [{"name": "x", "port": 1}],
      "probe": {"type": "tcp", "interval_ms": 200, "timeout_ms": 100, "fall": 1},
      "endpoints": [{"address": "127.0.0.3"}] },
    { "name": "empty" }
  ] }
EOF
URL=http://127.0.0.1:$HTTP_PORT
sleep 0.8	# a few probe rounds

# --- a strict parser of the exposition format
cat >"$TMP/promcheck.py" <<'PY'
import re, sys
text = sys.stdin.read()
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
sample = re.compile(r"^(%s)(\{(%s=\"[^\"\\]*\")(,%s=\"[^\"\\]*\")*\})? (-?[0-9.e+-]+|\+Inf|NaN)$"
                    % (name_re, name_re, name_re))
types, helps, seen, errs, order = {}, set(), set(), [], []
for i, line in enumerate(text.splitlines(), 1):
    if line.startswith("# HELP "):
        n = line.split()[2]
        if n in helps: errs.append("%d: second HELP for %s" % (i, n))
        helps.add(n)
    elif line.startswith("# TYPE "):
        p = line.split()
        if len(p) != 4 or p[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
            errs.append("%d: bad TYPE line" % i)
        if p[2] in types: errs.append("%d: second TYPE for %s" % (i, p[2]))
        types[p[2]] = p[3]
        if p[3] == "counter" and not p[2].endswith("_total"):
            errs.append("%d: counter %s does not end in _total" % (i, p[2]))
    elif line.startswith("#") or not line:
        errs.append("%d: stray line %r" % (i, line))
    else:
        m = sample.match(line)
        if not m:
            errs.append("%d: not a sample: %r" % (i, line)); continue
        n = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        fam = n if n in types else base
        if fam not in types: errs.append("%d: %s has no TYPE before it" % (i, n))
        key = line.rsplit(" ", 1)[0]
        if key in seen: errs.append("%d: duplicate series %s" % (i, key))
        seen.add(key)
        if not n.startswith("meshdns_"): errs.append("%d: %s lacks the meshdns_ prefix" % (i, n))
        order.append((n, m.group(2) or "", float(m.group(5))))
# histograms: cumulative buckets, +Inf equals _count
for fam, t in types.items():
    if t != "histogram": continue
    b = [v for n, l, v in order if n == fam + "_bucket"]
    c = [v for n, l, v in order if n == fam + "_count"]
    if any(x > y for x, y in zip(b, b[1:])): errs.append("%s buckets not cumulative" % fam)
    if not b or not c or b[-1] != c[0]: errs.append("%s +Inf bucket != _count" % fam)
for e in errs: print(e)
sys.exit(1 if errs else 0)
PY
metric() {	# metric 'NAME{labels}' from a fresh scrape
	curl -s "$URL/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

curl -s "$URL/metrics" >"$TMP/m1"
check "/metrics passes a strict exposition-format parser" python3 "$TMP/promcheck.py" <"$TMP/m1"
expect_eq "$(curl -s -o /dev/null -w '%{content_type}' "$URL/metrics")" \
	"text/plain; version=0.0.4; charset=utf-8" "/metrics content type"
a0=$(metric 'meshdns_dns_requests_by_type_total{type="A"}')
nx0=$(metric 'meshdns_dns_responses_total{rcode="NXDOMAIN"}')
tcp0=$(metric 'meshdns_dns_requests_total{proto="tcp"}')
for _ in 1 2 3; do q web.default.svc.mesh.local A; done
q nosuch.default.svc.mesh.local A
q +tcp web.default.svc.mesh.local A
expect_eq "$(metric 'meshdns_dns_requests_by_type_total{type="A"}')" $((a0 + 5)) "A queries counted"
expect_eq "$(metric 'meshdns_dns_responses_total{rcode="NXDOMAIN"}')" $((nx0 + 1)) "NXDOMAIN counted"
expect_eq "$(metric 'meshdns_dns_requests_total{proto="tcp"}')" $((tcp0 + 1)) "TCP queries counted"
check "probes are counted" test "$(metric 'meshdns_probes_total{result="pass"}')" -ge 2
check "failing probes are counted" test "$(metric 'meshdns_probes_total{result="fail"}')" -ge 2
expect_eq "$(metric 'meshdns_endpoints{state="unhealthy"}')" 2 "endpoints by state: 127.0.0.2 and 127.0.0.3 unhealthy"
expect_eq "$(metric 'meshdns_endpoints{state="healthy"}')" 1 "endpoints by state: one healthy"
check "latency histogram counts every answer" \
	test "$(metric 'meshdns_dns_request_duration_seconds_count')" -ge 5
expect_eq "$(metric 'meshdns_build_info{version="0.1.0"}')" 1 "build info"

# --- health and readiness
expect_eq "$(curl -s -w ' %{http_code}' "$URL/healthz" | tr -d '\n')" "ok 200" "/healthz"
expect_eq "$(curl -s -w ' %{http_code}' "$URL/readyz" | tr -d '\n')" "ready 200" "/readyz: static config loaded"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")" 404 "unknown path: 404"

# --- debug view and TXT _status agree
curl -s "$URL/debug/services/default/web" >"$TMP/web.json"
dns "$PORT" +short TXT _status.web.default.svc.mesh.local >"$TMP/status.txt"
cat "$TMP/status.txt" | sed 's/^/#   /'
check "TXT _status and /debug/services/default/web state the same facts" python3 - "$TMP/web.json" "$TMP/status.txt" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
txt = [dict(kv.split("=", 1) for kv in line.strip().strip('"').split())
       for line in open(sys.argv[2]) if line.strip()]
eps = {e["addr"]: e for e in d["endpoints"]}
assert len(txt) == len(eps) == 2, (len(txt), len(eps))
for t in txt:
    e = eps[t["addr"]]
    for k in ("ready", "healthy", "in_answers", "why", "weight", "effective", "zone", "probe"):
        assert str(e[k]) == t[k], (k, e[k], t[k])
assert eps["127.0.0.1"]["why"] == "healthy" and eps["127.0.0.2"]["why"] == "probe-failing"
assert eps["127.0.0.1"]["last"] == "pass" and eps["127.0.0.2"]["last"] == "connect-failed"
assert eps["127.0.0.1"]["local"] == 1 and eps["127.0.0.2"]["local"] == 0
PY
check "/debug/services lists every service" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(s["name"] for s in d["services"]) == ["down", "empty", "web"], d
assert d["synced"] is True' <(curl -s "$URL/debug/services")
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/debug/services/default/nosuch")" 404 \
	"/debug of a missing service: 404"

# --- CH TXT
expect_eq "$(dns "$PORT" +short CH TXT version.bind)" '"meshdns 0.1.0"' "CH TXT version.bind"
expect_eq "$(dns "$PORT" +short CH TXT id.server)" '"node-7"' "CH TXT id.server is the node name"
q CH TXT nosuch.bind
expect_rcode REFUSED

# --- Extended DNS Errors explain empty answers
q down.default.svc.mesh.local A
expect_rcode NOERROR
expect_contains 'EDE: 0 \(Other\): \(no healthy endpoints\)' "EDE on a service whose probes all fail"
q empty.default.svc.mesh.local A
expect_contains 'EDE: 0 \(Other\): \(no ready endpoints\)' "EDE on a service without endpoints"
q web.default.svc.mesh.local A
expect_not_contains "EDE:" "no EDE on a normal answer"

# --- logs are JSON objects, one per line
check "log_format json: every log line is a JSON object" python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert {"ts", "level", "pid", "msg"} <= o.keys(), o
    n += 1
assert n >= 3' "$LOG"
stop_server

# --- readyz before a source has synced (an API server nobody answers)
DEAD=$(python3 "$PYTOOL" freeport 0)
start_server <<EOF
{ "listen": [@LISTEN@], "http": "127.0.0.1:$HTTP_PORT",
  "kubernetes": {"server": "http://127.0.0.1:$DEAD"} }
EOF
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" 503 "/readyz is 503 until Kubernetes is synced"
expect_eq "$(metric meshdns_kubernetes_synced)" 0 "meshdns_kubernetes_synced 0"
q web.default.svc.mesh.local A
expect_rcode SERVFAIL
expect_contains 'EDE: 14 \(Not Ready\): \(not synced' "not synced: SERVFAIL with EDE 14"
stop_server

# --- the allow list: clients outside it are REFUSED (UDP) or closed (TCP)
start_server <<EOF
{ "listen": [@LISTEN@], "http": "off", "allow": ["10.0.0.0/8"],
  "services": [{ "name": "web", "endpoints": [{"address": "10.0.0.1"}] }] }
EOF
q web.default.svc.mesh.local A
expect_rcode REFUSED
expect_section_count ANSWER 0
q +tcp web.default.svc.mesh.local A
check "a TCP client outside the allow list gets no answer" test "$DIG_RC" -ne 0 -o -z "$(rdata ANSWER A)"
stop_server

# --- response rate limiting (loopback not exempt here): a burst, then slip
start_server <<EOF
{ "listen": [@LISTEN@], "http": "off",
  "rate_limit": {"responses_per_second": 50, "slip": 2, "exempt_loopback": false},
  "services": [{ "name": "web", "endpoints": [{"address": "10.0.0.1"}] }] }
EOF
cat >"$TMP/flood.py" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
q = b"\x03web\x07default\x03svc\x04mesh\x05local\x00\x00\x01\x00\x01"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
for i in range(400):
    s.sendto(struct.pack(">HHHHHH", i, 0, 1, 0, 0, 0) + q, ("127.0.0.1", port))
s.settimeout(0.5)
full = tc = 0
try:
    while True:
        r = s.recv(4096)
        if struct.unpack(">H", r[2:4])[0] & 0x0200: tc += 1
        else: full += 1
except socket.timeout:
    pass
print(full, tc)
PY
read -r full tc < <(python3 "$TMP/flood.py" "$PORT")
note "400 queries at once: $full full answers, $tc truncated (slip), $((400 - full - tc)) dropped"
# with N worker threads each limits 1/N of the rate, and one client socket
# reaches one of them
burst=$((50 / ${MESHDNS_TEST_THREADS:-1}))
check "rate limit: at most the burst ($burst, +a few refilled) gets full answers" \
	test "$full" -ge $((burst * 8 / 10)) -a "$full" -le $((burst * 12 / 10))
check "rate limit: about every 2nd limited response slips (TC)" \
	test "$tc" -ge $(((400 - burst) / 2 - 25)) -a "$tc" -le $(((400 - burst) / 2 + 5))
sleep 1.2
q web.default.svc.mesh.local A
expect_eq "$(rdata ANSWER A)" "10.0.0.1" "rate limit: answers again after the bucket refills"
stop_server

# --- privilege drop (root only)
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	start_server <<EOF
{ "listen": [@LISTEN@], "http": "off", "user": "nobody",
  "services": [{ "name": "web", "endpoints": [{"address": "10.0.0.1"}] }] }
EOF
	uid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$PID/status")
	expect_eq "$uid" "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" \
		"user: real, effective, saved and fs uid are nobody's"
	expect_eq "$(awk '/^CapEff:/ { print $2 }' "/proc/$PID/status")" 0000000000000000 \
		"user: no capability left (CAP_NET_BIND_SERVICE included)"
	q web.default.svc.mesh.local A
	expect_rcode NOERROR
	stop_server
else
	note "not root: privilege drop not tested"
fi
finish
