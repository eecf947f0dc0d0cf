#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# The fake Kubernetes API server (tests/k8s/fake-apiserver.py) is faithful
# enough for the real kubectl: discovery (aggregated and legacy), lists of
# Services/EndpointSlices/Nodes, -n, single GETs, paging (--chunk-size),
# watch events in order, bearer tokens (wrong, rotated), client certificates
# and TLS verification. Then curl checks what kubectl doesn't exercise: 410
# after /compact (watch ERROR event, expired continue token), bookmarks,
# timeoutSeconds, an injected 429 with Retry-After, /drop-watches, and the
# malformed/split stream faults. No meshdns daemon is started.
. "$(dirname "$0")/lib.sh"

need_cmd kubectl openssl curl
FAKE=$SRCDIR/tests/k8s/fake-apiserver.py
[ -f "$FAKE" ] || hard_error "no $FAKE"
# everything here is on loopback: never go through a proxy
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

ST=$TMP/state
LOG=$TMP/fake-apiserver.log	# lib.sh's fail/hard_error show its tail
FPID=""
# shellcheck disable=SC2016 # expanded when the hook runs
on_exit 'if [ -n "${FPID}" ]; then kill "${FPID}" 2>/dev/null; wait "${FPID}" 2>/dev/null; fi'
BGPIDS=()	# background kubectl/curl watches
# shellcheck disable=SC2016
on_exit 'for p in "${BGPIDS[@]}"; do kill "${p}" 2>/dev/null; done'

cat >"$TMP/fixtures.json" <<'EOF'
{"items": [
 {"apiVersion": "v1", "kind": "Service",
  "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
  "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}},
 {"apiVersion": "v1", "kind": "Service",
  "metadata": {"name": "db", "namespace": "shop"},
  "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}},
 {"apiVersion": "v1", "kind": "Service",
  "metadata": {"name": "api", "namespace": "default", "annotations": {"mesh/weight": "3"}},
  "spec": {"type": "ClusterIP", "ports": [{"name": "grpc", "port": 9000}]}},
 {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"name": "web-abc12", "namespace": "shop",
               "labels": {"kubernetes.io/service-name": "web"}},
  "addressType": "IPv4",
  "endpoints": [
   {"addresses": ["10.1.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false},
    "nodeName": "node-a", "zone": "zone-a",
    "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop",
                  "uid": "11111111-2222-3333-4444-555555555555"}},
   {"addresses": ["10.1.0.2"], "conditions": {"ready": false, "serving": true, "terminating": true},
    "nodeName": "node-b", "zone": "zone-b", "hints": {"forZones": [{"name": "zone-b"}]}}],
  "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
 {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"name": "api-xyz98", "namespace": "default",
               "labels": {"kubernetes.io/service-name": "api"}},
  "addressType": "IPv6",
  "endpoints": [{"addresses": ["fd00::1"], "conditions": {"ready": true}}],
  "ports": [{"name": "grpc", "port": 9000, "protocol": "TCP"}]},
 {"apiVersion": "v1", "kind": "Node",
  "metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "zone-a"}}}
]}
EOF

# --port 0 / --control-port 0: the fake binds free loopback ports itself and
# reports them in the ready file (no window for another process to take them)
start_fake() {
	local i
	rm -f "$TMP/ready"
	python3 "$FAKE" --port 0 --control-port 0 --state-dir "$ST" \
		--ready-file "$TMP/ready" --fixtures "$TMP/fixtures.json" 2>>"$LOG" &
	FPID=$!
	for ((i = 0; i < 100 * MESHDNS_TEST_SLOW; i++)); do
		[ -s "$TMP/ready" ] && return 0
		kill -0 "$FPID" 2>/dev/null || hard_error "fake-apiserver exited at start"
		sleep 0.1
	done
	hard_error "fake-apiserver not ready after 10 s"
}
start_fake

rf() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$TMP/ready" "$1"; }
URL=$(rf url)
CTL=$(rf control_url)
note "fake-apiserver pid $FPID at $URL, control $CTL"

# kubectl with a private cache dir and HOME (nothing under ~/.kube)
kc() {
	HOME=$TMP/home KUBECONFIG=$TMP/no-such-kubeconfig \
		kubectl --cache-dir "$TMP/kcache" --request-timeout=10s "$@"
}
# kc_bg: the same for a background job (cmd &): exec, so $! is kubectl's
# own PID and killing it kills kubectl, not just a subshell
kc_bg() {
	HOME=$TMP/home KUBECONFIG=$TMP/no-such-kubeconfig \
		exec kubectl --cache-dir "$TMP/kcache" --request-timeout=10s "$@"
}
KCF=(--kubeconfig "$ST/kubeconfig")

# run CMD...: OUT = its stdout+stderr, RC = its status; lib.sh's fail shows
# the command and its output (LAST_CMD, DIG)
run() {
	# shellcheck disable=SC2034
	LAST_CMD="$*"
	OUT=$("$@" 2>&1)
	RC=$?
	# shellcheck disable=SC2034
	DIG=$OUT
	return 0
}

ctl() {	# ctl METHOD PATH [JSON]
	curl -sS --noproxy '*' --max-time 5 -X "$1" ${3:+-d "$3"} "$CTL$2"
}
api() {	# api PATH [curl args...]: the API with the current token
	local p=$1
	shift
	curl -sS --noproxy '*' --max-time 10 --cacert "$ST/ca.crt" \
		-H "Authorization: Bearer $(cat "$ST/token")" "$@" "$URL$p"
}
api_bg() {	# api_bg PATH [curl args...] &: like api, $! is curl's PID
	local p=$1
	shift
	exec curl -sS --noproxy '*' --max-time 20 --cacert "$ST/ca.crt" \
		-H "Authorization: Bearer $(cat "$ST/token")" "$@" "$URL$p"
}
py() {	# py CODE: run python on stdin, the JSON document as d
	python3 -c "import json,sys
d=json.load(sys.stdin)
$1"
}
cstat() { ctl GET /stats | py "print($1)"; }
NAMES='print(" ".join(i["metadata"]["namespace"]+"/"+i["metadata"]["name"] for i in d["items"]))'
now_ms() { date +%s%3N; }
# wait_until MAX_TENTHS CMD...: poll CMD every 0.1 s
wait_until() {
	local i n=$1
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------- kubectl

run kc "${KCF[@]}" get --raw /version
expect_eq "$(printf '%s' "$OUT" | py 'print(d["gitVersion"])' 2>&1)" "v1.32.0" \
	"kubectl get --raw /version"

run kc "${KCF[@]}" get services -A -o json
expect_eq "$(printf '%s' "$OUT" | py "$NAMES" 2>&1)" "default/api shop/db shop/web" \
	"kubectl get services -A lists the fixtures, sorted by namespace/name"
expect_eq "$(printf '%s' "$OUT" | py '
s = {i["metadata"]["name"]: i for i in d["items"]}
print(s["web"]["spec"]["ports"][0]["targetPort"], s["db"]["spec"]["clusterIP"],
      s["api"]["metadata"]["annotations"]["mesh/weight"],
      all(i["metadata"]["uid"] and i["metadata"]["creationTimestamp"] and
          int(i["metadata"]["resourceVersion"]) > 0 for i in d["items"]))' 2>&1)" "8080 None 3 True" \
	"services carry ports, headless clusterIP, annotations, uid/creationTimestamp/resourceVersion"

run kc "${KCF[@]}" get endpointslices -A -o json
expect_eq "$(printf '%s' "$OUT" | py '
for i in d["items"]:
    print(i["metadata"]["name"], i["addressType"],
          i["metadata"]["labels"]["kubernetes.io/service-name"],
          ",".join(a for e in i["endpoints"] for a in e["addresses"]),
          ",".join(str(e["conditions"].get("ready")) for e in i["endpoints"]),
          i["ports"][0]["port"])' 2>&1)" \
	"api-xyz98 IPv6 api fd00::1 True 9000
web-abc12 IPv4 web 10.1.0.1,10.1.0.2 True,False 8080" \
	"kubectl get endpointslices -A: names, address types, addresses, conditions, ports"

run kc "${KCF[@]}" -n shop get services -o json
expect_eq "$(printf '%s' "$OUT" | py "$NAMES" 2>&1)" "shop/db shop/web" "kubectl -n shop get services"

run kc "${KCF[@]}" -n shop get service web -o json
expect_eq "$(printf '%s' "$OUT" | py 'print(d["kind"], d["apiVersion"], d["metadata"]["name"], d["spec"]["ports"][0]["port"], d["spec"]["clusterIP"].startswith("10.96."))' 2>&1)" \
	"Service v1 web 80 True" "kubectl get service web (single GET, cluster IP assigned)"

run kc "${KCF[@]}" -n shop get service nope
check "a missing service is NotFound" grep -q 'services "nope" not found' <<<"$OUT"

run kc "${KCF[@]}" get nodes -o json
expect_eq "$(printf '%s' "$OUT" | py 'print(" ".join(i["metadata"]["name"]+"@"+i["metadata"]["labels"]["topology.kubernetes.io/zone"] for i in d["items"]))' 2>&1)" \
	"node-a@zone-a" "kubectl get nodes (zone label)"

run kc "${KCF[@]}" get namespaces -o name
expect_eq "$(printf '%s' "$OUT" | tr '\n' ' ')" \
	"namespace/default namespace/kube-node-lease namespace/kube-public namespace/kube-system namespace/shop" \
	"namespaces are derived from the objects (plus the standard four)"

# discovery: kubectl 1.32 asks /api and /apis for the aggregated (v2) form;
# with it switched off it must fall back to the per-group-version documents
gv_fetches() { cstat 'sum(1 for r in d["requests"] if r["path"] in ("/api/v1", "/apis/discovery.k8s.io/v1"))'; }
expect_eq "$(gv_fetches)" "0" "aggregated discovery used (no /api/v1 or /apis/GROUP/VERSION fetched)"
ctl POST /settings '{"aggregated_discovery": false}' >/dev/null
run env HOME="$TMP/home" kubectl "${KCF[@]}" --cache-dir "$TMP/kcache-legacy" api-resources --no-headers
expect_eq "$(printf '%s' "$OUT" | awk '{print $1}' | sort | tr '\n' ' ')" \
	"endpointslices namespaces nodes services " "legacy discovery: kubectl api-resources"
expect_eq "$(gv_fetches)" "2" "legacy discovery fetched /api/v1 and /apis/discovery.k8s.io/v1"
ctl POST /settings '{"aggregated_discovery": true}' >/dev/null

TOKEN=$(cat "$ST/token")
run kc --server "$URL" --certificate-authority "$ST/ca.crt" --token "$TOKEN" get services -o name
expect_eq "$OUT" "service/api" "kubectl with --server/--certificate-authority/--token (namespace default)"

ctl POST /reset-stats >/dev/null
run kc --kubeconfig "$ST/kubeconfig-cert" get nodes -o name
expect_eq "$OUT" "node/node-a" "kubectl with the client-certificate kubeconfig"
expect_eq "$(cstat '" ".join(sorted({str(r["auth"])+":"+str(r["user"]) for r in d["requests"] if r["path"] == "/api/v1/nodes"}))')" \
	"x509:meshdns-test" "the client certificate authenticated the request (no token sent)"

# paging: limit=1 pages, consistent with the first page's snapshot
ctl POST /reset-stats >/dev/null
run kc "${KCF[@]}" get services -A --chunk-size=1 -o json
expect_eq "$(printf '%s' "$OUT" | py "$NAMES" 2>&1)" "default/api shop/db shop/web" \
	"kubectl --chunk-size=1 lists the same services"
expect_eq "$(cstat 'sum(1 for r in d["requests"] if r["verb"] == "list" and r["query"].get("limit") == "1"), sum(1 for r in d["requests"] if r["verb"] == "list" and r["query"].get("continue"))')" \
	"3 2" "three list requests with limit=1, two of them with continue"

# watch: kubectl prints the initial list as ADDED, then the live events
WOUT=$TMP/watch.out
kc_bg "${KCF[@]}" get endpointslices -A -o json --watch --output-watch-events >"$WOUT" 2>"$TMP/watch.err" &
KWPID=$!
BGPIDS+=("$KWPID")
open_watches_ge() { [ "$(cstat 'd["open_watches"]' 2>/dev/null)" -ge "$1" ] 2>/dev/null; }
check "kubectl watch connected" wait_until 100 open_watches_ge 1
SLICE='{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
 "metadata": {"name": "new-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "new"}},
 "addressType": "IPv4", "endpoints": [{"addresses": ["@A@"], "conditions": {"ready": true}}],
 "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}'
ctl POST /objects "${SLICE/@A@/10.2.0.1}" >/dev/null
ctl POST /objects "${SLICE/@A@/10.2.0.2}" >/dev/null
ctl DELETE /objects/endpointslice/shop/new-1 >/dev/null
watch_events() {	# type:name:address... of the events kubectl printed so far
	python3 -c '
import json, sys
s = open(sys.argv[1]).read()
dec, i, out = json.JSONDecoder(), 0, []
while True:
    while i < len(s) and s[i].isspace():
        i += 1
    if i >= len(s):
        break
    try:
        o, i = dec.raw_decode(s, i)
    except ValueError:
        break
    ob = o["object"]
    out.append("%s|%s|%s|%s" % (o["type"], ob["metadata"]["name"],
               ",".join(a for e in ob.get("endpoints") or [] for a in e["addresses"]),
               ob["metadata"]["resourceVersion"]))
print(" ".join(out))' "$WOUT"
}
five_events() { [ "$(watch_events | wc -w)" -ge 5 ]; }
wait_until 100 five_events
kill "$KWPID" 2>/dev/null
wait "$KWPID" 2>/dev/null
no_watches() { [ "$(cstat 'd["open_watches"]' 2>/dev/null)" = 0 ]; }
check "the server noticed kubectl went away (no open watch)" wait_until 50 no_watches
EV=$(watch_events)
note "watch events: $EV"
expect_eq "$(printf '%s\n' "$EV" | tr ' ' '\n' | cut -d'|' -f1-3 | tr '\n' ' ')" \
	"ADDED|api-xyz98|fd00::1 ADDED|web-abc12|10.1.0.1,10.1.0.2 ADDED|new-1|10.2.0.1 MODIFIED|new-1|10.2.0.2 DELETED|new-1|10.2.0.2 " \
	"kubectl watch: initial ADDED, then ADDED/MODIFIED/DELETED in order"
expect_eq "$(printf '%s\n' "$EV" | tr ' ' '\n' | tail -n 3 | cut -d'|' -f4 |
	awk 'NR > 1 && $1 != prev + 1 { bad = 1 } { prev = $1 } END { print bad ? "no" : "yes" }')" \
	"yes" "the three live events carry consecutive resourceVersions"

# tokens: a wrong one, then a rotated token file (re-read per request)
run kc "${KCF[@]}" --token wrong-token get services
check "a wrong token: kubectl fails with Unauthorized" \
	test "$RC" -ne 0 -a -n "$(grep -o Unauthorized <<<"$OUT")"
NEW_TOKEN="rotated-$RANDOM$RANDOM"
printf '%s\n' "$NEW_TOKEN" >"$ST/token.new" && mv "$ST/token.new" "$ST/token"
run kc "${KCF[@]}" get services -o name
check "after rotation the old token (kubeconfig) is Unauthorized" \
	test "$RC" -ne 0 -a -n "$(grep -o Unauthorized <<<"$OUT")"
run kc "${KCF[@]}" --token "$NEW_TOKEN" get services -o name
expect_eq "$OUT" "service/api" "after rotation the new token works"

# TLS: the server certificate is verified against the CA
sed '/certificate-authority-data/d' "$ST/kubeconfig" >"$TMP/kubeconfig-noca"
run kc --kubeconfig "$TMP/kubeconfig-noca" --token "$NEW_TOKEN" get services
check "without the CA kubectl refuses the server certificate" \
	test "$RC" -ne 0 -a -n "$(grep -oE 'x509|certificate' <<<"$OUT")"
run openssl x509 -in "$ST/server.crt" -noout -ext subjectAltName
check "server certificate SANs: 127.0.0.1, ::1, localhost" \
	grep -q 'IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:localhost' <<<"$OUT"

# ---------------------------------------------------------------- raw protocol (curl)

RV=$(api /api/v1/services | py 'print(d["metadata"]["resourceVersion"])')
run api "/api/v1/services?limit=1"
CONT=$(printf '%s' "$OUT" | py 'print(d["metadata"]["continue"], d["metadata"]["remainingItemCount"])' 2>&1)
expect_eq "${CONT#* }" "2" "limit=1: continue token and remainingItemCount"
ctl POST /objects '{"kind": "Service", "metadata": {"name": "late", "namespace": "zz"}, "spec": {}}' >/dev/null
ctl POST /compact >/dev/null
run api "/api/v1/services?watch=1&resourceVersion=$RV&timeoutSeconds=5"
expect_eq "$(printf '%s\n' "$OUT" | py 'o = d["object"]; print(d["type"], o["kind"], o["code"], o["reason"], o["message"].startswith("too old resource version"))' 2>&1)" \
	"ERROR Status 410 Expired True" "watch from an RV older than /compact: one ERROR event, 410 Expired, stream closed"
run api "/api/v1/services?limit=1&continue=${CONT% *}" -w '\n%{http_code}'
expect_eq "$(printf '%s' "$OUT" | head -n 1 | py 'print(d["code"], d["reason"])' 2>&1) $(printf '%s' "$OUT" | tail -n 1)" \
	"410 Expired 410" "a continue token older than /compact: 410 Expired"

CUR=$(api /api/v1/services | py 'print(d["metadata"]["resourceVersion"])')
run api "/apis/discovery.k8s.io/v1/endpointslices?watch=true&resourceVersion=$CUR&allowWatchBookmarks=true&timeoutSeconds=2"
expect_eq "$(printf '%s\n' "$OUT" | head -n 1 | py 'o = d["object"]; print(d["type"], o["kind"], o["apiVersion"], o["metadata"]["resourceVersion"])' 2>&1)" \
	"BOOKMARK EndpointSlice discovery.k8s.io/v1 $CUR" "allowWatchBookmarks=true: a BOOKMARK within 2 s"

t0=$(now_ms)
run api "/api/v1/services?watch=1&resourceVersion=$CUR&timeoutSeconds=1"
el=$(($(now_ms) - t0))
check "timeoutSeconds=1 ends the stream cleanly (${el} ms)" test "$RC" -eq 0 -a "$el" -lt 3000

ctl POST /inject '{"path_prefix": "/api/v1/services", "count": 1, "status": 429, "retry_after": 2}' >/dev/null
run api /api/v1/services -i
check "injected 429 is returned as such" grep -q '^HTTP/1.1 429 ' <<<"$OUT"
check "with a Retry-After: 2 header" grep -qi '^retry-after: 2' <<<"$OUT"
expect_eq "$(printf '%s' "$OUT" | sed -n '/^\r\{0,1\}$/,$p' | py 'print(d["kind"], d["reason"], d["code"], d["details"]["retryAfterSeconds"])' 2>&1)" \
	"Status TooManyRequests 429 2" "the 429 body is a Status (TooManyRequests, retryAfterSeconds)"
expect_eq "$(api /api/v1/services -o /dev/null -w '%{http_code}')" "200" "the next request is served again"

api_bg "/api/v1/services?watch=1&resourceVersion=$CUR" >"$TMP/drop.out" 2>"$TMP/drop.err" &
CWPID=$!
BGPIDS+=("$CWPID")
check "curl watch connected" wait_until 50 open_watches_ge 1
expect_eq "$(ctl POST /drop-watches | py 'print(d["dropped"])')" "1" "/drop-watches dropped the open watch"
curl_gone() { ! kill -0 "$CWPID" 2>/dev/null; }
wait_until 50 curl_gone
wait "$CWPID" 2>/dev/null
expect_eq "$?" "18" "the dropped watch was cut without the final chunk (curl: partial transfer)"

# stream faults: a broken JSON line, then an event split over three chunks
# (the watch ends by its timeout: long enough for the three control
# requests below to land inside it on a loaded machine)
api_bg "/api/v1/namespaces/zz/services?watch=1&resourceVersion=$CUR&timeoutSeconds=8" --raw -N >"$TMP/raw.out" &
CWPID=$!
BGPIDS+=("$CWPID")
wait_until 50 open_watches_ge 1
ctl POST /inject '{"action": "malformed", "path_prefix": "/api/v1/namespaces/zz/"}' >/dev/null
ctl POST /inject '{"action": "split", "path_prefix": "/api/v1/namespaces/zz/", "count": 1}' >/dev/null
ctl POST /objects '{"kind": "Service", "metadata": {"name": "late", "namespace": "zz"}, "spec": {"type": "ClusterIP"}}' >/dev/null
wait_until 150 curl_gone
wait "$CWPID" 2>/dev/null
expect_eq "$(python3 -c '
import json, sys
raw, chunks = open(sys.argv[1], "rb").read(), []
while raw:
    n, raw = raw.split(b"\r\n", 1)
    n = int(n, 16)
    chunks.append(raw[:n])
    raw = raw[n + 2:]
    if n == 0:
        break
print(chunks[0] == b"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\n", len(chunks) - 2,
      json.loads(b"".join(chunks[1:]))["type"])' "$TMP/raw.out" 2>&1)" "True 3 MODIFIED" \
	"malformed line first, then the next event in 3 chunks, then the final chunk"

finish
