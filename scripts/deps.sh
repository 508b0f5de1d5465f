#!/usr/bin/env bash
# scripts/deps.sh [--bench] - install the Debian packages taskscope needs.
#
# Checks all packages with a single dpkg-query call (fast when everything is
# there, which is the common case: `make test' and `make demo' call this
# every time).  Only if some are missing: as root, one `apt-get update' and
# one `apt-get install' of exactly the missing ones; not as root, print
# which are missing and exit 1.  --bench adds the benchmark packages
# (`make deps-bench').  On a system without dpkg it warns and exits 0.

set -euo pipefail
export LC_ALL=C

packages=(
	gcc make pkg-config libc6-dev	# the toolchain
	libcmocka-dev			# unit tests
	libncurses-dev			# tui/
	libsqlite3-dev sqlite3		# inspector/ history
	jq				# end-to-end tests check JSON output
	libunwind-dev			# stacks at suspension points
	valgrind			# valgrind.h stack annotations, leak runs
	tmux				# TUI tests drive the TUI in tmux
	clang libclang-rt-14-dev	# clang sanitizers, libFuzzer (fuzz stage)
	clang-format			# make format / format-check
)
# Go and pthreads peers, LTTng-UST for the probe-overhead comparison
bench_packages=(golang-go wrk libuv1-dev hyperfine lttng-tools liblttng-ust-dev)

case ${1:-} in
'') ;;
--bench) packages+=("${bench_packages[@]}") ;;
*)
	echo "usage: $0 [--bench]" >&2
	exit 2
	;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: no dpkg-query (not Debian?); make sure these are installed:" >&2
	echo "  ${packages[*]}" >&2
	exit 0
fi

# Unknown packages print nothing on stdout (an error on stderr), so a
# package is missing unless it shows up here as installed.
installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null |
	awk '$2 == "install" && $4 == "installed" { print $1 }' || true)
missing=()
for p in "${packages[@]}"; do
	grep -qxF "$p" <<<"$installed" || missing+=("$p")
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]}" >&2
	echo "deps: install them as root: apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
