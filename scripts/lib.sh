# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# Shared by scripts/check and scripts/demo. Source it.

# Debian packages needed to build meshdns and run all of its tests.
MESHDNS_DEB_PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	libldns-dev libevent-dev libcurl4-openssl-dev libcjson-dev check
	bind9-dnsutils knot-dnsutils ldnsutils python3 iproute2 procps
	curl openssl unbound dnsmasq-base valgrind
)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# is_ci: non-interactive run (CI=true or CI=1)
is_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }

# install_missing_packages [PKG...]: apt-get install those of PKG (default
# MESHDNS_DEB_PACKAGES) that dpkg does not list as installed; apt-get update
# only when something is missing. As root, or through sudo.
install_missing_packages() {
	local p status missing=() sudo=() yes=()
	[ $# -gt 0 ] || set -- "${MESHDNS_DEB_PACKAGES[@]}"
	command -v dpkg-query >/dev/null 2>&1 || {
		say "not a Debian system (no dpkg-query); install by hand: $*"
		return 0
	}
	for p in "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[ "$status" = "install ok installed" ] || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0

	say "installing missing packages: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "not root and no sudo: install ${missing[*]}"
		sudo=(sudo)
		is_ci && sudo=(sudo -n)
	fi
	is_ci && yes=(-y)
	"${sudo[@]}" env DEBIAN_FRONTEND="${DEBIAN_FRONTEND:-$(is_ci && echo noninteractive || echo dialog)}" \
		apt-get update || die "apt-get update failed"
	"${sudo[@]}" env DEBIAN_FRONTEND="${DEBIAN_FRONTEND:-$(is_ci && echo noninteractive || echo dialog)}" \
		apt-get install --no-install-recommends "${yes[@]}" "${missing[@]}" ||
		die "apt-get install ${missing[*]} failed"
}
