#!/usr/bin/env bash
# shellcheck disable=SC2016 # sh -c scripts expand their own $0 $1
# SPDX-License-Identifier: BSD-3-Clause
#
# The real control plane of scripts/cluster works the way the meshdns
# Kubernetes tests need: a Node (zone label), a Service with a selector and a
# named port, a Pod bound to the Node with its status written through the
# status subresource (Running, 10.1.2.3, Ready) — and the real EndpointSlice
# controller publishes 10.1.2.3 ready for the Service; a ServiceAccount token
# from `kubectl create token` authenticates and RBAC answers for it; the
# audit log counts the LISTs a client made; compaction and an apiserver
# restart work. No meshdns daemon runs.
#
# Exit status: 0 pass, 1 fail, 77 skip (scripts/testenv can't build).
# KEEP_TMP=1 keeps the cluster directory (stopped) for a look afterwards.

set -euo pipefail

SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
CLUSTER=$SRCDIR/scripts/cluster
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

N=0
FAILED=0
T0=$(date +%s.%N)
TMP=

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
ok() { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $*"; }
diag() { sed 's/^/# /'; }
quiet() { "$@" >/dev/null 2>&1; }
# check DESC CMD...: ok when CMD succeeds
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

cleanup() {
	local rc=$?
	if [ -n "$TMP" ]; then
		"$CLUSTER" -d "$TMP/cluster" down >/dev/null 2>&1 || true
		if [ "${KEEP_TMP:-0}" = 1 ]; then
			echo "# kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---------------------------------------------------------------- binaries
t=$(date +%s.%N)
rc=0
out=$("$SRCDIR/scripts/testenv") || rc=$?
if [ $rc -eq 77 ]; then
	echo "1..0 # SKIP scripts/testenv cannot build the control plane"
	exit 77
fi
[ $rc -eq 0 ] || { echo "Bail out! scripts/testenv failed ($rc)"; exit 1; }
eval "$out"
echo "# testenv: $(elapsed "$t")s"
for b in ETCD KUBE_APISERVER KUBE_CONTROLLER_MANAGER KUBECTL COREDNS; do
	check "testenv gives an executable $b" test -x "${!b}"
done
check "coredns runs (-version)" sh -c '"$0" -version | grep -q CoreDNS' "$COREDNS"

# ---------------------------------------------------------------- up
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cluster_smoke.XXXXXX")
D=$TMP/cluster
t=$(date +%s.%N)
if ! "$CLUSTER" -d "$D" up >"$TMP/up.out" 2>&1; then
	diag <"$TMP/up.out"
	echo "Bail out! scripts/cluster up failed"
	exit 1
fi
echo "# cluster up: $(elapsed "$t")s"
eval "$("$CLUSTER" -d "$D" env)"
K() { "$KUBECTL" --request-timeout=20s "$@"; }
check "env names the kubeconfig in the directory" test "$KUBECONFIG" = "$D/kubeconfig"
check "/readyz answers ok" sh -c '"$0" get --raw /readyz | grep -qx ok' "$KUBECTL"
check "curl with the CA and the admin token reaches /version" \
	sh -c 'curl -fsS --cacert "$MESHDNS_CA" -H "Authorization: Bearer $(cat "$MESHDNS_ADMIN_TOKEN_FILE")" "$MESHDNS_APISERVER_URL/version" | grep -q "v1.36"'
check "the admin client certificate is accepted" \
	sh -c 'curl -fsS --cacert "$MESHDNS_CA" --cert "$0/pki/admin.crt" --key "$0/pki/admin.key" "$MESHDNS_APISERVER_URL/api/v1/namespaces/default" >/dev/null' "$D"
"$CLUSTER" -d "$D" status | diag

# ---------------------------------------------------------------- objects
t=$(date +%s.%N)
K apply -f - >"$TMP/apply.out" 2>&1 <<'EOF' || { diag <"$TMP/apply.out"; not_ok "objects created"; }
apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels:
    topology.kubernetes.io/zone: zone-a
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  ipFamilyPolicy: PreferDualStack
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
    protocol: TCP
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: default
  labels:
    app: web
spec:
  nodeName: node-a
  automountServiceAccountToken: false
  containers:
  - name: web
    image: example.invalid/web:1
    ports:
    - name: http
      containerPort: 8080
EOF
ok "Node, Service and Pod created"
CIPS=$(K get svc web -o jsonpath='{.spec.clusterIPs}')
echo "# web clusterIPs: $CIPS"
check "the Service got an IPv4 ClusterIP from 10.96.0.0/16" sh -c 'echo "$0" | grep -q "\"10\.96\."' "$CIPS"
check "the Service got an IPv6 ClusterIP too (dual-stack)" sh -c 'echo "$0" | grep -q "fd00:10:96::"' "$CIPS"

# Pod status through the status subresource: no kubelet here.
STATUS='{"status":{"phase":"Running","hostIP":"192.0.2.10","hostIPs":[{"ip":"192.0.2.10"}],
 "podIP":"10.1.2.3","podIPs":[{"ip":"10.1.2.3"}],
 "conditions":[{"type":"Initialized","status":"True"},{"type":"ContainersReady","status":"True"},
  {"type":"Ready","status":"True"},{"type":"PodScheduled","status":"True"}]}}'
if K patch pod web-1 --subresource=status --type=merge -p "$STATUS" >"$TMP/patch.out" 2>&1; then
	ok "pod status patched (Running, 10.1.2.3, Ready=True)"
else
	diag <"$TMP/patch.out"
	not_ok "pod status patched"
fi
check "the pod reads back podIP 10.1.2.3" \
	test "$(K get pod web-1 -o jsonpath='{.status.podIP}')" = 10.1.2.3

# The real EndpointSlice controller writes the slice.
SEL=kubernetes.io/service-name=web
JP='{range .items[*]}{range .endpoints[*]}{.addresses[0]} {.conditions.ready} {.nodeName} {.zone}{"\n"}{end}{end}'
got=
for _ in $(seq 1 150); do
	got=$(K get endpointslices -l "$SEL" -o jsonpath="$JP" 2>/dev/null || true)
	case $got in *"10.1.2.3 true"*) break ;; esac
	sleep 0.2
done
echo "# endpointslice endpoints: ${got:-none}"
if [[ $got == *"10.1.2.3 true node-a zone-a"* ]]; then
	ok "EndpointSlice for web has 10.1.2.3 ready on node-a in zone-a ($(elapsed "$t")s after create)"
else
	K get endpointslices -l "$SEL" -o yaml 2>&1 | diag
	not_ok "EndpointSlice for web has 10.1.2.3 ready"
fi
K get endpointslices -l "$SEL" -o jsonpath='{range .items[*]}{.metadata.name} {.addressType} endpoints={.endpoints[*].addresses} ports={.ports}{"\n"}{end}' | diag
# the slice with the endpoint (a placeholder without endpoints may linger)
WS='{.items[?(@.endpoints)]'
check "the slice's port is named http, 8080/TCP" test \
	"$(K get endpointslices -l "$SEL" -o jsonpath="$WS.ports[0].name}/$WS.ports[0].port}/$WS.ports[0].protocol}")" = http/8080/TCP

# Not ready: the controller follows.
K patch pod web-1 --subresource=status --type=json \
	-p '[{"op":"replace","path":"/status/conditions/2/status","value":"False"}]' >/dev/null
for _ in $(seq 1 150); do
	got=$(K get endpointslices -l "$SEL" -o jsonpath="$JP" 2>/dev/null || true)
	case $got in *"10.1.2.3 false"*) break ;; esac
	sleep 0.2
done
check "Ready=False on the pod turns the endpoint ready=false" test "${got%% node-a*}" = "10.1.2.3 false"

# ---------------------------------------------------------------- tokens, RBAC
t=$(date +%s.%N)
K create serviceaccount meshdns >/dev/null
TOKEN=$(K create token meshdns --duration=1h 2>"$TMP/token.err" || true)
if [ -n "$TOKEN" ]; then ok "kubectl create token"; else diag <"$TMP/token.err"; not_ok "kubectl create token"; fi
# a kubectl that uses only the token (no admin credentials from KUBECONFIG)
KT() { "$KUBECTL" --kubeconfig=/dev/null --server="$MESHDNS_APISERVER_URL" \
	--certificate-authority="$MESHDNS_CA" --token="$TOKEN" --request-timeout=20s "$@"; }
who=$(KT auth whoami -o jsonpath='{.status.userInfo.username}' 2>&1 || true)
check "the token authenticates as system:serviceaccount:default:meshdns" \
	test "$who" = system:serviceaccount:default:meshdns
check "GET /api with the token: 200 (system:discovery)" quiet KT get --raw /api
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$MESHDNS_CA" -H "Authorization: Bearer $TOKEN" \
	"$MESHDNS_APISERVER_URL/apis/discovery.k8s.io/v1/endpointslices")
check "listing EndpointSlices is forbidden before RBAC allows it (403)" test "$code" = 403
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$MESHDNS_CA" -H "Authorization: Bearer not-a-token" \
	"$MESHDNS_APISERVER_URL/api")
check "a wrong token is refused (401)" test "$code" = 401
K apply -f - >/dev/null <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: meshdns
rules:
- apiGroups: [""]
  resources: [services, nodes, namespaces]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: meshdns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: meshdns
subjects:
- kind: ServiceAccount
  name: meshdns
  namespace: default
EOF
code=
for _ in $(seq 1 50); do # RBAC is read from the watch cache: a moment
	code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$MESHDNS_CA" -H "Authorization: Bearer $TOKEN" \
		"$MESHDNS_APISERVER_URL/apis/discovery.k8s.io/v1/endpointslices")
	[ "$code" = 200 ] && break
	sleep 0.1
done
check "after the ClusterRoleBinding it may list EndpointSlices (200)" test "$code" = 200
echo "# tokens and RBAC: $(elapsed "$t")s"

# ---------------------------------------------------------------- audit log
# LISTs that the service account made, as the audit log records them.
count_lists() {
	python3 - "$MESHDNS_AUDIT_LOG" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if (e.get("stage") == "ResponseComplete" and e.get("verb") == "list"
            and e["user"]["username"] == "system:serviceaccount:default:meshdns"
            and e.get("objectRef", {}).get("resource") == "endpointslices"):
        n += 1
print(n)
EOF
}
before=$(count_lists)
for _ in 1 2 3; do KT get endpointslices -A >/dev/null; done
after=$before
for _ in $(seq 1 20); do
	after=$(count_lists)
	[ $((after - before)) -ge 3 ] && break
	sleep 0.1
done
echo "# endpointslice LISTs by the service account: $before before, $after after 3 kubectl gets"
check "the audit log counts 3 more LISTs of endpointslices by the token's user" test $((after - before)) -eq 3
lists=$(grep -c '"verb":"list"' "$MESHDNS_AUDIT_LOG" || true)
watches=$(grep -c '"verb":"watch"' "$MESHDNS_AUDIT_LOG" || true)
echo "# audit log: $lists list and $watches watch entries in all"

# ---------------------------------------------------------------- streaming list
# A WATCH with sendInitialEvents=true (what a WatchList client does).
code=$(curl -s -o "$TMP/watchlist.out" -w '%{http_code}' --max-time 3 --cacert "$MESHDNS_CA" \
	-H "Authorization: Bearer $TOKEN" \
	"$MESHDNS_APISERVER_URL/apis/discovery.k8s.io/v1/endpointslices?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true" || true)
check "a streaming list (sendInitialEvents) sends the slice and the initial-events-end bookmark" \
	sh -c 'grep -q "10.1.2.3" "$0" && grep -q "k8s.io/initial-events-end" "$0"' "$TMP/watchlist.out"

# ---------------------------------------------------------------- compaction, restart
rv=$(K get --raw /apis/discovery.k8s.io/v1/endpointslices | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
K label svc web touched=1 >/dev/null
rev=$("$CLUSTER" -d "$D" compact 2>&1 || true)
check "scripts/cluster compact compacts etcd ($rev)" sh -c 'case "$0" in ""|*[!0-9]*) exit 1;; esac' "$rev"
t=$(date +%s.%N)
if "$CLUSTER" -d "$D" restart-apiserver >"$TMP/restart.out" 2>&1; then
	ok "restart-apiserver ($(elapsed "$t")s)"
else
	diag <"$TMP/restart.out"
	not_ok "restart-apiserver"
fi
code=$(curl -s -o "$TMP/old.out" -w '%{http_code}' --max-time 5 --cacert "$MESHDNS_CA" \
	-H "Authorization: Bearer $TOKEN" \
	"$MESHDNS_APISERVER_URL/apis/discovery.k8s.io/v1/endpointslices?watch=1&resourceVersion=$rv&timeoutSeconds=1" || true)
check "after compaction and restart, a watch from an older resourceVersion ($rv) gets 410 Gone" \
	sh -c 'test "$0" = 410 || grep -q "\"code\":410" "$1"' "$code" "$TMP/old.out"
check "the slice is still there after the restart" \
	sh -c '"$0" get endpointslices -l "$1" -o name | grep -q .' "$KUBECTL" "$SEL"
# The controller manager ran on through the restart: how soon does it act again?
t=$(date +%s.%N)
K patch pod web-1 --subresource=status --type=json \
	-p '[{"op":"replace","path":"/status/conditions/2/status","value":"True"}]' >/dev/null
for _ in $(seq 1 600); do
	got=$(K get endpointslices -l "$SEL" -o jsonpath="$JP" 2>/dev/null || true)
	case $got in *"10.1.2.3 true"*) break ;; esac
	sleep 0.2
done
check "after the restart the EndpointSlice controller follows Ready=True again ($(elapsed "$t")s)" \
	test "${got%% node-a*}" = "10.1.2.3 true"

# ---------------------------------------------------------------- down
t=$(date +%s.%N)
pids=$(cat "$D"/run/*.pid)
"$CLUSTER" -d "$D" down 2>&1 | diag
left=0
for p in $pids; do # a zombie waiting for init to reap it has stopped
	st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)
	[ -n "$st" ] && [ "$st" != Z ] && left=$((left + 1))
done
check "down stops every process it started" test $left -eq 0
check "down leaves the directory (only --purge removes it)" test -f "$D/cluster.env"
echo "# down: $(elapsed "$t")s"

echo "1..$N"
echo "# total: $(elapsed "$T0")s"
echo "cluster_smoke: $((N - FAILED)) passed, $FAILED failed"
[ $FAILED -eq 0 ]
