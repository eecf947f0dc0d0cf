#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# The real meshdns daemon against the fake Kubernetes API server
# (tests/k8s/fake-apiserver.py, TLS, token auth): what dig sees for
# Services joined with EndpointSlices (A/AAAA/SRV, host names, weights,
# ready/not-ready/terminating, publishNotReadyAddresses, ExternalName),
# SERVFAIL + EDE 14 until the first lists are done, live changes, a
# malformed watch line, split events, a dropped watch (resume from the
# last resourceVersion, no relist), 410 after compaction (relist without a
# gap in answers, and its diff), the API server going away and coming back,
# 401 with a bad token then a rotated token file, 429 with Retry-After,
# paging, a namespace filter, kubeconfigs (token, client certificate) and
# TLS verification (wrong CA, insecure_skip_tls_verify).
#
# Bookmarks are off (--bookmark-interval 0) so the resourceVersion meshdns
# resumes from is exactly that of the last event it saw.
. "$(dirname "$0")/lib.sh"

need_cmd openssl curl
FAKE=$SRCDIR/tests/k8s/fake-apiserver.py
[ -f "$FAKE" ] || hard_error "no $FAKE"
# everything here is on loopback: never go through a proxy
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

Z=mesh.local
NEG=7
ST=$TMP/state
FLOG=$TMP/fake-apiserver.log
FPID=""
# shellcheck disable=SC2016 # expanded when the hook runs
on_exit 'if [ -n "${FPID}" ]; then kill "${FPID}" 2>/dev/null; wait "${FPID}" 2>/dev/null; fi'
BGPIDS=()	# background python loops
# shellcheck disable=SC2016
on_exit 'for p in "${BGPIDS[@]}"; do kill "${p}" 2>/dev/null; done'

# ---------------------------------------------------------------- helpers

# A stdlib DNS poller: wait for a condition (optionally right after a POST
# or DELETE to the fake's control API, timed from when that returned), and
# a steady query loop that reports any empty or failed answer.
KT=$TMP/k8stool.py
cat >"$KT" <<'PY'
import json, random, socket, struct, sys, time, urllib.request

TYPES = {'A': 1, 'AAAA': 28, 'SRV': 33, 'SOA': 6}
RC = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED'}


def qmsg(name, qtype, qid):
    m = struct.pack('!6H', qid, 0, 1, 0, 0, 1)
    for label in name.rstrip('.').split('.'):
        m += bytes([len(label)]) + label.encode()
    return m + b'\0' + struct.pack('!2H', TYPES[qtype], 1) + \
        b'\0' + struct.pack('!HHIH', 41, 1232, 0, 0)


def skip_name(b, i):
    while True:
        n = b[i]
        if n == 0:
            return i + 1
        if n & 0xc0 == 0xc0:
            return i + 2
        i += n + 1


def parse(b):
    """(rcode, [addresses in the answer section])"""
    qid, fl, qd, an, ns, ar = struct.unpack_from('!6H', b)
    i = 12
    for _ in range(qd):
        i = skip_name(b, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(b, i)
        t, _c, _ttl, rdl = struct.unpack_from('!HHIH', b, i)
        i += 10
        if t == 1:
            addrs.append(socket.inet_ntop(socket.AF_INET, b[i:i + rdl]))
        elif t == 28:
            addrs.append(socket.inet_ntop(socket.AF_INET6, b[i:i + rdl]))
        else:
            addrs.append('type%d' % t)
        i += rdl
    return RC.get(fl & 15, str(fl & 15)), addrs


class Client:
    def __init__(self, port):
        self.port = port
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect(('127.0.0.1', port))

    def ask(self, name, qtype, timeout=0.5):
        qid = random.randrange(65536)
        self.s.settimeout(timeout)
        self.s.send(qmsg(name, qtype, qid))
        end = time.monotonic() + timeout
        while True:
            try:
                r = self.s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if len(r) >= 12 and struct.unpack('!H', r[:2])[0] == qid:
                return parse(r)
            self.s.settimeout(max(0.01, end - time.monotonic()))


def cond_ok(cond, res):
    if res is None:
        return False
    rcode, addrs = res
    kind, _, arg = cond.partition('=')
    if kind == 'has':
        return rcode == 'NOERROR' and arg in addrs
    if kind == 'lacks':
        return rcode == 'NOERROR' and arg not in addrs
    if kind == 'set':
        return rcode == 'NOERROR' and sorted(addrs) == sorted(arg.split(','))
    if kind == 'rcode':
        return rcode == arg
    if kind == 'nodata':
        return rcode == 'NOERROR' and not addrs
    raise SystemExit('bad condition ' + cond)


def show(res):
    return 'noreply' if res is None else '%s %s' % (res[0], ','.join(sorted(res[1])) or '-')


def cmd_wait(args):
    """wait [--post URL FILE | --delete URL] PORT NAME TYPE COND TIMEOUT_S:
    poll every 5 ms until COND (has=ADDR lacks=ADDR set=A,B rcode=X nodata);
    prints 'ok MS' or 'timeout MS last=...' (MS from when the POST/DELETE
    returned, or from the start)"""
    req = None
    if args[0] == '--post':
        req = urllib.request.Request(args[1], data=open(args[2], 'rb').read(), method='POST')
        args = args[3:]
    elif args[0] == '--delete':
        req = urllib.request.Request(args[1], method='DELETE')
        args = args[2:]
    port, name, qtype, cond, tmax = int(args[0]), args[1], args[2], args[3], float(args[4])
    c = Client(port)
    if req is not None:
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()
    t0 = time.monotonic()
    last = None
    while True:
        last = c.ask(name, qtype)
        el = (time.monotonic() - t0) * 1000
        if cond_ok(cond, last):
            print('ok %d' % el)
            return
        if el > tmax * 1000:
            print('timeout %d last=%s' % (el, show(last)))
            sys.exit(1)
        time.sleep(0.005)


def cmd_steady(args):
    """steady PORT SECONDS INTERVAL_MS NAME:TYPE:ADDR,ADDR...: ask the names
    in turn; every answer must be NOERROR and hold exactly those addresses.
    Prints 'sent=N good=N bad=N' and the first bad answers."""
    port, secs, ival = int(args[0]), float(args[1]), float(args[2]) / 1000
    specs = [a.split(':', 2) for a in args[3:]]
    c = Client(port)
    sent = good = 0
    bad = []
    end = time.monotonic() + secs
    k = 0
    while time.monotonic() < end:
        name, qtype, want = specs[k % len(specs)]
        k += 1
        res = c.ask(name, qtype)
        sent += 1
        if res is not None and res[0] == 'NOERROR' and sorted(res[1]) == sorted(want.split(',')):
            good += 1
        else:
            bad.append('%.3f %s %s: %s' % (time.time(), name, qtype, show(res)))
        time.sleep(ival)
    print('sent=%d good=%d bad=%d' % (sent, good, len(bad)))
    for b in bad[:5]:
        print('# bad: ' + b)


globals()['cmd_' + sys.argv[1]](sys.argv[2:])
PY
kt() { python3 "$KT" "$@"; }

fk() {	# fk METHOD PATH [JSON]: the fake's control API
	curl -sS --noproxy '*' --max-time 5 -X "$1" ${3:+-d "$3"} "$CTL$2"
}
fst() {	# fst EXPR: EXPR over the fake's /stats as d
	fk GET /stats | python3 -c "import json,sys
d=json.load(sys.stdin)
print($1)"
}
rv_of() {	# rv_of JSON_ANSWER: the resourceVersion of the last result
	python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][-1]["resourceVersion"])'
}
wait_until() {	# wait_until TENTHS CMD...: poll CMD every 0.1 s
	local i n=$1
	shift
	for ((i = 0; i < n * MESHDNS_TEST_SLOW; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
logged() { grep -qE -- "$1" "$LOG"; }
log_count() { grep -cE -- "$1" "$LOG"; }
now_ms() { date +%s%3N; }
# the ops endpoint of the first daemon: /readyz status, a /metrics value
HPORT=$(python3 "$PYTOOL" freeport 0) || hard_error "no free port"
readyz() { curl -s --noproxy '*' --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/readyz"; }
metric() { curl -s --noproxy '*' --max-time 2 "http://127.0.0.1:$HPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
no_injections() { [ "$(fk GET /inject | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["injections"]))')" = 0 ]; }
open_watches_is() { [ "$(fst 'd["open_watches"]' 2>/dev/null)" = "$1" ]; }
# tool_ok DESC OUTPUT MAX_MS: a kt wait result 'ok MS' within MAX_MS
tool_ok() {
	local ms
	if [ "${2%% *}" = ok ]; then
		ms=${2#ok }
		if [ "$ms" -le "$3" ]; then ok "$1 (${ms} ms)"; else fail "$1 (${ms} ms, want <= $3)"; fi
	else
		LAST_CMD="kt wait" DIG=$2 fail "$1: $2"
	fi
}
# obj FILE JSON: write a control API body to FILE (for kt wait --post)
obj() { printf '%s\n' "$2" >"$1"; }

slice() {	# slice NS NAME SERVICE TYPE ENDPOINTS_JSON [PORTS_JSON] [ANNOTATIONS_JSON]
	local ports=${6:-} ann=${7:-}
	[ -n "$ports" ] || ports='[{"name": "http", "port": 8080, "protocol": "TCP"}]'
	[ -n "$ann" ] || ann='{}'
	printf '{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
 "metadata": {"name": "%s", "namespace": "%s", "labels": {"kubernetes.io/service-name": "%s"}, "annotations": %s},
 "addressType": "%s", "endpoints": %s, "ports": %s}' "$2" "$1" "$3" "$ann" "$4" "$5" "$ports"
}
svc() {	# svc NS NAME [SPEC_JSON] [ANNOTATIONS_JSON]
	local spec=${3:-} ann=${4:-}
	[ -n "$spec" ] || spec='{"ports": [{"name": "http", "port": 80}]}'
	[ -n "$ann" ] || ann='{}'
	printf '{"apiVersion": "v1", "kind": "Service",
 "metadata": {"name": "%s", "namespace": "%s", "annotations": %s},
 "spec": %s}' "$2" "$1" "$ann" "$spec"
}
ep() {	# ep ADDR [CONDITIONS_JSON] [HOSTNAME]
	local cond=${2:-}
	[ -n "$cond" ] || cond='{"ready": true}'
	printf '{"addresses": ["%s"], "conditions": %s%s}' "$1" "$cond" "${3:+, \"hostname\": \"$3\"}"
}
NOTREADY='{"ready": false, "serving": false, "terminating": false}'

# ---------------------------------------------------------------- fixtures

# shop/web: three slices (two IPv4, one IPv6), a host name, a not-ready, a
#   terminating (ready false) and a terminating (ready absent) endpoint
# shop/api: a canary slice with meshdns.io/weight 300
# shop/pnr: publishNotReadyAddresses; shop/ext: ExternalName
# shop/solo, shop/dyn, shop/gone, shop/keep: changed (or not) on the way
# default/other: outside the namespace filter of the last daemon
WEB_A=$(slice shop web-a web IPv4 "[$(ep 10.1.0.1 '' web-0), $(ep 10.1.0.2), $(ep 10.1.0.3 "$NOTREADY"),
	$(ep 10.1.0.4 '{"ready": false, "serving": true, "terminating": true}'),
	$(ep 10.1.0.8 '{"serving": true, "terminating": true}')]")
WEB_B=$(slice shop web-b web IPv4 "[$(ep 10.1.0.5)]" \
	'[{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]')
WEB_V6=$(slice shop web-v6 web IPv6 "[$(ep fd00::5)]")
dyn_slice() { slice shop dyn-1 dyn IPv4 "[$(ep 10.5.0.1), $1]"; }
cat >"$TMP/fixtures.json" <<EOF
{"items": [
 $(svc shop web '' '{"meshdns.io/probe": "none"}'),
 $WEB_A, $WEB_B, $WEB_V6,
 $(svc shop api '{"ports": [{"name": "grpc", "port": 9000}]}'),
 $(slice shop api-main api IPv4 "[$(ep 10.2.0.1), $(ep 10.2.0.2)]" '[{"name": "grpc", "port": 9000, "protocol": "TCP"}]'),
 $(slice shop api-canary api IPv4 "[$(ep 10.2.0.3)]" '[{"name": "grpc", "port": 9000, "protocol": "TCP"}]' '{"meshdns.io/weight": "300"}'),
 $(svc shop pnr '{"publishNotReadyAddresses": true, "ports": [{"name": "http", "port": 80}]}'),
 $(slice shop pnr-1 pnr IPv4 "[$(ep 10.3.0.1 "$NOTREADY")]"),
 $(svc shop ext '{"type": "ExternalName", "externalName": "example.com"}'),
 $(svc shop solo), $(slice shop solo-1 solo IPv4 "[$(ep 10.4.0.1)]"),
 $(svc shop dyn), $(dyn_slice "$(ep 10.5.0.2 "$NOTREADY")"),
 $(svc shop gone), $(slice shop gone-1 gone IPv4 "[$(ep 10.6.0.1)]"),
 $(svc shop keep), $(slice shop keep-1 keep IPv4 "[$(ep 10.7.0.1)]"),
 $(svc default other), $(slice default other-1 other IPv4 "[$(ep 10.8.0.1)]")
]}
EOF
N_SVC=8		# all but ExternalName
N_SLICES=11
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/fixtures.json" ||
	hard_error "bad fixtures JSON"

# ---------------------------------------------------------------- fake API server

APORT=0
# start_fake [ARGS...]: start (or restart, same API port and state dir)
start_fake() {
	local i
	rm -f "$TMP/ready"
	python3 "$FAKE" --port "$APORT" --control-port 0 --state-dir "$ST" \
		--bookmark-interval 0 --ready-file "$TMP/ready" "$@" 2>>"$FLOG" &
	FPID=$!
	for ((i = 0; i < 150 * MESHDNS_TEST_SLOW; i++)); do
		[ -s "$TMP/ready" ] && break
		kill -0 "$FPID" 2>/dev/null || hard_error "fake-apiserver exited at start (log $FLOG)"
		sleep 0.1
	done
	[ -s "$TMP/ready" ] || hard_error "fake-apiserver not ready after 15 s"
	rf() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/ready" "$1"; }
	URL=$(rf url)
	CTL=$(rf control_url)
	APORT=$(rf port)
	note "fake-apiserver pid $FPID at $URL, control $CTL"
}
stop_fake() {
	kill -TERM "$FPID" 2>/dev/null
	wait "$FPID" 2>/dev/null
	FPID=""
}
start_fake --fixtures "$TMP/fixtures.json"
TOKEN=$(cat "$ST/token")
K8S="\"server\": \"$URL\", \"token_file\": \"$ST/token\", \"ca_file\": \"$ST/ca.crt\""

WEB=web.shop.svc.$Z
WEB_ADDRS="10.1.0.1,10.1.0.2,10.1.0.5"

# ================================================================ not synced yet
note "--- before the first LIST completes: SERVFAIL + EDE 14, the apex still answers"
fk POST /inject "{\"action\": \"stall\", \"path_prefix\": \"/api/v1/services\", \"watch\": false, \"seconds\": $((2 * MESHDNS_TEST_SLOW))}" >/dev/null
start_server <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG, "http": "127.0.0.1:$HPORT",
  "kubernetes": { $K8S, "watch_timeout_s": 300, "page_size": 500, "namespaces": [] } }
EOF
MLOG1=$LOG
expect_eq "$(readyz) $(metric meshdns_kubernetes_synced)" "503 0" "before the lists: /readyz 503, meshdns_kubernetes_synced 0"
q "$WEB" A
expect_rcode SERVFAIL
expect_contains 'EDE: 14 \(Not Ready\)' "$Q: EDE 14 (Not Ready) while the services list stalls"
expect_contains 'not synced: sources still loading' "$Q: EDE text 'not synced: sources still loading'"
q "nosuch.shop.svc.$Z" A
expect_rcode SERVFAIL
q "$Z" SOA
expect_rcode NOERROR
expect_answer_count 1
check "log: 'kubernetes: synced' once the stalled list is retried" \
	wait_until 100 logged 'kubernetes: synced: '
expect_eq "$(grep -o 'kubernetes: synced: .*' "$LOG" | head -n 1)" \
	"kubernetes: synced: $N_SVC services, $N_SLICES endpoint slices" "the synced line counts services and slices"
expect_eq "$(readyz) $(metric meshdns_kubernetes_synced)" "200 1" "synced: /readyz 200, meshdns_kubernetes_synced 1"

# ================================================================ answers
note "--- answers: join by label, merged slices, host names, IPv6, SRV, weights, conditions"
q "$WEB" A
expect_rcode NOERROR
expect_flag aa
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5
q "$WEB" AAAA
expect_rdata ANSWER AAAA fd00::5
q "_http._tcp.$WEB" SRV
expect_rcode NOERROR
expect_eq "$(rrs ANSWER SRV | awk '{ print $7, tolower($8) }' | sort)" \
	"$(lines "8080 web-0.$WEB." "8080 10-1-0-2.$WEB." "8080 10-1-0-5.$WEB." "8080 fd00--5.$WEB.")" \
	"$Q: one SRV per ready endpoint, port 8080, host name or dashed address"
q "_dns._udp.$WEB" SRV
expect_rcode NOERROR
expect_eq "$(rrs ANSWER SRV | awk '{ print $7 }' | sort -u)" "53" "$Q: UDP port from the slice: _dns._udp, port 53"
q "_dns._tcp.$WEB" SRV
expect_nxdomain "$Z" "$NEG"
note "(the dns port is UDP only: _dns._tcp does not exist)"
q "web-0.$WEB" A
expect_rdata ANSWER A 10.1.0.1
q "10-1-0-2.$WEB" A
expect_rdata ANSWER A 10.1.0.2
q "10-1-0-3.$WEB" A
check "$Q: a not-ready endpoint's name is not answered with its address" \
	test -z "$(rdata ANSWER A)"
q "_grpc._tcp.api.shop.svc.$Z" SRV
expect_eq "$(rrs ANSWER SRV | awk '{ print $6, tolower($8) }' | sort)" \
	"$(lines "21845 10-2-0-1.api.shop.svc.$Z." "21845 10-2-0-2.api.shop.svc.$Z." "65535 10-2-0-3.api.shop.svc.$Z.")" \
	"$Q: meshdns.io/weight 300 on the canary slice: SRV weights 65535 vs 21845"
q "pnr.shop.svc.$Z" A
expect_rdata ANSWER A 10.3.0.1
note "(publishNotReadyAddresses: the not-ready endpoint is answered)"
q "ext.shop.svc.$Z" A
expect_nxdomain "$Z" "$NEG"
q "other.default.svc.$Z" A
expect_rdata ANSWER A 10.8.0.1

# ================================================================ live changes
note "--- live changes: ready, not ready, slice deleted (NODATA), service deleted (NXDOMAIN)"
obj "$TMP/b1" "$(dyn_slice "$(ep 10.5.0.2)")"
tool_ok "10.5.0.2 turned ready: in the dyn A answer" \
	"$(kt wait --post "$CTL/objects" "$TMP/b1" "$PORT" "dyn.shop.svc.$Z" A has=10.5.0.2 3)" 1000
obj "$TMP/b2" "$(dyn_slice "$(ep 10.5.0.2 "$NOTREADY")")"
tool_ok "10.5.0.2 turned not ready: gone from the dyn A answer" \
	"$(kt wait --post "$CTL/objects" "$TMP/b2" "$PORT" "dyn.shop.svc.$Z" A lacks=10.5.0.2 3)" 1000
q "dyn.shop.svc.$Z" A
expect_rdata ANSWER A 10.5.0.1
tool_ok "slice solo-1 deleted: solo has no addresses" \
	"$(kt wait --delete "$CTL/objects/endpointslice/shop/solo-1" "$PORT" "solo.shop.svc.$Z" A nodata 3)" 1000
q "solo.shop.svc.$Z" A
expect_nodata "$Z" "$NEG"
tool_ok "service solo deleted: NXDOMAIN" \
	"$(kt wait --delete "$CTL/objects/service/shop/solo" "$PORT" "solo.shop.svc.$Z" A rcode=NXDOMAIN 3)" 1000
q "solo.shop.svc.$Z" A
expect_nxdomain "$Z" "$NEG"

# ================================================================ stream faults
note "--- a malformed watch line is skipped; the next event applies; no relist"
SKIP0=$(metric meshdns_kubernetes_skipped_total)
LISTS0=$(fst 'd["counts"].get("list:services", 0) + d["counts"].get("list:endpointslices", 0)')
fk POST /inject '{"action": "malformed", "path_prefix": "/apis/discovery.k8s.io/v1/endpointslices", "count": 1}' >/dev/null
obj "$TMP/b3" "$(dyn_slice "$(ep 10.5.0.3)")"
tool_ok "the event after a malformed line applies (10.5.0.3 appears)" \
	"$(kt wait --post "$CTL/objects" "$TMP/b3" "$PORT" "dyn.shop.svc.$Z" A has=10.5.0.3 3)" 1000
check "log: 'skipped a malformed watch line'" logged 'endpointslices: skipped a malformed watch line'
expect_eq "$(metric meshdns_kubernetes_skipped_total)" "$((SKIP0 + 1))" "meshdns_kubernetes_skipped_total counted it"
check "the malformed-line fault was used up" no_injections
expect_eq "$(fst 'd["counts"].get("list:services", 0) + d["counts"].get("list:endpointslices", 0)')" \
	"$LISTS0" "no LIST request after the malformed line"

note "--- events split over 3 chunks are applied"
fk POST /inject '{"action": "split", "path_prefix": "/apis/discovery.k8s.io/v1/endpointslices", "count": 1}' >/dev/null
obj "$TMP/b4" "$(dyn_slice "$(ep 10.5.0.4)")"
tool_ok "a split event applies (10.5.0.4 replaces 10.5.0.3)" \
	"$(kt wait --post "$CTL/objects" "$TMP/b4" "$PORT" "dyn.shop.svc.$Z" A set=10.5.0.1,10.5.0.4 3)" 1000
fk POST /inject '{"action": "split", "path_prefix": "/api/v1/services", "count": 1}' >/dev/null
obj "$TMP/b5" "$(svc shop dyn '{"ports": [{"name": "http", "port": 80}, {"name": "admin", "port": 81}]}')"
kt wait --post "$CTL/objects" "$TMP/b5" "$PORT" "dyn.shop.svc.$Z" A has=10.5.0.4 1 >/dev/null
check "a split Service event was written (the fault is used up)" wait_until 20 no_injections
expect_eq "$(fst 'd["counts"].get("list:services", 0) + d["counts"].get("list:endpointslices", 0)')" \
	"$LISTS0" "no LIST request after the split events"

# ================================================================ dropped watch
note "--- a dropped watch resumes from the last resourceVersion, without a LIST"
RV_S=$(fk POST /objects "$(svc shop late)" | rv_of)
RV_E=$(fk POST /objects "$(slice shop late-1 late IPv4 "[$(ep 10.9.0.1)]")" | rv_of)
tool_ok "a new service (late) appears" "$(kt wait "$PORT" "late.shop.svc.$Z" A has=10.9.0.1 3)" 1000
fk POST /reset-stats >/dev/null
expect_eq "$(fk POST /drop-watches | python3 -c 'import json,sys; print(json.load(sys.stdin)["dropped"])')" \
	"2" "/drop-watches cut meshdns' two watches"
check "meshdns watches again" wait_until 50 open_watches_is 2
expect_eq "$(fst '" ".join(sorted("%s:%s" % (r["resource"], r["query"].get("resourceVersion")) for r in d["requests"] if r["verb"] == "watch"))')" \
	"endpointslices:$RV_E services:$RV_S" "the new watches ask for the last resourceVersions (services $RV_S, endpointslices $RV_E)"
expect_eq "$(fst 'sum(v for k, v in d["counts"].items() if k.startswith("list:"))')" "0" \
	"no LIST request after a dropped watch"
check "log: 'watch dropped ... resuming from'" logged 'watch dropped .*resuming from'
obj "$TMP/b6" "$(slice shop late-1 late IPv4 "[$(ep 10.9.0.2)]")"
tool_ok "a change after the resumed watch applies" \
	"$(kt wait --post "$CTL/objects" "$TMP/b6" "$PORT" "late.shop.svc.$Z" A set=10.9.0.2 3)" 1000

note "--- 100 reconnects (watches cut after an event each, every 10th next watch gets a 500): no fd or thread leak"
# A watch cut before it delivered anything counts as a failure (backoff
# grows, as client-go's does); so each round first makes both watches
# deliver an event (a new Service ping-I in namespace reconnect, a changed
# slice for shop/ping) and
# sees it answered, then cuts them and waits until meshdns watches again.
count_fds() { find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }
count_tasks() { find "/proc/$PID/task" -mindepth 1 -maxdepth 1 | wc -l; }
cat >"$TMP/reconnect.py" <<'PY'
import json, socket, struct, sys, time, urllib.request
ctl, port, zone, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def call(method, path, body=None):
    req = urllib.request.Request(ctl + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)
def query(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    q = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0\0\1\0\1"
    try:
        s.sendto(q, ("127.0.0.1", port))
        m = s.recv(4096)
    except OSError:
        return None, []
    finally:
        s.close()
    an, p = struct.unpack("!H", m[6:8])[0], len(q)
    addrs = []
    for _ in range(an):
        p += 2
        t, _, _, l = struct.unpack("!HHIH", m[p:p + 10])
        if t == 1:
            addrs.append(socket.inet_ntoa(m[p + 10:p + 14]))
        p += 10 + l
    return m[3] & 15, addrs
def until(cond, secs):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False
done, t0 = 0, time.monotonic()
for i in range(1, rounds + 1):
    addr = "10.77.%d.%d" % (i // 250, i % 250 + 1)
    call("POST", "/objects", {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "ping-%d" % i, "namespace": "reconnect"},
         "spec": {"ports": [{"name": "http", "port": 80}]}})
    call("POST", "/objects", {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "ping-1", "namespace": "shop",
                      "labels": {"kubernetes.io/service-name": "ping"}},
         "addressType": "IPv4", "endpoints": [{"addresses": [addr], "conditions": {"ready": True}}],
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    seen = lambda: query("ping-%d.reconnect.svc.%s" % (i, zone))[0] == 0 and \
        query("ping.shop.svc.%s" % zone)[1] == [addr]
    if not until(seen, 5):
        print("round %d: events not answered" % i, file=sys.stderr)
        break
    if i % 10 == 0:
        call("POST", "/inject", {"path_prefix": "", "watch": True, "status": 500, "count": 1})
    call("POST", "/drop-watches")
    # a 500 costs one backoff step (200-400 ms)
    if not until(lambda: call("GET", "/stats")["open_watches"] == 2, 10):
        print("round %d: not watching again" % i, file=sys.stderr)
        break
    done = i
print(done, int((time.monotonic() - t0) * 1000))
PY
fk POST /objects "$(svc shop ping)" >/dev/null
FDS0=$(count_fds)
TASKS0=$(count_tasks)
read -r RECONNECTED MS < <(python3 "$TMP/reconnect.py" "$CTL" "$PORT" "$Z" 100)
note "100 reconnect rounds took ${MS:-?} ms"
expect_eq "$RECONNECTED" 100 "meshdns watched again after each of 100 cut watches (10 of them answered 500)"
FDS1=$(count_fds)
TASKS1=$(count_tasks)
note "fds $FDS0 -> $FDS1, threads $TASKS0 -> $TASKS1"
expect_le "$FDS1" "$((FDS0 + 2))" "no fd leak over 100 reconnects (curl may keep an idle connection)"
expect_eq "$TASKS1" "$TASKS0" "no thread leak over 100 reconnects"
q "ping.shop.svc.$Z" A
expect_rdata ANSWER A 10.77.0.101
q "$WEB" A
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5

note "--- join edge cases: a Service re-added finds its slices, an empty slice, a slice changing service"
tool_ok "service late deleted (its slice stays): NXDOMAIN" \
	"$(kt wait --delete "$CTL/objects/service/shop/late" "$PORT" "late.shop.svc.$Z" A rcode=NXDOMAIN 3)" 1000
obj "$TMP/b8" "$(svc shop late)"
tool_ok "service late re-added: answered from the slice that stayed" \
	"$(kt wait --post "$CTL/objects" "$TMP/b8" "$PORT" "late.shop.svc.$Z" A set=10.9.0.2 3)" 1000
obj "$TMP/b9" "$(slice shop late-1 late IPv4 '[]' '[]')"
tool_ok "a slice with no endpoints and no ports (encoded as null): NODATA" \
	"$(kt wait --post "$CTL/objects" "$TMP/b9" "$PORT" "late.shop.svc.$Z" A nodata 3)" 1000
q "late.shop.svc.$Z" A
expect_nodata "$Z" "$NEG"
obj "$TMP/b10" "$(slice shop late-1 dyn IPv4 "[$(ep 10.9.0.3)]")"
tool_ok "slice late-1 relabelled to service dyn: dyn gains its address" \
	"$(kt wait --post "$CTL/objects" "$TMP/b10" "$PORT" "dyn.shop.svc.$Z" A set=10.5.0.1,10.5.0.4,10.9.0.3 3)" 1000
q "late.shop.svc.$Z" A
expect_nodata "$Z" "$NEG"
obj "$TMP/b11" "$(slice shop late-1 late IPv4 "[$(ep 10.9.0.2)]")"
tool_ok "and back: late answers again" \
	"$(kt wait --post "$CTL/objects" "$TMP/b11" "$PORT" "late.shop.svc.$Z" A set=10.9.0.2 3)" 1000
tool_ok "and dyn lost it" "$(kt wait "$PORT" "dyn.shop.svc.$Z" A set=10.5.0.1,10.5.0.4 1)" 100

# ================================================================ 410: relist
note "--- 410 after compaction: one relist per resource, answers continuous"
fk POST /reset-stats >/dev/null
EXP0=$(log_count 'expired, listing again')
REL0=$(metric meshdns_kubernetes_relists_total)
STEADY=("web.shop.svc.$Z:A:$WEB_ADDRS" "keep.shop.svc.$Z:A:10.7.0.1")
kt steady "$PORT" 2 5 "${STEADY[@]}" >"$TMP/steady1" 2>&1 &
BGPIDS+=($!)
SPID=$!
sleep 0.3
# a Node (not watched) moves the RV past both informers' RVs, so the
# compaction point is above what meshdns has; then one more to move past it
fk POST /objects '{"kind": "Node", "metadata": {"name": "node-1"}}' >/dev/null
note "compacted at $(fk POST /compact)"
fk POST /objects '{"kind": "Node", "metadata": {"name": "node-2"}}' >/dev/null
fk POST /drop-watches >/dev/null
relisted() { [ "$(log_count 'expired, listing again')" -ge $((EXP0 + 2)) ] && open_watches_is 2; }
check "both informers got 410 and watch again" wait_until 50 relisted
wait "$SPID"
note "steady queries: $(cat "$TMP/steady1")"
expect_eq "$(head -n 1 "$TMP/steady1" | sed 's/.*bad=//')" "0" \
	"no empty or failed answer for web/keep during the relist (every 5 ms for 2 s)"
expect_eq "$(fst 'd["counts"].get("list:services", 0), d["counts"].get("list:endpointslices", 0)')" \
	"1 1" "one more LIST per resource (services, endpointslices)"
expect_eq "$(metric meshdns_kubernetes_relists_total)" "$((REL0 + 2))" "meshdns_kubernetes_relists_total +2"
check "log: 'services: resourceVersion N expired, listing again'" \
	logged 'kubernetes services: resourceVersion [0-9]+ expired, listing again'
check "log: 'endpointslices: resourceVersion N expired, listing again'" \
	logged 'kubernetes endpointslices: resourceVersion [0-9]+ expired, listing again'

note "--- objects deleted while the watch was down and compacted away: gone after the relist"
fk POST /reset-stats >/dev/null
kt steady "$PORT" 4 5 "${STEADY[@]}" >"$TMP/steady2" 2>&1 &
BGPIDS+=($!)
SPID=$!
sleep 0.2
fk POST /inject '{"path_prefix": "", "watch": true, "status": 503, "count": -1}' >/dev/null
fk POST /drop-watches >/dev/null
fk DELETE /objects/endpointslice/shop/gone-1 >/dev/null
fk DELETE /objects/service/shop/gone >/dev/null
fk POST /objects "$(dyn_slice "$(ep 10.5.0.9)")" >/dev/null
fk POST /objects "$(svc shop new)" >/dev/null
fk POST /objects "$(slice shop new-1 new IPv4 "[$(ep 10.11.0.1)]")" >/dev/null
fk POST /objects '{"kind": "Node", "metadata": {"name": "node-3"}}' >/dev/null
fk POST /compact >/dev/null
watch_503s() { [ "$(fst 'sum(1 for r in d["requests"] if r["verb"] == "watch" and r["status"] == 503)')" -ge 2 ]; }
check "meshdns tried to watch while watches failed (503)" wait_until 30 watch_503s
q "gone.shop.svc.$Z" A
expect_rdata ANSWER A 10.6.0.1
note "(while the watches fail, the deleted service is still answered: nothing said otherwise)"
fk DELETE /inject >/dev/null
tool_ok "after the relist the service deleted meanwhile is NXDOMAIN" \
	"$(kt wait "$PORT" "gone.shop.svc.$Z" A rcode=NXDOMAIN 8)" 8000
tool_ok "a service added meanwhile is answered" "$(kt wait "$PORT" "new.shop.svc.$Z" A set=10.11.0.1 2)" 500
tool_ok "a slice changed meanwhile is updated" "$(kt wait "$PORT" "dyn.shop.svc.$Z" A set=10.5.0.1,10.5.0.9 2)" 500
wait "$SPID"
note "steady queries: $(cat "$TMP/steady2")"
expect_eq "$(head -n 1 "$TMP/steady2" | sed 's/.*bad=//')" "0" \
	"unchanged services (web, keep) never disappear during the relist"
check "log: the relist removed what the list no longer has" \
	logged 'kubernetes (services|endpointslices): the list no longer has 1 object'
check_alive "the relists"

# ================================================================ API server down
note "--- API server down: answers from what was known; back: reconnect, changes flow"
fk GET /objects | python3 -c '
import json, sys
d = json.load(sys.stdin)
keep = []
for o in d["items"]:
    if o["kind"] in ("Service", "EndpointSlice"):
        for k in ("uid", "resourceVersion", "creationTimestamp"):
            o["metadata"].pop(k, None)
        keep.append(o)
json.dump({"items": keep}, sys.stdout)' >"$TMP/fixtures2.json"
RV_OLD=$(fst 'd["resource_version"]')
python3 - "$TMP/fixtures2.json" "$(svc shop after)" "$(slice shop after-1 after IPv4 "[$(ep 10.10.0.1)]")" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["items"] += [json.loads(sys.argv[2]), json.loads(sys.argv[3])]
json.dump(d, open(sys.argv[1], "w"))
PY
stop_fake
note "fake-apiserver stopped"
sleep 3
q "$WEB" A
expect_rcode NOERROR
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5
note "(3 s after the API server went away)"
q "nosuch.shop.svc.$Z" A
expect_rcode NXDOMAIN
q "after.shop.svc.$Z" A
expect_rcode NXDOMAIN
# objects are not persisted by the fake: reload them; RVs move on from
# where they were (as etcd's would), so meshdns' old RV is compacted: 410
start_fake --fixtures "$TMP/fixtures2.json" --initial-rv $((RV_OLD + 1000))
tool_ok "meshdns reconnected: a service created while it was away is answered" \
	"$(kt wait "$PORT" "after.shop.svc.$Z" A set=10.10.0.1 20)" 20000
obj "$TMP/b7" "$(slice shop after-1 after IPv4 "[$(ep 10.10.0.2)]")"
tool_ok "and a change after the reconnect shows up at once" \
	"$(kt wait --post "$CTL/objects" "$TMP/b7" "$PORT" "after.shop.svc.$Z" A set=10.10.0.2 3)" 1000
q "$WEB" A
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5

# ================================================================ 401, token rotation
note "--- 401 with a wrong token: logged without the token, SERVFAIL; a rewritten token file syncs"
BAD_TOKEN="bad-token-$RANDOM$RANDOM$RANDOM"
(umask 077 && printf '%s\n' "$BAD_TOKEN" >"$TMP/mtoken")
fk POST /reset-stats >/dev/null
start_server <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG,
  "kubernetes": { "server": "$URL", "token_file": "$TMP/mtoken", "ca_file": "$ST/ca.crt" } }
EOF
MLOG2=$LOG
check "log: 'HTTP 401 (unauthorized)'" wait_until 50 logged 'HTTP 401.*unauthorized'
q "$WEB" A
expect_rcode SERVFAIL
expect_contains 'EDE: 14 \(Not Ready\)'
sleep 1
check "the wrong token is not in the log" test -z "$(grep -F -- "$BAD_TOKEN" "$LOG")"
N401=$(fst 'max(sum(1 for r in d["requests"] if r["resource"] == x and r["status"] == 401) for x in ("services", "endpointslices"))')
BOUND=$((200 << (N401 > 1 ? N401 - 1 : 0)))
[ "$BOUND" -gt 30000 ] && BOUND=30000
BOUND=$((BOUND + 1500))
note "$N401 requests per resource got 401 so far; the next retry is due within $((BOUND - 1500)) ms"
(umask 077 && cp "$ST/token" "$TMP/mtoken.new" && mv "$TMP/mtoken.new" "$TMP/mtoken")
T0=$(now_ms)
if wait_until 350 logged 'kubernetes: synced'; then
	expect_le "$(($(now_ms) - T0))" "$BOUND" "synced after the token file was rewritten (ms)"
else
	fail "not synced 35 s after the token file was rewritten"
fi
check "log: 'token loaded' again after the rewrite" test "$(log_count 'token loaded from')" -ge 2
q "$WEB" A
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5

# ================================================================ TLS
note "--- TLS is verified: a wrong CA does not sync"
start_server <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG,
  "kubernetes": { "server": "$URL", "token_file": "$ST/token", "ca_file": "$ST/client-ca.crt" } }
EOF
MLOG3=$LOG
check "log: a certificate error" wait_until 50 logged 'kubernetes (services|endpointslices): list .*certificate'
q "$WEB" A
expect_rcode SERVFAIL
check "not synced with the wrong CA" test "$(log_count 'kubernetes: synced')" = 0

note "--- insecure_skip_tls_verify: syncs with the wrong CA, with a warning"
start_server <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG,
  "kubernetes": { "server": "$URL", "token_file": "$ST/token", "ca_file": "$ST/client-ca.crt",
                  "insecure_skip_tls_verify": true } }
EOF
check "synced" wait_until 50 logged 'kubernetes: synced'
check "log: a warning about insecure_skip_tls_verify" logged 'warn.*insecure_skip_tls_verify'
q "$WEB" A
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5

# ================================================================ credential file modes
note "--- credentials readable by others: warned about (token file, client key), still used"
cp "$ST/token" "$TMP/open-token" && chmod 0644 "$TMP/open-token"
cp "$ST/client.key" "$TMP/open.key" && chmod 0644 "$TMP/open.key"
cred_conf() {
	cat <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG,
  "kubernetes": { "server": "$URL", "token_file": "$TMP/open-token", "ca_file": "$ST/ca.crt",
                  "client_cert": "$ST/client.crt", "client_key": "$TMP/open.key" } }
EOF
}
start_server < <(cred_conf)
check "synced" wait_until 50 logged 'kubernetes: synced'
check "log: the token file is readable by others (mode 0644)" \
	logged "warn.*token file $TMP/open-token is readable or writable by others \\(mode 0644\\)"
check "log: the client key is readable by others (mode 0644)" \
	logged "warn.*client key $TMP/open.key is readable or writable by others \\(mode 0644\\)"
check "the key's contents are not in the log" \
	test -z "$(grep -F -- "$(sed -n 2p "$ST/client.key")" "$LOG")"
chmod 0600 "$TMP/open-token" "$TMP/open.key"
start_server < <(cred_conf)
check "synced (mode 0600)" wait_until 50 logged 'kubernetes: synced'
check "no mode warning at 0600" test "$(log_count 'readable or writable by others')" = 0

# ================================================================ kubeconfig
note "--- kubeconfig (inline CA, token), started while every LIST gets 503"
fk POST /inject '{"path_prefix": "", "watch": false, "status": 503, "count": -1}' >/dev/null
start_server <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG, "kubernetes": { "kubeconfig": "$ST/kubeconfig" } }
EOF
check "log: the 503 on the list" wait_until 30 logged 'list /api/v1/services: HTTP 503'
q "$WEB" A
expect_rcode SERVFAIL
expect_contains 'EDE: 14 \(Not Ready\)'
fk DELETE /inject >/dev/null
check "synced once the lists are served" wait_until 80 logged 'kubernetes: synced'
check "log: the API server comes from the kubeconfig" logged "API server $URL \(kubeconfig\)"
q "$WEB" A
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5

note "--- kubeconfig-cert (client certificate files)"
fk POST /reset-stats >/dev/null
start_server <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG, "kubernetes": { "kubeconfig": "$ST/kubeconfig-cert" } }
EOF
check "synced" wait_until 50 logged 'kubernetes: synced'
q "$WEB" A
expect_rdata ANSWER A 10.1.0.1 10.1.0.2 10.1.0.5
expect_eq "$(fst '" ".join(sorted({"%s:%s" % (r["auth"], r["user"]) for r in d["requests"] if r["verb"]}))')" \
	"x509:meshdns-test" "every request authenticated with the client certificate"

# ================================================================ namespaces, paging, 429
note "--- namespaces [shop], page_size 2, and a 429 (Retry-After: 2) on the first slices list"
fk POST /reset-stats >/dev/null
fk POST /inject '{"path_prefix": "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices", "watch": false, "status": 429, "retry_after": 2, "count": 1}' >/dev/null
SHOP=$(fk GET /objects | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted(o["metadata"]["name"] for o in d["items"] if o["kind"] == "Service"
                      and o["metadata"]["namespace"] == "shop" and o["spec"].get("type") != "ExternalName")))')
N_SHOP=$(wc -w <<<"$SHOP")
note "shop services: $SHOP"
check "at least 7 services in shop (paging by 2)" test "$N_SHOP" -ge 7
start_server <<EOF
{ "listen": [@LISTEN@], "negative_ttl": $NEG,
  "kubernetes": { $K8S, "page_size": 2, "namespaces": ["shop"] } }
EOF
# while the slices wait out Retry-After the services are known but have no
# endpoints yet: that must not look like NODATA
if wait_until 20 logged 'kubernetes services: listed'; then
	q "$WEB" A
	expect_rcode SERVFAIL
	expect_contains 'EDE: 14 \(Not Ready\)' "$Q: services listed, slices not yet: still SERVFAIL + EDE 14"
else
	fail "the services list did not complete"
fi
check "synced" wait_until 80 logged 'kubernetes: synced'
expect_eq "$(grep -o 'kubernetes: synced: [0-9]* services' "$LOG" | head -n 1)" \
	"kubernetes: synced: $N_SHOP services" "only the shop services are known"
RETRY=$(fst '" ".join("%d:%.3f" % (r["status"], r["time"]) for r in d["requests"] if r["resource"] == "endpointslices" and r["verb"] == "list" and not r["query"].get("continue"))')
note "first-page slices lists (status:time): $RETRY"
expect_eq "$(awk '{ split($1, a, ":"); split($2, b, ":"); print a[1], b[1] }' <<<"$RETRY")" \
	"429 200" "the slices list got 429, then the next one succeeded"
expect_ge "$(awk '{ split($1, a, ":"); split($2, b, ":"); printf "%d", (b[2] - a[2]) * 1000 }' <<<"$RETRY")" \
	1990 "the retry after 429 came >= 2 s later (Retry-After), in ms"
PAGES=$(fst 'sum(1 for r in d["requests"] if r["resource"] == "services" and r["verb"] == "list" and r["query"].get("limit") == "2")')
CONTS=$(fst 'sum(1 for r in d["requests"] if r["resource"] == "services" and r["verb"] == "list" and r["query"].get("continue"))')
expect_eq "$PAGES $CONTS" "$(((N_SHOP + 1 + 1) / 2)) $(((N_SHOP + 1 + 1) / 2 - 1))" \
	"services listed in pages of 2 ($N_SHOP + ext), all but the first with continue"
expect_eq "$(fst '" ".join(sorted({r["path"] for r in d["requests"] if r["verb"]}))')" \
	"/api/v1/namespaces/shop/services /apis/discovery.k8s.io/v1/namespaces/shop/endpointslices" \
	"only the namespaced paths are requested"
missing=""
for s in $SHOP; do
	q "$s.shop.svc.$Z" A
	[ "$(rcode)" = NOERROR ] && [ -n "$(rdata ANSWER A)" ] || missing+=" $s"
done
expect_eq "${missing:-none}" "none" "every shop service answers A (through all pages)"
q "other.default.svc.$Z" A
expect_nxdomain "$Z" "$NEG"
note "(default/other is outside the namespace filter)"

# ================================================================ the token never logged
for l in "$MLOG1" "$MLOG2" "$MLOG3" "$LOG"; do
	check "the API token is not in $(basename "$l")" test -z "$(grep -F -- "$TOKEN" "$l")"
done
check_alive
finish
