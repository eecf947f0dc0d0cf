# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source it)
# SPDX-License-Identifier: BSD-3-Clause
# bench/lib/peers.sh: the DNS servers meshdns is measured against, sourced
# after bench/lib/common.sh. Each peer serves the data bench/gen-mesh wrote
# (mesh.local.zone, or unbound-local.conf for unbound) on 127.0.0.1 at a
# port the caller chose, from its own directory, with a config written
# here so that it answers only from that data and never sends a query off
# the machine:
#
#   nsd      NSD, the zone file; one server process (server-count 1), no
#            database file, response rate limiting off (it is on by
#            default and would drop a load test's answers)
#   knot     knotd, the zone file; one UDP and one TCP worker, no journal,
#            never writes the zone back
#   unbound  unbound, local-data (plus the zone's SOA, so that its
#            negative answers carry one as the others' do), one thread,
#            iterator only, everything outside mesh.local. refused
#   coredns  CoreDNS with its file plugin serving the zone, nothing else
#            in the server block (no cache, no log); the binary comes
#            from scripts/testenv (COREDNS=PATH overrides)
#
# Every server is started pinned (taskset) and re-pinned thread by thread
# once it answers; its PIDs (all processes of its tree) are in SRV_PIDS.

PEERS_ALL=(nsd knot unbound coredns)
declare -A PEER_PKG=([nsd]=nsd [knot]=knot [unbound]=unbound)
declare -A PEER_SERVICE=([nsd]=nsd [knot]=knot [unbound]=unbound)
declare -A SRV_PORT SRV_ROOT SRV_PIDS
COREDNS_BIN=""

# peers_install PEER...: apt-get the Debian packages of the PEERs (and
# dnsperf, dig) that are not installed; a package that started its service
# on install gets it stopped again (a benchmark wants the core to itself;
# our ports are our own anyway)
peers_install() {
	local p status absent=() want=(dnsperf bind9-dnsutils util-linux procps)
	for p in "$@"; do [ -n "${PEER_PKG[$p]:-}" ] && want+=("${PEER_PKG[$p]}"); done
	for p in "${want[@]}"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || absent+=("$p")
	done
	[ ${#absent[@]} -gt 0 ] || return 0
	# scripts/lib.sh has its own say and die: keep them out of this shell
	(
		# shellcheck source=scripts/lib.sh
		. "$BENCH_TOP/scripts/lib.sh"
		# no one to answer apt-get's question: as CI does, say yes
		[ -t 0 ] || export CI=1
		install_missing_packages "${absent[@]}"
	) >&2 || exit 1	# apt-get's lines are not the benchmark's output
	for p in "${absent[@]}"; do
		case " ${PEER_SERVICE[*]} " in *" $p "*) ;; *) continue ;; esac
		if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$p" 2>/dev/null; then
			say "stopping the $p service its package started"
			systemctl stop "$p" || warn "could not stop the $p service"
		fi
	done
}

# peer_coredns: set COREDNS_BIN from $COREDNS or scripts/testenv (which
# builds CoreDNS once from the pinned module); 1 with a note when there is
# none (testenv exits 77 without a Go toolchain or a module proxy)
peer_coredns() {
	local out rc=0
	if [ -n "${COREDNS:-}" ]; then
		[ -x "$COREDNS" ] || { warn "COREDNS=$COREDNS is not executable: no coredns row"; return 1; }
		COREDNS_BIN=$COREDNS
		return 0
	fi
	out=$("$BENCH_TOP/scripts/testenv" 2>"$BENCH_WORK/testenv.log") || rc=$?
	if [ "$rc" = 77 ]; then
		warn "scripts/testenv skipped ($(tail -n 1 "$BENCH_WORK/testenv.log")): no coredns row"
		return 1
	elif [ "$rc" != 0 ]; then
		warn "scripts/testenv failed ($rc, $(tail -n 1 "$BENCH_WORK/testenv.log")): no coredns row"
		return 1
	fi
	COREDNS_BIN=$(sed -n 's/^COREDNS=//p' <<<"$out")
	[ -x "$COREDNS_BIN" ] || { warn "scripts/testenv gave no COREDNS: no coredns row"; return 1; }
}

# peer_available PEER: its program is there (for coredns: built)
peer_available() {
	case "$1" in
	nsd) command -v nsd >/dev/null ;;
	knot) command -v knotd >/dev/null ;;
	unbound) command -v unbound >/dev/null ;;
	coredns) [ -n "$COREDNS_BIN" ] || peer_coredns ;;
	*) return 1 ;;
	esac
}

# peer_config PEER DIR PORT DATA: write PEER's config into DIR for DATA
# (bench/gen-mesh's directory) and set PEER_CMD to the command that runs
# it in the foreground
peer_config() {
	local name=$1 d=$2 port=$3 data=$4
	case "$name" in
	nsd)
		cat >"$d/nsd.conf" <<-EOF
		server:
		  ip-address: 127.0.0.1@$port
		  port: $port
		  do-ip6: no
		  server-count: 1
		  username: ""
		  chroot: ""
		  database: ""
		  zonesdir: "$d"
		  zonelistfile: "$d/zone.list"
		  xfrdfile: "$d/xfrd.state"
		  xfrdir: "$d"
		  pidfile: "$d/nsd.pid"
		  logfile: "$d/nsd.log"
		  verbosity: 0
		  rrl-ratelimit: 0
		  rrl-whitelist-ratelimit: 0
		remote-control:
		  control-enable: no
		zone:
		  name: "mesh.local."
		  zonefile: "$data/mesh.local.zone"
		EOF
		PEER_CMD=(nsd -d -c "$d/nsd.conf") ;;
	knot)
		mkdir -p "$d/db"
		cat >"$d/knot.conf" <<-EOF
		server:
		    rundir: "$d"
		    pidfile: "$d/knot.pid"
		    listen: 127.0.0.1@$port
		    udp-workers: 1
		    tcp-workers: 1
		    background-workers: 1
		log:
		  - target: stderr
		    any: warning
		database:
		    storage: "$d/db"
		control:
		    listen: "$d/knot.sock"
		zone:
		  - domain: mesh.local.
		    file: "$data/mesh.local.zone"
		    journal-content: none
		    zonefile-sync: -1
		    zonefile-load: whole
		EOF
		PEER_CMD=(knotd -c "$d/knot.conf") ;;
	unbound)
		cat >"$d/unbound.conf" <<-EOF
		server:
		    interface: 127.0.0.1@$port
		    port: $port
		    do-daemonize: no
		    do-ip6: no
		    num-threads: 1
		    username: ""
		    chroot: ""
		    directory: "$d"
		    pidfile: ""
		    use-syslog: no
		    logfile: ""
		    verbosity: 0
		    access-control: 127.0.0.0/8 allow
		    module-config: "iterator"
		    do-not-query-localhost: yes
		    local-zone: "." refuse
		    local-data: "$(awk '$3 == "SOA" { $1 = "mesh.local. 30"; print }' "$data/mesh.local.zone")"
		    include: "$data/unbound-local.conf"
		remote-control:
		    control-enable: no
		EOF
		PEER_CMD=(unbound -c "$d/unbound.conf") ;;
	coredns)
		cat >"$d/Corefile" <<-EOF
		mesh.local.:$port {
		    bind 127.0.0.1
		    file $data/mesh.local.zone
		}
		EOF
		PEER_CMD=("$COREDNS_BIN" -conf "$d/Corefile" -quiet) ;;
	*) die "unknown peer $name" ;;
	esac
}

# dig_status PORT NAME TYPE: "RCODE ANSWERS" of one query, empty if none
dig_status() {
	dig +tries=1 +time=1 +nocookie +noedns -p "$1" @127.0.0.1 "$2" "$3" 2>/dev/null |
		awk '/status:/ { s = $6; sub(/,$/, "", s) } /ANSWER:/ { for (i = 1; i < NF; i++)
			if ($i == "ANSWER:") { a = $(i + 1); sub(/,$/, "", a) } }
			END { if (s != "") print s, a }'
}

# check_mesh PORT: the server answers the data set as bench/gen-mesh wrote
# it (3 A, 3 SRV, NXDOMAIN for a name that is not there); prints what is
# wrong and returns 1 if anything is
check_mesh() {
	local p=$1 bad=0 got
	got=$(dig_status "$p" svc-7.default.svc.mesh.local A)
	[ "$got" = "NOERROR 3" ] || { echo "A svc-7: '$got', want 'NOERROR 3'"; bad=1; }
	got=$(dig_status "$p" _http._tcp.svc-7.default.svc.mesh.local SRV)
	[ "$got" = "NOERROR 3" ] || { echo "SRV svc-7: '$got', want 'NOERROR 3'"; bad=1; }
	got=$(dig_status "$p" nosvc-7.default.svc.mesh.local A)
	[ "${got%% *}" = NXDOMAIN ] || { echo "A nosvc-7: '$got', want NXDOMAIN"; bad=1; }
	return $bad
}

# server_start NAME PORT CPUS READY CMD...: start a DNS server (logs in
# $BENCH_WORK/NAME/log), wait up to 30 s until it answers (READY "mesh":
# svc-0's three addresses; "any": any answer at all, for the floor; a
# name: an A answer for it),
# re-pin all its threads to CPUS and record its PIDs in SRV_PIDS[NAME]
server_start() {
	local name=$1 port=$2 cpus=$3 ready=$4 pid i got
	shift 4
	mkdir -p "$BENCH_WORK/$name"
	bench_spawn pid "$cpus" "$BENCH_WORK/$name/log" "$@"
	SRV_PORT[$name]=$port
	SRV_ROOT[$name]=$pid
	for ((i = 0; i < 150; i++)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			warn "$name exited at start-up:"
			tail -n 5 "$BENCH_WORK/$name/log" >&2
			return 1
		fi
		case "$ready" in
		mesh) [ "$(dig_status "$port" svc-0.default.svc.mesh.local A)" = "NOERROR 3" ] && break ;;
		any) [ -n "$(dig_status "$port" svc-0.default.svc.mesh.local A)" ] && break ;;
		*) got=$(dig_status "$port" "$ready" A)
			[ "${got%% *}" = NOERROR ] && [ "${got#* }" != 0 ] && break ;;
		esac
		sleep 0.2
	done
	[ "$i" -lt 150 ] || { warn "$name did not answer on 127.0.0.1:$port in 30 s"; return 1; }
	sleep 0.3	# worker processes and threads of some servers come a little later
	server_refresh "$name"
	[ -z "$cpus" ] || srv_do "$name" pin_threads "$cpus"
	return 0
}

# server_refresh NAME: SRV_PIDS[NAME] = the processes of its tree now
# (tracked, so that the exit trap stops forked children as well)
server_refresh() {
	local p
	SRV_PIDS[$1]=$(tree_pids "${SRV_ROOT[$1]}" | tr '\n' ' ')
	for p in ${SRV_PIDS[$1]}; do
		[ "$p" = "${SRV_ROOT[$1]}" ] || bench_track "$p"
	done
}

# srv_do NAME CMD ARG...: CMD ARG... followed by the PIDs of server NAME
srv_do() {
	local pids
	read -ra pids <<<"${SRV_PIDS[$1]}"
	"$2" "${@:3}" "${pids[@]}"
}

# peer_start PEER PORT DATA CPUS: configure and start one peer
peer_start() {
	local name=$1 port=$2 data=$3 cpus=$4
	mkdir -p "$BENCH_WORK/$name"
	peer_config "$name" "$BENCH_WORK/$name" "$port" "$data"
	server_start "$name" "$port" "$cpus" mesh "${PEER_CMD[@]}"
}
