#!/usr/bin/env bash
# shellcheck disable=SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# meshdns against a real control plane (scripts/cluster: etcd,
# kube-apiserver with RBAC and its watch cache, kube-controller-manager with
# the real EndpointSlice controller), driven the way a cluster is: Nodes,
# Services and Pods made with kubectl, each Pod's status set through the
# status subresource (no kubelet runs), the slices written by the
# controller. meshdns runs with the ServiceAccount, ClusterRole and binding
# of daemonset/meshdns.yaml as they are, a token from the TokenRequest API,
# TLS verified against the cluster's CA. Asserted with dig and
# tests/system/dnspoll.py:
#   - a set of pods scaled 3 -> 10 -> 0 -> 2: each change visible in < 1 s
#     (the worst delay is printed)
#   - not ready, terminating (deletionTimestamp), deleted pods; a Service
#     deleted; a selector changed
#   - dual-stack, named ports (SRV), headless with hostnames, ClusterIP,
#     publishNotReadyAddresses
#   - the node's zone from its Node object (NODE_NAME), still used after a
#     SIGHUP reload
#   - kube-apiserver restarted (same etcd): answers continue, the watch
#     resumes; a relist only after a 410 (LISTs counted in the audit log)
#   - etcd compacted past meshdns's resourceVersion while it is cut off:
#     410, relist, never an empty answer (a query every 20 ms)
#   - the token revoked (its bound Secret deleted): a clear log line,
#     retries, recovery when a new token is written to the token file
#   - a bad meshdns.io/weight on a slice: warned once, not on every update
# Everything binds to 127.0.0.1.
. "$(dirname "$0")/lib.sh"

need_cmd openssl curl python3 dig
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

TE_OUT=$("$SRCDIR/scripts/testenv" 2>"$TMP/testenv.err")
case $? in
0) eval "$TE_OUT" ;;
77) skip_all "scripts/testenv: $(tail -n 1 "$TMP/testenv.err")" ;;
*) cat "$TMP/testenv.err"; hard_error "scripts/testenv failed" ;;
esac
export ETCD KUBE_APISERVER KUBE_CONTROLLER_MANAGER KUBECTL COREDNS

CL=$TMP/cluster
CLUSTER=("$SRCDIR/scripts/cluster" -d "$CL")
# shellcheck disable=SC2016 # expanded when the hook runs
on_exit '"${CLUSTER[@]}" down >/dev/null 2>&1'
"${CLUSTER[@]}" up >"$TMP/cluster-up.log" 2>&1 || {
	tail -n 40 "$TMP/cluster-up.log"
	for f in "$CL"/log/*.log; do echo "== $f"; tail -n 20 "$f"; done
	hard_error "scripts/cluster up failed"
}
eval "$("${CLUSTER[@]}" env)"
K() { "$KUBECTL" --kubeconfig "$KUBECONFIG" --request-timeout=30s "$@"; }
POLL=$SRCDIR/tests/system/dnspoll.py
BGPIDS=()
# shellcheck disable=SC2016
on_exit 'for p in "${BGPIDS[@]}"; do kill "$p" 2>/dev/null; done'

# ---------------------------------------------------------------- objects

# node NAME ZONE
node() {
	K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $1
  labels: { topology.kubernetes.io/zone: $2, kubernetes.io/hostname: $1 }
EOF
}

# service NAME [EXTRA-SPEC-YAML...]: a Service in shop selecting app=NAME
# with a named port http 80 -> 8080
service() {
	local name=$1
	shift
	K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: { name: $name, namespace: shop }
spec:
  selector: { app: $name }
  ports: [ { name: http, port: 80, targetPort: 8080, protocol: TCP } ]
$(for l in "$@"; do printf '  %s\n' "$l"; done)
EOF
}

# pods APP NODE IP... : Pods APP-<last octet or suffix> on NODE, Running and
# Ready with those IPs (an IP "a/b" gives the pod both: dual-stack)
pods() {
	local app=$1 nodename=$2 ip
	shift 2
	for ip in "$@"; do
		local pn=$app-${ip##*[.:]}
		pn=${pn//\//-}
		K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: { name: $pn, namespace: shop, labels: { app: $app } }
spec:
  nodeName: $nodename
  ${PODSPEC_EXTRA:-}
  automountServiceAccountToken: false
  containers: [ { name: c, image: example.invalid/c:1, ports: [ { name: http, containerPort: 8080 } ] } ]
EOF
		pod_status "$pn" "$ip" True
	done
}

# pod_status POD IP[/IP6] READY(True|False)
pod_status() {
	local ips="{\"ip\":\"${2%%/*}\"}"
	[[ $2 == */* ]] && ips+=",{\"ip\":\"${2#*/}\"}"
	K -n shop patch pod "$1" --subresource=status --type=merge -p "{\"status\":{
	 \"phase\":\"Running\",\"podIP\":\"${2%%/*}\",\"podIPs\":[$ips],
	 \"conditions\":[{\"type\":\"Ready\",\"status\":\"$3\"},
	  {\"type\":\"ContainersReady\",\"status\":\"$3\"}]}}" >/dev/null
}

delete_pods() { K -n shop delete pod "$@" --grace-period=0 --force --wait=false >/dev/null 2>&1; }

# expect_within MS NAME TYPE EXPECT WHAT: the answer becomes EXPECT within MS;
# sets WAITED (ms)
WAITED=0
expect_within() {
	local out
	if out=$(python3 "$POLL" wait 127.0.0.1 "$PORT" "$2" "$3" "$4" "$1"); then
		WAITED=$out
		ok "$5 (${out} ms)"
	else
		WAITED=$1
		LAST_CMD="dnspoll wait $2 $3 $4" DIG="$out" fail "$5"
	fi
}

ips() { local IFS=,; echo "$*"; }

# ---------------------------------------------------------------- set up
K create namespace shop >/dev/null
node node-a zone-a
node node-b zone-b
# the agent's RBAC exactly as shipped (the DaemonSet in it has no kubelet
# to run on: its pods stay pending)
K apply -f "$SRCDIR/daemonset/meshdns.yaml" >"$TMP/apply.log" 2>&1 ||
	{ cat "$TMP/apply.log"; hard_error "kubectl apply daemonset/meshdns.yaml"; }
ok "daemonset/meshdns.yaml applied"
# a token bound to a Secret: deleting the Secret revokes it
K -n kube-system create secret generic meshdns-token-anchor >/dev/null
TOKEN=$TMP/token
(umask 077 && K -n kube-system create token meshdns --duration=1h \
	--bound-object-kind Secret --bound-object-name meshdns-token-anchor >"$TOKEN") ||
	hard_error "kubectl create token"

# meshdns reaches the API server through a proxy the test can cut
PROXY_PORT=$(python3 "$PYTOOL" freeport 0)
API_PORT=${MESHDNS_APISERVER_URL##*:}
PROXY_PID=""
proxy_up() {
	python3 "$SRCDIR/tests/system/tcpproxy.py" "$PROXY_PORT" 127.0.0.1 "$API_PORT" >"$TMP/proxy.out" 2>&1 &
	PROXY_PID=$!
	BGPIDS+=("$PROXY_PID")
	for _ in $(seq 50); do grep -q ready "$TMP/proxy.out" 2>/dev/null && return 0; sleep 0.1; done
	hard_error "tcpproxy did not start"
}
proxy_down() { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; PROXY_PID=""; }
proxy_up

# objects that exist before meshdns starts
service web
pods web node-a 10.1.0.1 10.1.0.2 10.1.0.3
service keep
pods keep node-a 10.2.0.1 10.2.0.2
service zoned
pods zoned node-a 10.3.0.1 10.3.0.2
pods zoned node-b 10.3.0.3 10.3.0.4

export NODE_NAME=node-a
start_server <<EOF
{ "listen": [@LISTEN@], "http": "off", "negative_ttl": 5,
  "kubernetes": { "server": "https://127.0.0.1:$PROXY_PORT", "token_file": "$TOKEN",
                  "ca_file": "$MESHDNS_CA", "watch_timeout_s": 10 } }
EOF
Z=mesh.local
expect_within 10000 web.shop.svc.$Z A "$(ips 10.1.0.{1..3})" "synced: web has its 3 pods"
check "no 403: the shipped RBAC is enough" bash -c "! grep -q ' 403' '$LOG'"
grep -E ' 40[13]' "$LOG" | head -n 3 | sed 's/^/# /'

# ---------------------------------------------------------------- scaling
WORST=0
scale_to() {	# scale_to N: web has pods 10.1.0.1..N
	local n=$1 have want=() del=() i
	have=$(K -n shop get pods -l app=web -o jsonpath='{.items[*].metadata.name}')
	for i in $(seq 1 "$n"); do want+=("10.1.0.$i"); done
	for p in $have; do [ "${p#web-}" -gt "$n" ] && del+=("$p"); done
	[ ${#del[@]} -gt 0 ] && delete_pods "${del[@]}"
	for i in $(seq 1 "$n"); do
		[[ " $have " == *" web-$i "* ]] || pods web node-a "10.1.0.$i"
	done
	if [ "$n" = 0 ]; then
		expect_within 5000 web.shop.svc.$Z A - "web scaled to 0: NOERROR, no address"
	else
		expect_within 5000 web.shop.svc.$Z A "$(ips "${want[@]}")" "web scaled to $n"
	fi
	[ "$WAITED" -gt "$WORST" ] && WORST=$WAITED
}
scale_to 10
scale_to 0
scale_to 2
note "worst delay from the last kubectl of a change to the answer: $WORST ms"
expect_le "$WORST" $((1000 * MESHDNS_TEST_SLOW)) "every scaling step visible within 1 s (x MESHDNS_TEST_SLOW) (ms)"

# ---------------------------------------------------------------- endpoint life
pods web node-a 10.1.0.3
expect_within 3000 web.shop.svc.$Z A "$(ips 10.1.0.{1..3})" "a third pod joins"
pod_status web-3 10.1.0.3 False
expect_within 3000 web.shop.svc.$Z A "$(ips 10.1.0.{1..2})" "a pod turning not ready leaves the answer"
pod_status web-3 10.1.0.3 True
expect_within 3000 web.shop.svc.$Z A "$(ips 10.1.0.{1..3})" "ready again: back"
# terminating: a graceful delete sets deletionTimestamp; with no kubelet
# the pod stays, and the controller marks it terminating
K -n shop delete pod web-3 --grace-period=300 --wait=false >/dev/null
expect_within 3000 web.shop.svc.$Z A "$(ips 10.1.0.{1..2})" "a terminating pod leaves the answer"
check "the slice says terminating" bash -c "'$KUBECTL' --kubeconfig '$KUBECONFIG' -n shop get endpointslices \
	-l kubernetes.io/service-name=web -o jsonpath='{.items[*].endpoints[*].conditions.terminating}' | grep -q true"
delete_pods web-3
delete_pods web-2
expect_within 3000 web.shop.svc.$Z A 10.1.0.1 "a deleted pod leaves the answer"

# selector change
service sel
pods sel node-a 10.4.0.1
pods other node-a 10.4.0.9
expect_within 5000 sel.shop.svc.$Z A 10.4.0.1 "sel: its pod"
K -n shop patch svc sel --type=merge -p '{"spec":{"selector":{"app":"other"}}}' >/dev/null
expect_within 3000 sel.shop.svc.$Z A 10.4.0.9 "a selector change moves the answer to the other pod"
K -n shop delete svc sel --wait=false >/dev/null
expect_within 3000 sel.shop.svc.$Z A nx "a deleted Service is NXDOMAIN"

# ---------------------------------------------------------------- kinds
service dual "ipFamilyPolicy: RequireDualStack" "ipFamilies: [IPv4, IPv6]"
pods dual node-a 10.5.0.1/fd00:5::1 10.5.0.2/fd00:5::2
expect_within 5000 dual.shop.svc.$Z A "$(ips 10.5.0.1 10.5.0.2)" "dual-stack: A"
expect_within 3000 dual.shop.svc.$Z AAAA "$(ips fd00:5::1 fd00:5::2)" "dual-stack: AAAA from the IPv6 slice"
expect_within 3000 _http._tcp.dual.shop.svc.$Z SRV \
	"$(ips "8080 10-5-0-1.dual.shop.svc.$Z" "8080 10-5-0-2.dual.shop.svc.$Z" \
		"8080 fd00-5--1.dual.shop.svc.$Z" "8080 fd00-5--2.dual.shop.svc.$Z")" \
	"named port: SRV _http._tcp with the slice's port 8080"
q dual.shop.svc.$Z A
expect_rcode NOERROR
LAST_CMD="" DIG=""

service hl "clusterIP: None"
PODSPEC_EXTRA=$'hostname: h1\n  subdomain: hl' pods hl node-a 10.6.0.1
PODSPEC_EXTRA="" pods hl node-a 10.6.0.2
expect_within 5000 hl.shop.svc.$Z A "$(ips 10.6.0.1 10.6.0.2)" "headless: every endpoint"
expect_within 3000 h1.hl.shop.svc.$Z A 10.6.0.1 "headless: a pod's hostname names it"
check "the headless Service has no ClusterIP" test \
	"$(K -n shop get svc hl -o jsonpath='{.spec.clusterIP}')" = None
check "web is a ClusterIP Service" bash -c "'$KUBECTL' --kubeconfig '$KUBECONFIG' -n shop get svc web \
	-o jsonpath='{.spec.clusterIP}' | grep -q '^10\.96\.'"

service pnra "publishNotReadyAddresses: true"
pods pnra node-a 10.7.0.1 10.7.0.2
pod_status pnra-2 10.7.0.2 False
expect_within 5000 pnra.shop.svc.$Z A "$(ips 10.7.0.1 10.7.0.2)" \
	"publishNotReadyAddresses: a not-ready pod still answered"

# ---------------------------------------------------------------- zone
expect_within 3000 zoned.shop.svc.$Z A "$(ips 10.3.0.1 10.3.0.2)" \
	"zone from the Node object: only node-a's zone-a endpoints"
check "meshdns logged the zone it learned" grep -q "zone zone-a" "$LOG"
kill -HUP "$PID"
sleep 1
check "the reload happened" grep -q "reloaded" "$LOG"
for i in 1 2 3 4 5; do
	expect_within 1000 zoned.shop.svc.$Z A "$(ips 10.3.0.1 10.3.0.2)" \
		"after SIGHUP the learned zone still applies ($i/5)"
done

# ---------------------------------------------------------------- bad annotation
SLICE=$(K -n shop get endpointslices -l kubernetes.io/service-name=keep -o jsonpath='{.items[0].metadata.name}')
K -n shop annotate endpointslice "$SLICE" meshdns.io/weight=heavy >/dev/null
expect_within 3000 keep.shop.svc.$Z A "$(ips 10.2.0.1 10.2.0.2)" "a bad weight keeps the endpoints (weight 100)"
pods keep node-a 10.2.0.3
expect_within 3000 keep.shop.svc.$Z A "$(ips 10.2.0.{1..3})" "keep: a third pod (the slice updated)"
delete_pods keep-3
expect_within 3000 keep.shop.svc.$Z A "$(ips 10.2.0.1 10.2.0.2)" "keep: back to two (updated again)"
n=$(grep -c "bad meshdns.io/weight" "$LOG")
expect_eq "$n" 1 "the bad weight is warned once, not on every update of the slice"

# ---------------------------------------------------------------- apiserver restart
agent_lists() {	# LISTs by the agent's service account in the audit log
	grep '"verb":"list"' "$MESHDNS_AUDIT_LOG" |
		grep -c '"username":"system:serviceaccount:kube-system:meshdns"'
}
gone_lines() { grep -c 'expired, listing again' "$LOG"; }
STOP=$TMP/stop.watch
python3 "$POLL" watch 127.0.0.1 "$PORT" keep.shop.svc.$Z A 20 "$STOP" >"$TMP/watch1.out" &
BGPIDS+=($!)
W1=$!
lists0=$(agent_lists)
gone0=$(gone_lines)
"${CLUSTER[@]}" restart kube-apiserver >"$TMP/restart.log" 2>&1 || { cat "$TMP/restart.log"; fail "restart kube-apiserver"; }
pods web node-a 10.1.0.5
expect_within 20000 web.shop.svc.$Z A "$(ips 10.1.0.1 10.1.0.5)" "after the restart the watch resumed: a new pod is seen"
touch "$STOP"
wait "$W1"
rm -f "$STOP"
note "during the restart: $(cat "$TMP/watch1.out")"
check "answers continued during the apiserver restart (no empty or failed answer)" \
	grep -q 'empty=0 failed=0' "$TMP/watch1.out"
lists1=$(agent_lists)
gone1=$(gone_lines)
note "agent LISTs in the audit log: $lists0 before the restart, $lists1 after; 410s logged: $((gone1 - gone0))"
if [ "$gone1" -eq "$gone0" ]; then
	expect_eq "$lists1" "$lists0" "no relist after the restart: the resourceVersion was still valid"
else
	# the restarted watch cache starts at etcd's current revision: an
	# older resourceVersion is 410 there, and a relist is the right answer
	expect_ge "$lists1" "$((lists0 + 1))" "a 410 after the restart was followed by a relist"
fi

# ---------------------------------------------------------------- compaction
python3 "$POLL" watch 127.0.0.1 "$PORT" keep.shop.svc.$Z A 20 "$STOP" >"$TMP/watch2.out" &
BGPIDS+=($!)
W2=$!
lists0=$(agent_lists)
proxy_down
# changes meshdns cannot see, then etcd compacted past them
delete_pods web-5
pods web node-a 10.1.0.6
for i in $(seq 20); do K -n shop annotate svc keep "meshdns.test/churn=$i" --overwrite >/dev/null; done
rev=$("${CLUSTER[@]}" compact 2>"$TMP/compact.err") || { cat "$TMP/compact.err"; fail "etcd compaction"; }
note "etcd compacted at revision $rev"
# the watch cache would still serve the old resourceVersion from memory;
# a restarted apiserver has only what etcd has kept
"${CLUSTER[@]}" restart kube-apiserver >"$TMP/restart2.log" 2>&1 || { cat "$TMP/restart2.log"; fail "restart kube-apiserver"; }
gone0=$(gone_lines)
proxy_up
expect_within 30000 web.shop.svc.$Z A "$(ips 10.1.0.1 10.1.0.6)" "after compaction: relisted, the changes made meanwhile are seen"
touch "$STOP"
wait "$W2"
rm -f "$STOP"
note "during the cut and the relist: $(cat "$TMP/watch2.out")"
check "never an empty answer during the compaction and relist (every 20 ms)" \
	grep -q 'empty=0 failed=0' "$TMP/watch2.out"
expect_ge "$(agent_lists)" "$((lists0 + 1))" "the 410 made meshdns relist (audit log)"
expect_ge "$(gone_lines)" "$((gone0 + 1))" "meshdns logged the expired resourceVersion (410)"

# ---------------------------------------------------------------- token revoked
K -n kube-system delete secret meshdns-token-anchor >/dev/null
t0=$(date +%s)
for _ in $(seq 60); do grep -qE ' 401|Unauthorized|unauthori' "$LOG" && break; sleep 1; done
check "the revoked token: a clear log line (401) within 60 s" grep -qE ' 401|Unauthorized|unauthori' "$LOG"
note "$(grep -m1 -E ' 401|Unauthorized|unauthori' "$LOG")"
note "seen $(($(date +%s) - t0)) s after the revocation"
expect_within 2000 keep.shop.svc.$Z A "$(ips 10.2.0.1 10.2.0.2)" "while unauthorized, the last state is still answered"
(umask 077 && K -n kube-system create token meshdns --duration=1h >"$TOKEN.new" && mv "$TOKEN.new" "$TOKEN")
pods web node-a 10.1.0.7
expect_within 60000 web.shop.svc.$Z A "$(ips 10.1.0.1 10.1.0.6 10.1.0.7)" \
	"a new token in the token file: it recovers and sees new pods"
check "the token never appears in the log" bash -c "! grep -qF '$(cut -c1-40 "$TOKEN")' '$LOG'"

check_alive
finish
