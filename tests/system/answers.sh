#!/usr/bin/env bash
# shellcheck disable=SC2119,SC2317 # helpers take optional args; some run via check
# SPDX-License-Identifier: BSD-3-Clause
#
# What meshdns answers: A/AAAA/SRV for services and endpoint host names,
# SOA/NS at the apex, NODATA, NXDOMAIN, REFUSED, ANY, case, TTLs, defaults
# and a non-default domain.

. "$(dirname "$0")/lib.sh"

TTL=7	# deliberately not the defaults (5)
NEG=11

start_server <<EOF
{
  "listen": [@LISTEN@],
  "domain": "mesh.local",
  "ttl": $TTL,
  "negative_ttl": $NEG,
  "services": [
    { "name": "web", "namespace": "default",
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"},
                 {"name": "metrics", "port": 9090, "protocol": "tcp"},
                 {"name": "dns", "port": 53, "protocol": "udp"} ],
      "endpoints": [ {"address": "10.0.0.1"},
                     {"address": "10.0.0.2", "hostname": "web-b", "zone": "z1", "weight": 100},
                     {"address": "fd00::1"} ] },
    { "name": "api", "namespace": "prod",
      "ports": [ {"name": "grpc", "port": 9000, "protocol": "tcp"} ],
      "endpoints": [ {"address": "192.168.1.10"} ] },
    { "name": "empty", "namespace": "default",
      "ports": [ {"name": "http", "port": 8080, "protocol": "tcp"} ],
      "endpoints": [] },
    { "name": "v6only", "namespace": "default",
      "ports": [],
      "endpoints": [ {"address": "fd00::abcd"} ] }
  ]
}
EOF

Z=mesh.local
WEB=web.default.svc.$Z

# ---------------------------------------------------------------- A / AAAA

q "$WEB" A
expect_rcode NOERROR
expect_flag qr
expect_flag aa
expect_answer_count 2
expect_rdata ANSWER A 10.0.0.1 10.0.0.2
expect_ttl ANSWER A "$TTL"
expect_eq "$(owners ANSWER)" "$WEB." "$Q: answer owner is the question name"

q "$WEB" AAAA
expect_rcode NOERROR
expect_flag aa
expect_answer_count 1
expect_rdata ANSWER AAAA fd00::1
expect_ttl ANSWER AAAA "$TTL"

q "api.prod.svc.$Z" A
expect_rcode NOERROR
expect_answer_count 1
expect_rdata ANSWER A 192.168.1.10

q "v6only.default.svc.$Z" AAAA
expect_rcode NOERROR
expect_rdata ANSWER AAAA fd00::abcd

# A service with only IPv6 endpoints has no A records: NODATA.
q "v6only.default.svc.$Z" A
expect_nodata "$Z" "$NEG"

q "api.prod.svc.$Z" AAAA
expect_nodata "$Z" "$NEG"

# ---------------------------------------------------------------- SRV, named port form

srv_targets() { rrs "$1" SRV | awk '{ print $7, tolower($8) }' | sort; }
check_additional_for_web() {
	# the targets' addresses, each once, with the configured TTL
	expect_rdata ADDITIONAL A 10.0.0.1 10.0.0.2
	expect_rdata ADDITIONAL AAAA fd00::1
	expect_eq "$(rrs ADDITIONAL A | awk '{ print tolower($1), $5 }' | sort)" \
		"$(lines "10-0-0-1.$WEB. 10.0.0.1" "web-b.$WEB. 10.0.0.2")" \
		"$Q: ADDITIONAL A owners are the SRV targets"
	expect_eq "$(rrs ADDITIONAL AAAA | awk '{ print tolower($1), $5 }')" \
		"fd00--1.$WEB. fd00::1" "$Q: ADDITIONAL AAAA owner is the SRV target"
	expect_ttl ADDITIONAL A "$TTL"
}

q "_http._tcp.$WEB" SRV
expect_rcode NOERROR
expect_flag aa
expect_answer_count 3
expect_eq "$(srv_targets ANSWER)" \
	"$(lines "8080 10-0-0-1.$WEB." "8080 web-b.$WEB." "8080 fd00--1.$WEB.")" \
	"$Q: one SRV per endpoint, port 8080, target HOST.$WEB"
expect_ttl ANSWER SRV "$TTL"
check_additional_for_web

q "_dns._udp.$WEB" SRV
expect_rcode NOERROR
expect_answer_count 3
expect_eq "$(srv_targets ANSWER | cut -d' ' -f1 | sort -u)" 53 "$Q: SRV port 53"

q "_grpc._tcp.api.prod.svc.$Z" SRV
expect_rcode NOERROR
expect_eq "$(srv_targets ANSWER)" "9000 192-168-1-10.api.prod.svc.$Z." "$Q: SRV 9000 -> dashed address"
expect_rdata ADDITIONAL A 192.168.1.10

# ---------------------------------------------------------------- SRV, service form

q "$WEB" SRV
expect_rcode NOERROR
expect_flag aa
expect_answer_count 9
want=()
for p in 8080 9090 53; do
	for h in 10-0-0-1 web-b fd00--1; do want+=("$p $h.$WEB."); done
done
expect_eq "$(srv_targets ANSWER)" "$(lines "${want[@]}")" "$Q: one SRV per endpoint x named port"
check_additional_for_web

# ---------------------------------------------------------------- endpoint host names

q "web-b.$WEB" A
expect_rcode NOERROR
expect_flag aa
expect_answer_count 1
expect_rdata ANSWER A 10.0.0.2
expect_ttl ANSWER A "$TTL"

q "10-0-0-1.$WEB" A
expect_rcode NOERROR
expect_answer_count 1
expect_rdata ANSWER A 10.0.0.1

q "fd00--1.$WEB" AAAA
expect_rcode NOERROR
expect_answer_count 1
expect_rdata ANSWER AAAA fd00::1

q "10-0-0-1.$WEB" AAAA
expect_nodata "$Z" "$NEG"

q "fd00--abcd.v6only.default.svc.$Z" AAAA
expect_rcode NOERROR
expect_rdata ANSWER AAAA fd00::abcd

# ---------------------------------------------------------------- apex

q "$Z" SOA
expect_rcode NOERROR
expect_flag aa
expect_answer_count 1
soa=$(rrs ANSWER SOA)
# shellcheck disable=SC2086 # split the record into fields
set -- $soa
expect_eq "$(printf '%s' "${1:-}" | lc)" "$Z." "$Q: SOA owner"
expect_eq "$(printf '%s %s' "${5:-}" "${6:-}" | lc)" "ns.dns.$Z. hostmaster.$Z." "$Q: SOA mname ns.dns.$Z, rname hostmaster.$Z"
expect_eq "${11:-}" "$NEG" "$Q: SOA minimum = negative_ttl"
if [[ ${7:-} =~ ^[0-9]+$ ]]; then ok "$Q: SOA serial is a number"; else fail "$Q: SOA serial '${7:-}'"; fi

q "$Z" NS
expect_rcode NOERROR
expect_flag aa
expect_answer_count 1
expect_eq "$(rdata ANSWER NS | lc)" "ns.dns.$Z." "$Q: NS target ns.dns.$Z"

q "$Z" A
expect_nodata "$Z" "$NEG"

# ---------------------------------------------------------------- NODATA: names that exist

for name in "svc.$Z" "default.svc.$Z" "prod.svc.$Z" "_tcp.$WEB" "_udp.$WEB"; do
	q "$name" A
	expect_nodata "$Z" "$NEG"
done
q "_tcp.$WEB" SRV
expect_nodata "$Z" "$NEG"
for type in TXT MX; do
	q "$WEB" "$type"
	expect_nodata "$Z" "$NEG"
done
q "web-b.$WEB" TXT
expect_nodata "$Z" "$NEG"
# the SRV owner exists; it has no addresses
q "_http._tcp.$WEB" A
expect_nodata "$Z" "$NEG"
# a service without endpoints exists, with nothing to answer
q "empty.default.svc.$Z" A
expect_nodata "$Z" "$NEG"
q "_http._tcp.empty.default.svc.$Z" SRV
expect_nodata "$Z" "$NEG"

# ---------------------------------------------------------------- NXDOMAIN

for name in "nosuch.default.svc.$Z" "foo.$Z" "x.$WEB" "web.nons.svc.$Z" "nons.svc.$Z" \
	"_http._udp.$WEB" "_nosuch._tcp.$WEB" "10-0-0-9.$WEB" "a.b.c.d.e.f.$WEB" "foo.svc.svc.$Z"; do
	q "$name" A
	expect_nxdomain "$Z" "$NEG"
done
q "_nosuch._tcp.$WEB" SRV
expect_nxdomain "$Z" "$NEG"
q "nosuch.default.svc.$Z" SRV
expect_nxdomain "$Z" "$NEG"

# ---------------------------------------------------------------- REFUSED: not ours

for name in example.com "$Z.example.com" "x$Z" "mesh" "svc.cluster.local"; do
	q "$name" A
	expect_rcode REFUSED
	expect_no_flag aa
	expect_section_count ANSWER 0
done
q . NS
expect_rcode REFUSED
expect_no_flag aa

# ---------------------------------------------------------------- case

MIXED=WeB.DeFault.SVC.Mesh.Local
q "$MIXED" A
expect_rcode NOERROR
expect_flag aa
expect_eq "$(rrs QUESTION | cut -d' ' -f1)" "$MIXED." "$Q: QUESTION echoes the name as asked"
expect_rdata ANSWER A 10.0.0.1 10.0.0.2
expect_eq "$(owners ANSWER)" "$WEB." "$Q: answer owner is the question name (any case)"

q "_HTTP._Tcp.$MIXED" SRV
expect_rcode NOERROR
expect_answer_count 3

q MESH.LOCAL SOA
expect_rcode NOERROR
expect_answer_count 1

q "NoSuch.$MIXED" A
expect_rcode NXDOMAIN
expect_eq "$(rrs QUESTION | cut -d' ' -f1)" "NoSuch.$MIXED." "$Q: QUESTION echoes the name as asked"

# ---------------------------------------------------------------- ANY (RFC 8482)

# one_rrset: all answer records share one owner and one type
one_rrset() {
	local n
	n=$(rrs ANSWER | awk '{ print tolower($1), toupper($4) }' | sort -u | wc -l)
	if [ "$n" -eq 1 ]; then ok "$Q: a single RRset"; else fail "$Q: $n RRsets, want a single one (RFC 8482)"; fi
}
q "$WEB" ANY
expect_rcode NOERROR
expect_flag aa
one_rrset
q "$Z" ANY
expect_rcode NOERROR
one_rrset
q "nosuch.default.svc.$Z" ANY
expect_nxdomain "$Z" "$NEG"

# ---------------------------------------------------------------- transport: IPv6, TCP

if [ "$HAVE_IPV6" = 1 ]; then
	SERVER_ADDR=::1
	q "$WEB" A
	expect_rcode NOERROR
	expect_rdata ANSWER A 10.0.0.1 10.0.0.2
	q +tcp "$WEB" AAAA
	expect_rcode NOERROR
	expect_rdata ANSWER AAAA fd00::1
	SERVER_ADDR=127.0.0.1
else
	note "no IPv6 loopback: skipping the [::1] listener checks"
fi

q +tcp "_http._tcp.$WEB" SRV
expect_rcode NOERROR
expect_answer_count 3
check_additional_for_web

q +tcp "nosuch.default.svc.$Z" A
expect_nxdomain "$Z" "$NEG"

check_alive

# ---------------------------------------------------------------- defaults

start_server <<'EOF'
{
  "listen": [@LISTEN@],
  "services": [
    { "name": "db", "namespace": "storage",
      "ports": [ {"name": "pg", "port": 5432, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.1.2.3"} ] }
  ]
}
EOF
q db.storage.svc.mesh.local A
expect_rcode NOERROR
expect_rdata ANSWER A 10.1.2.3
expect_ttl ANSWER A 5
q nosuch.storage.svc.mesh.local A
expect_nxdomain mesh.local 5

# ---------------------------------------------------------------- another domain

start_server cluster.test <<'EOF'
{
  "listen": [@LISTEN@],
  "domain": "cluster.test",
  "ttl": 30,
  "negative_ttl": 3,
  "services": [
    { "name": "db", "namespace": "storage",
      "ports": [ {"name": "pg", "port": 5432, "protocol": "tcp"} ],
      "endpoints": [ {"address": "10.1.2.3"} ] }
  ]
}
EOF
DOMAIN=cluster.test
q db.storage.svc.cluster.test A
expect_rcode NOERROR
expect_flag aa
expect_rdata ANSWER A 10.1.2.3
expect_ttl ANSWER A 30
q _pg._tcp.db.storage.svc.cluster.test SRV
expect_rcode NOERROR
expect_eq "$(srv_targets ANSWER)" "5432 10-1-2-3.db.storage.svc.cluster.test." "$Q: SRV under the configured domain"
q cluster.test NS
expect_eq "$(rdata ANSWER NS | lc)" "ns.dns.cluster.test." "$Q: NS target ns.dns.cluster.test"
q nosuch.storage.svc.cluster.test A
expect_nxdomain cluster.test 3
q db.storage.svc.mesh.local A
expect_rcode REFUSED
expect_no_flag aa

finish
