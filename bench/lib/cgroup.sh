# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/lib/cgroup.sh: a CPU quota for a server, the way a DaemonSet's
# resources.limits.cpu puts one on a pod (the kernel's CFS bandwidth
# control: QUOTA microseconds of CPU per 100 ms period; 50m = 5 ms per
# 100 ms), sourced after bench/lib/common.sh. Needs root.
#
# cgroup v2 (a unified hierarchy with the cpu controller at /sys/fs/cgroup):
# cpu.max "QUOTA PERIOD". cgroup v1 (the cpu controller mounted at
# /sys/fs/cgroup/cpu, as on these machines): cpu.cfs_quota_us and
# cpu.cfs_period_us. Either way one directory meshdns-bench.PID holds a
# cgroup per server; cg_cleanup (on exit, after the servers stopped) moves
# anything left back and removes them all.

CG_VERSION=""
CG_ROOT=""
CG_HOME=""	# the cgroup this script runs in: where servers go back to

# cg_init: find the cpu controller and make CG_ROOT; 1 (with a warning) if
# there is none or it cannot be written
cg_init() {
	local rel
	if [ -f /sys/fs/cgroup/cgroup.controllers ] &&
		grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
		CG_VERSION=2
		rel=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
		CG_HOME=/sys/fs/cgroup${rel%/}
		CG_ROOT=/sys/fs/cgroup/meshdns-bench.$$
	elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
		CG_VERSION=1
		rel=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3 }' /proc/self/cgroup)
		CG_HOME=/sys/fs/cgroup/cpu${rel%/}
		CG_ROOT=/sys/fs/cgroup/cpu/meshdns-bench.$$
	else
		warn "no cgroup cpu controller (v2 /sys/fs/cgroup or v1 /sys/fs/cgroup/cpu)"
		return 1
	fi
	mkdir "$CG_ROOT" 2>/dev/null || { warn "cannot create $CG_ROOT (root needed)"; return 1; }
	BENCH_AFTER_STOP+=(cg_cleanup)
	if [ "$CG_VERSION" = 2 ]; then
		# a v2 child only gets the cpu controller if its parent passes it on
		echo +cpu >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
		echo +cpu >"$CG_ROOT/cgroup.subtree_control" ||
			{ warn "cannot enable the cpu controller in $CG_ROOT"; return 1; }
	fi
}

# cg_dir NAME: the cgroup of server NAME (made on first use)
cg_dir() {
	mkdir -p "$CG_ROOT/$1"
	printf '%s' "$CG_ROOT/$1"
}

# cg_quota DIR MILLICORES: MILLICORES thousandths of a CPU (0: no limit)
cg_quota() {
	local d=$1 m=$2 period=100000
	if [ "$CG_VERSION" = 2 ]; then
		if [ "$m" = 0 ]; then echo "max $period" >"$d/cpu.max"
		else echo "$((m * period / 1000)) $period" >"$d/cpu.max"; fi
	else
		echo "$period" >"$d/cpu.cfs_period_us"
		if [ "$m" = 0 ]; then echo -1 >"$d/cpu.cfs_quota_us"
		else echo "$((m * period / 1000))" >"$d/cpu.cfs_quota_us"; fi
	fi
}

# cg_move DIR PID...: move the processes (with all their threads) into DIR
cg_move() {
	local d=$1 p
	shift
	for p in "$@"; do
		echo "$p" >"$d/cgroup.procs" 2>/dev/null || warn "could not move PID $p to $d"
	done
}

# cg_throttled DIR: how many periods the kernel has throttled DIR so far
cg_throttled() {
	awk '$1 == "nr_throttled" { print $2 }' "$1/cpu.stat"
}

# cg_cleanup: whatever is still in our cgroups goes home; remove them
cg_cleanup() {
	local d p
	[ -n "$CG_ROOT" ] && [ -d "$CG_ROOT" ] || return 0
	for d in "$CG_ROOT"/*/ "$CG_ROOT"/; do
		[ -f "$d/cgroup.procs" ] || continue
		while read -r p; do
			echo "$p" >"$CG_HOME/cgroup.procs" 2>/dev/null || true
		done <"$d/cgroup.procs"
	done
	for d in "$CG_ROOT"/*/; do
		[ ! -d "$d" ] || rmdir "$d" || warn "could not remove $d"
	done
	rmdir "$CG_ROOT" || warn "could not remove $CG_ROOT"
}
