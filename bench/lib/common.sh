# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/lib/common.sh: what every benchmark script needs, sourced (never
# run): messages, the repository's root, free loopback ports, the processes
# a benchmark starts (pinned, tracked by PID and start time, stopped on
# exit), and their CPU time and memory from /proc.
#
# A script sets BENCH_NAME (for messages), sources this file, calls
# bench_workdir once (a mktemp -d, removed on exit unless BENCH_KEEP=1) and
# starts its servers with bench_spawn; the EXIT trap stops them.

# the variables below are for the scripts that source this file
# shellcheck disable=SC2034
BENCH_NAME=${BENCH_NAME:-bench}
BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_WORK=""
BENCH_PROCS=()		# "pid:starttime" of every process started here
BENCH_CLEANUPS=()	# functions run on exit before the processes stop
BENCH_AFTER_STOP=()	# functions run on exit after the processes stopped
BENCH_HZ=$(getconf CLK_TCK)

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$BENCH_NAME" "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

# need_cmds CMD...: every CMD is on PATH, or die naming the missing ones
need_cmds() {
	local c missing=()
	for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
	[ ${#missing[@]} -eq 0 ] || die "needs ${missing[*]}"
}

# is_uint VALUE: a non-negative integer
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# usage_from_header FILE: the comment block at the top of FILE, after the
# shebang and SPDX lines, without its "# " (the script's --help text)
usage_from_header() {
	awk 'NR > 1 && /^# SPDX/ { next } NR > 1 && /^#/ { sub(/^# ?/, ""); print; next }
		NR > 1 { exit }' "$1"
}

# free_port: a port that is free on 127.0.0.1 for UDP and TCP both (a DNS
# server wants both); the kernel picks it, so two benchmarks running at
# once do not collide the way fixed ports would
free_port() {
	python3 - <<'PY'
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t.bind(("127.0.0.1", 0))
        p = t.getsockname()[1]
        u.bind(("127.0.0.1", p))
        print(p)
        break
    except OSError:
        pass
    finally:
        t.close()
        u.close()
PY
}

# proc_start PID: the process's start time (field 22 of /proc/PID/stat),
# empty when it is gone; with the PID it names one process, so a PID the
# kernel has reused is never signalled
proc_start() {
	local st f
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	read -ra f <<<"${st##*) }"	# f[0] is field 3: the name may hold blanks
	printf '%s' "${f[19]}"
}

# bench_track PID: remember PID (with its start time) for the exit trap
bench_track() {
	local st
	st=$(proc_start "$1")
	[ -n "$st" ] || return 0
	case " ${BENCH_PROCS[*]} " in *" $1:$st "*) return 0 ;; esac
	BENCH_PROCS+=("$1:$st")
}

# tree_pids PID...: each PID and all its descendants (a server that forks,
# like NSD, is measured over all its processes)
tree_pids() {
	local p c
	for p in "$@"; do
		[ -d "/proc/$p" ] || continue
		echo "$p"
		for c in $(ps -o pid= --ppid "$p" 2>/dev/null); do tree_pids "$c"; done
	done
}

# bench_spawn VAR CPUS LOG CMD...: start CMD in the background on CPUS
# (taskset list; "" = not pinned), stdout and stderr to LOG, and set VAR
# to its PID (taskset execs CMD, so the PID is the server's own)
bench_spawn() {
	local var=$1 cpus=$2 log=$3
	shift 3
	if [ -n "$cpus" ]; then
		taskset -c "$cpus" "$@" >"$log" 2>&1 </dev/null &
	else
		"$@" >"$log" 2>&1 </dev/null &
	fi
	bench_track "$!"
	printf -v "$var" '%s' "$!"
}

# pin_threads CPUS PID...: pin every thread of every PID to CPUS. Needed
# after start-up: some servers (Knot) set their workers' affinity
# themselves, which undoes the taskset they were started under.
pin_threads() {
	local cpus=$1 p
	shift
	for p in "$@"; do
		taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1 || warn "could not pin PID $p"
	done
}

# bench_stop_pids "PID:START"...: SIGTERM those still alive, wait up to
# 5 s, then SIGKILL what is left
bench_stop_pids() {
	local e i left
	for e in "$@"; do
		# || true: it may exit between the look and the kill (NSD's
		# children go when their parent does), and set -e must not end
		# the cleanup half way
		[ "$(proc_start "${e%%:*}")" != "${e#*:}" ] || kill -TERM "${e%%:*}" 2>/dev/null || true
	done
	for ((i = 0; i < 50; i++)); do
		left=0
		for e in "$@"; do
			[ "$(proc_start "${e%%:*}")" = "${e#*:}" ] && left=1
		done
		[ "$left" = 0 ] && return 0
		sleep 0.1
	done
	for e in "$@"; do
		if [ "$(proc_start "${e%%:*}")" = "${e#*:}" ]; then
			warn "PID ${e%%:*} ignored SIGTERM: SIGKILL"
			kill -KILL "${e%%:*}" 2>/dev/null || true
		fi
	done
	return 0
}

bench_cleanup() {
	local f e c all=()
	trap - EXIT INT TERM HUP
	for f in ${BENCH_CLEANUPS[@]+"${BENCH_CLEANUPS[@]}"}; do "$f" || true; done
	# children that appeared after start-up (server processes a daemon
	# forked) are ours too: add them before anything is signalled
	for e in ${BENCH_PROCS[@]+"${BENCH_PROCS[@]}"}; do
		all+=("$e")
		[ "$(proc_start "${e%%:*}")" = "${e#*:}" ] || continue
		for c in $(tree_pids "${e%%:*}"); do
			[ "$c" = "${e%%:*}" ] || all+=("$c:$(proc_start "$c")")
		done
	done
	[ ${#all[@]} -eq 0 ] || bench_stop_pids "${all[@]}"
	wait 2>/dev/null || true
	for f in ${BENCH_AFTER_STOP[@]+"${BENCH_AFTER_STOP[@]}"}; do "$f" || true; done
	if [ -n "$BENCH_WORK" ]; then
		if [ "$BENCH_KEEP" = 1 ]; then say "work directory kept: $BENCH_WORK"
		else rm -rf "$BENCH_WORK"; fi
	fi
}

# bench_workdir: make the work directory (BENCH_WORK) and set the traps
bench_workdir() {
	BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/meshdns-$BENCH_NAME.XXXXXX")
	trap bench_cleanup EXIT
	trap 'warn interrupted; exit 130' INT
	trap 'warn terminated; exit 143' TERM HUP
}

# cpu_ticks PID...: user + system CPU of the processes (all their threads)
# and of their reaped children, in clock ticks: a server process that
# exits between two samples still counts, through its parent
cpu_ticks() {
	local p st f t=0
	for p in "$@"; do
		st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		read -ra f <<<"${st##*) }"	# f[0] is field 3
		t=$((t + f[11] + f[12] + f[13] + f[14]))
	done
	echo "$t"
}

# rss_kb PID...: the sum of their VmRSS, kB
rss_kb() {
	local p r t=0
	for p in "$@"; do
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		t=$((t + ${r:-0}))
	done
	echo "$t"
}

# core_ticks CPU: "busy total" clock ticks of one CPU so far (/proc/stat)
core_ticks() {
	awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i
		print t - $5 - $6, t }' /proc/stat
}

# median: the median of the numbers on stdin (one or more a line,
# blank-separated), "" when there are none
median() {
	tr -s ' \t' '\n' | grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' | sort -g |
		awk '{ a[NR] = $1 } END { if (NR == 0) exit
			if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
