#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317
# SPDX-License-Identifier: BSD-3-Clause
#
# Everything else a pod asks, through real resolvers: unbound as the
# upstream (cache hits avoid upstream queries, TTLs decrement, negative
# answers are cached, serve-stale with EDE 3 when the upstream dies),
# search-path expansions answered locally, PTR for endpoints, the loop
# guard, unbound forwarding only the mesh domain to meshdns (as CoreDNS
# stub domains do), and the glibc resolver in a network namespace.
. "$(dirname "$0")/lib.sh"
need_cmd unbound

# unbound_server PORT: the server: clause of an unbound on 127.0.0.1@PORT
# that runs in the foreground in $TMP (the caller appends the rest)
unbound_server() {
	cat <<EOF
server:
  interface: 127.0.0.1@$1
  port: $1
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$TMP"
  pidfile: ""
  use-syslog: no
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
EOF
}

UB_PORT=$(python3 "$PYTOOL" freeport 0)
{ unbound_server "$UB_PORT"; cat <<EOF
  logfile: "$TMP/unbound.log"
  log-queries: yes
  verbosity: 1
  local-zone: "example.test." static
  local-data: "www.example.test. 300 IN A 192.0.2.10"
  local-data: "short.example.test. 1 IN A 192.0.2.11"
  local-data: "example.test. 300 IN SOA ns.example.test. h.example.test. 1 3600 600 86400 60"
  local-data: "20.2.0.192.in-addr.arpa. 300 IN PTR other.example.test."
  local-zone: "2.0.192.in-addr.arpa." static
EOF
} >"$TMP/unbound.conf"
start_unbound() {
	unbound -c "$TMP/unbound.conf" >>"$TMP/unbound.out" 2>&1 &
	UB=$!
	for _ in $(seq 50); do
		dig @127.0.0.1 -p "$UB_PORT" +time=1 +tries=1 example.test SOA >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	hard_error "unbound did not start"
}
start_unbound
on_exit 'kill $UB 2>/dev/null'
asked() {	# how often unbound was asked NAME TYPE
	grep -c "info: 127.0.0.1 $1\\. $2 IN" "$TMP/unbound.log" 2>/dev/null || true
}

FW_HTTP=$(python3 "$PYTOOL" freeport 0) || hard_error "no free port"
metric() { curl -s --noproxy '*' "http://127.0.0.1:$FW_HTTP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
start_server <<EOF
{ "listen": [@LISTEN@], "http": "127.0.0.1:$FW_HTTP",
  "forward": {"upstreams": ["127.0.0.1:$UB_PORT"], "timeout_ms": 300},
  "cache": {"max_entries": 1000, "serve_stale": true, "stale_s": 600},
  "services": [{"name": "web", "endpoints": [{"address": "10.0.0.1"}, {"address": "fd00::1"}]}] }
EOF

# --- forwarded, then from the cache
NOERROR0=$(metric 'meshdns_dns_responses_total{rcode="NOERROR"}')	# readiness SOA queries
q www.example.test A
expect_rcode NOERROR
expect_eq "$(rdata ANSWER A)" "192.0.2.10" "forwarded answer"
expect_flag ra
expect_no_flag aa
expect_eq "$(asked www.example.test A)" 1 "first query went upstream"
sleep 1.1
q www.example.test A
expect_eq "$(rdata ANSWER A)" "192.0.2.10" "second answer"
expect_eq "$(asked www.example.test A)" 1 "second query answered from the cache (upstream not asked again)"
ttl=$(rrs ANSWER A | awk '{print $2}')
check "TTL decremented in the cache (300 -> $ttl)" test "$ttl" -lt 300 -a "$ttl" -ge 295

# --- negative answers are cached (RFC 2308) with the SOA
q nosuch.example.test A
expect_rcode NXDOMAIN
expect_eq "$(rrs AUTHORITY SOA | awk '{print $1}')" "example.test." "NXDOMAIN carries the upstream SOA"
q nosuch.example.test A
expect_rcode NXDOMAIN
expect_eq "$(asked nosuch.example.test A)" 1 "negative answer cached (upstream asked once)"
# forwarded answers are counted by their rcode, not as dropped
expect_eq "$(metric meshdns_dns_dropped_total)" 0 "metrics: forwarded queries are not counted as dropped"
expect_eq "$(($(metric 'meshdns_dns_responses_total{rcode="NOERROR"}') - NOERROR0))" 2 \
	"metrics: the two forwarded NOERROR answers (upstream, cache) counted"
expect_eq "$(metric 'meshdns_dns_responses_total{rcode="NXDOMAIN"}')" 2 \
	"metrics: the two forwarded NXDOMAIN answers (upstream, cache) counted"

# --- search-path expansions of mesh names: NXDOMAIN without going upstream
q web.default.svc.mesh.local.default.svc.cluster.local A
expect_rcode NXDOMAIN
q web.default.svc.mesh.local.svc.cluster.local AAAA
expect_rcode NXDOMAIN
expect_eq "$(grep -c 'mesh.local.default.svc.cluster.local\|mesh.local.svc.cluster.local' "$TMP/unbound.log")" 0 \
	"search-path expansions never reach the upstream"

# --- mesh names never go upstream; PTR for endpoints from the registry
q web.default.svc.mesh.local A
expect_flag aa
expect_eq "$(grep -c 'mesh.local' "$TMP/unbound.log")" 0 "mesh names are not forwarded"
q -x 10.0.0.1
expect_eq "$(rdata ANSWER PTR)" "10-0-0-1.web.default.svc.mesh.local." "PTR for an IPv4 endpoint"
q -x fd00::1
expect_eq "$(rdata ANSWER PTR)" "fd00--1.web.default.svc.mesh.local." "PTR for an IPv6 endpoint"
q -x 192.0.2.20
expect_eq "$(rdata ANSWER PTR)" "other.example.test." "other PTRs are forwarded"

# --- TCP clients are forwarded too
q +tcp www.example.test A
expect_eq "$(rdata ANSWER A)" "192.0.2.10" "forwarding over TCP"

# --- serve-stale: a 1 s record, the upstream dies, the stale answer comes with EDE 3
q short.example.test A
expect_eq "$(rdata ANSWER A)" "192.0.2.11" "short-lived record forwarded"
kill "$UB"
wait "$UB" 2>/dev/null
sleep 1.5
q +time=3 short.example.test A
expect_rcode NOERROR
expect_eq "$(rdata ANSWER A)" "192.0.2.11" "upstream dead: the expired answer is served"
expect_contains 'EDE: 3 \(Stale Answer\)' "stale answers carry EDE 3"
expect_eq "$(rrs ANSWER A | awk '{print $2}')" 30 "stale answers have TTL 30 (RFC 8767)"
q +time=3 never.example.test A
expect_rcode SERVFAIL
expect_contains 'EDE: 22 \(No Reachable Authority\)' "no upstream, nothing cached: SERVFAIL with EDE 22"
check_alive
start_unbound
stop_server

# --- the loop guard
cat >"$TMP/loop.conf" <<EOF
{ "listen": ["127.0.0.1:5399"], "forward": {"upstreams": ["127.0.0.1:5399"]} }
EOF
out=$("$MESHDNS" -t -c "$TMP/loop.conf" 2>&1)
rc=$?
expect_eq "$rc" 1 "forwarding to ourselves is rejected"
check "the loop is named in the error" grep -q 'forward.upstreams\[0\].*forwarding loop' <<<"$out"

# --- unbound forwards only the mesh domain to meshdns (a stub domain)
start_server <<EOF
{ "listen": [@LISTEN@], "http": "off",
  "services": [{"name": "web", "endpoints": [{"address": "10.0.0.1"}]}] }
EOF
UB2_PORT=$(python3 "$PYTOOL" freeport 0)
{ unbound_server "$UB2_PORT"; cat <<EOF
  do-not-query-localhost: no
  domain-insecure: "mesh.local"
forward-zone:
  name: "mesh.local"
  forward-addr: 127.0.0.1@$PORT
EOF
} >"$TMP/stub.conf"
unbound -c "$TMP/stub.conf" >"$TMP/stub.out" 2>&1 &
UB2=$!
on_exit 'kill $UB2 2>/dev/null'
got=""
# (dig +short prints "communications error" on stdout while unbound is
# still starting: wait for an address, not for any output)
for _ in $(seq $((100 * MESHDNS_TEST_SLOW))); do
	got=$(dig @127.0.0.1 -p "$UB2_PORT" +short +time=1 +tries=1 web.default.svc.mesh.local A 2>/dev/null)
	[[ $got =~ ^[0-9.]+$ ]] && break
	sleep 0.2
done
expect_eq "$got" "10.0.0.1" "unbound with mesh.local as a stub domain answers from meshdns"
nx=$(dig @127.0.0.1 -p "$UB2_PORT" +time=2 +tries=1 nosuch.default.svc.mesh.local A 2>/dev/null | grep -o 'status: [A-Z]*')
expect_eq "$nx" "status: NXDOMAIN" "NXDOMAIN passes through the stub domain"
stop_server

# --- the glibc resolver of a pod: resolv.conf naming meshdns as its only server
if [ "$(id -u)" != 0 ] || ! ip netns list >/dev/null 2>&1; then
	note "not root or no ip netns: glibc part skipped"
	finish
fi
NS=mdnsfwd$$
ip netns add "$NS" || hard_error "ip netns add"
on_exit "ip netns del $NS 2>/dev/null; rm -rf /etc/netns/$NS"
ip netns exec "$NS" ip link set lo up
mkdir -p "/etc/netns/$NS"
cat >"/etc/netns/$NS/resolv.conf" <<EOF
nameserver 127.0.0.1
search default.svc.mesh.local svc.mesh.local default.svc.cluster.local cluster.local
options ndots:5
EOF
sed -e "s/127.0.0.1@$UB_PORT/127.0.0.2@5399/" -e "s/port: $UB_PORT/port: 5399/" \
	-e 's/access-control: 127.0.0.0\/8 allow/access-control: 127.0.0.0\/8 allow\n  local-zone: "cluster.local." static\n  local-data: "kubernetes.default.svc.cluster.local. 30 IN A 10.96.0.1"/' \
	-e "s|logfile: \"$TMP/unbound.log\"|logfile: \"$TMP/ns-unbound.log\"|" \
	"$TMP/unbound.conf" >"$TMP/ns-unbound.conf"
ip netns exec "$NS" ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true
ip netns exec "$NS" unbound -c "$TMP/ns-unbound.conf" >"$TMP/ns-unbound.out" 2>&1 &
NSUB=$!
on_exit 'kill $NSUB 2>/dev/null'
cat >"$TMP/ns.conf" <<EOF
{ "listen": ["127.0.0.1:53"], "http": "off",
  "forward": {"upstreams": ["127.0.0.2:5399"], "timeout_ms": 500},
  "services": [{"name": "web", "endpoints": [{"address": "10.0.0.1"}]}] }
EOF
ip netns exec "$NS" "$MESHDNS" -c "$TMP/ns.conf" >"$TMP/ns-meshdns.log" 2>&1 &
NSMD=$!
on_exit 'kill $NSMD 2>/dev/null'
for _ in $(seq 50); do
	ip netns exec "$NS" dig @127.0.0.1 +time=1 +tries=1 mesh.local SOA >/dev/null 2>&1 &&
		ip netns exec "$NS" dig @127.0.0.2 -p 5399 +time=1 +tries=1 www.example.test >/dev/null 2>&1 && break
	sleep 0.1
done
expect_eq "$(ip netns exec "$NS" getent hosts web.default.svc.mesh.local | awk '{print $1}')" \
	"10.0.0.1" "glibc: a mesh name"
expect_eq "$(ip netns exec "$NS" getent hosts web | awk '{print $1}')" \
	"10.0.0.1" "glibc: a short name through the search list"
expect_eq "$(ip netns exec "$NS" getent hosts www.example.test | awk '{print $1}')" \
	"192.0.2.10" "glibc: a name outside the mesh, forwarded"
expect_eq "$(ip netns exec "$NS" getent hosts kubernetes.default.svc.cluster.local | awk '{print $1}')" \
	"10.96.0.1" "glibc: a cluster name, forwarded"
expect_eq "$(grep -c 'mesh.local.default.svc.cluster.local\|mesh.local.svc.cluster.local\|mesh.local.cluster.local' "$TMP/ns-unbound.log")" 0 \
	"glibc: search expansions of mesh names never reached the upstream"
finish
