# shellcheck shell=bash disable=SC2034 # (variables for the scripts that source it)
# SPDX-License-Identifier: BSD-3-Clause
# bench/lib/dnsperf.sh: one measured dnsperf run against one server,
# sourced after bench/lib/common.sh and bench/lib/peers.sh.
#
# dnsperf runs pinned to CLIENT_CPU (the servers are on SERVER_CPU), with
# -c 8 -T 1: 8 sockets, one thread, as every bench run so far. Around the
# run, the server's CPU (utime + stime of every process of its tree, reaped
# children included) is read from /proc/PID/stat, so "us/q" is server CPU
# microseconds per answered query. The resolution is one clock tick
# (1/CLK_TCK, 10 ms): a run should cost the server a second of CPU or
# more for a figure good to 1% (e.g. 30 s at 1,000 q/s).
#
# Latency: dnsperf 2.10 (Debian 12) has no latency histogram option (that
# is dnsperf 2.11's -O latency-histogram), so p50/p99 come from -v, which
# prints one line per answer ("> RCODE NAME TYPE SECONDS", microsecond
# resolution); the lines go to a file and are counted into a histogram by
# microsecond, so the percentiles are exact, and the file is removed.
# Writing them costs dnsperf some CPU: flat out, latency comes from a run
# of its own (see bench/dns-qps).

CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
DP_PID=""	# the dnsperf running now: stopped first on exit

dnsperf_stop() {
	[ -n "$DP_PID" ] || return 0
	kill -TERM "$DP_PID" 2>/dev/null || true
	wait "$DP_PID" 2>/dev/null || true
}
BENCH_CLEANUPS+=(dnsperf_stop)

# dnsperf_parse FILE: set DP_SENT DP_DONE DP_LOST DP_QPS DP_AVG_MS
# DP_RUNTIME from dnsperf's statistics
dnsperf_parse() {
	read -r DP_SENT DP_DONE DP_LOST DP_QPS DP_AVG_MS DP_RUNTIME < <(awk '
		/Queries sent:/ { s = $3 } /Queries completed:/ { c = $3 } /Queries lost:/ { l = $3 }
		/Run time \(s\):/ { r = $4 } /Queries per second:/ { q = $4 }
		/Average Latency \(s\):/ { a = $4 * 1000 }
		END { printf "%d %d %d %.0f %.3f %s\n", s, c, l, q, a, (r == "" ? 0 : r) }' "$1")
}

# dnsperf_pcts FILE: "p50 p99" in ms over the answers -v reported in FILE
# ("- -" when there are none)
dnsperf_pcts() {
	awk '$1 == ">" && $NF ~ /^[0-9.]+$/ { us = int($NF * 1e6 + 0.5); h[us]++; n++
			if (us > mx) mx = us }
		END { if (n == 0) { print "- -"; exit }
			for (i = 0; i <= mx; i++) if (i in h) { c += h[i]
				if (p50 == "" && c >= 0.50 * n) p50 = i
				if (p99 == "" && c >= 0.99 * n) p99 = i }
			printf "%.3f %.3f\n", p50 / 1000, p99 / 1000 }' "$1"
}

# server_sample NAME: "CPU_TICKS SERVER_CORE_BUSY TOTAL CLIENT_CORE_BUSY
# TOTAL SECONDS": the server's CPU so far (over the processes it has now),
# both cores' ticks, the time
server_sample() {
	SRV_PIDS[$1]=$(tree_pids "${SRV_ROOT[$1]}" | tr '\n' ' ')
	echo "$(srv_do "$1" cpu_ticks) $(core_ticks "$SERVER_CPU") $(core_ticks "$CLIENT_CPU") $(date +%s.%N)"
}

# measure NAME OUT DNSPERF-ARGS...: one dnsperf run against server NAME
# (SRV_PORT, SRV_PIDS), its output in OUT. Sets, besides DP_*:
#   M_USQ  server CPU us per answered query ("-" if none answered)
#   M_SRV  server CPU in % of one core over the run
#   M_CLI  busy % of CLIENT_CPU (>= 95: dnsperf was the limit)
#   M_OTH  busy % of SERVER_CPU that was not the server (other load)
#   M_LOSTP lost queries in % of those sent
#   M_P50 M_P99  latency percentiles in ms when -v was given, else "-"
#   M_OFFERED  queries sent per second (whether an offered rate held)
measure() {
	local name=$1 out=$2 c0 c1 sb0 st0 sb1 st1 cb0 ct0 cb1 ct1 t0 t1 rc=0 verbose=0 a
	shift 2
	for a in "$@"; do [ "$a" = -v ] && verbose=1; done
	read -r c0 sb0 st0 cb0 ct0 t0 < <(server_sample "$name")
	# in the background and waited for, so that a signal stops the run at once
	taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "${SRV_PORT[$name]}" -d "$QUERIES" \
		-c 8 -T 1 "$@" >"$out" 2>&1 &
	DP_PID=$!
	wait "$DP_PID" || rc=$?
	DP_PID=""
	read -r c1 sb1 st1 cb1 ct1 t1 < <(server_sample "$name")
	[ "$rc" = 0 ] || warn "dnsperf exited $rc against $name (see $out)"
	dnsperf_parse "$out"
	M_P50=- M_P99=-
	if [ "$verbose" = 1 ]; then
		read -r M_P50 M_P99 < <(dnsperf_pcts "$out")
		[ "$BENCH_KEEP" = 1 ] || : >"$out"	# the per-query lines are big
	fi
	read -r M_USQ M_SRV M_CLI M_OTH M_LOSTP M_OFFERED < <(awk -v c=$((c1 - c0)) -v hz="$BENCH_HZ" \
		-v done="$DP_DONE" -v sent="$DP_SENT" -v lost="$DP_LOST" -v t0="$t0" -v t1="$t1" \
		-v sb=$((sb1 - sb0)) -v st=$((st1 - st0)) -v cb=$((cb1 - cb0)) -v ct=$((ct1 - ct0)) \
		-v rt="$DP_RUNTIME" 'BEGIN {
			wall = t1 - t0; if (wall <= 0) wall = 1
			usq = done ? sprintf("%.2f", 1e6 * c / hz / done) : "-"
			srv = 100 * c / hz / wall
			oth = st ? 100 * sb / st - srv : 0; if (oth < 0) oth = 0
			cli = ct ? 100 * cb / ct : 0
			lostp = sent ? 100 * lost / sent : 0
			offered = rt > 0 ? sent / rt : 0
			printf "%s %.0f %.0f %.0f %.3f %.0f\n", usq, srv, cli, oth, lostp, offered }')
}
