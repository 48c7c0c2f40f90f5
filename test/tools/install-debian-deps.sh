#!/usr/bin/env bash
# Installs the Debian packages that are missing: those named as arguments, or
# every one in test/debian-packages.txt. One line says what is installed;
# apt's own output goes to a log file, shown only when something fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ $# -gt 0 ]; then
  wanted=("$@")
else
  mapfile -t wanted < <(grep -v '^\s*#' test/debian-packages.txt | awk 'NF{print $1}')
fi
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]} (apt-get; this can take a minute)"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp -t letterbox-apt.XXXXXX.log)"
fail() {
  echo "installing Debian packages failed; apt said:" >&2
  tail -n 30 "$log" >&2
  echo "(whole log: $log)" >&2
  exit 1
}
# Postfix is only driven as a private instance on loopback by the tests: do
# not let its package set up (and start) a system-wide mail server.
if printf '%s\n' "${missing[@]}" | grep -qx postfix; then
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections >>"$log" 2>&1 || fail
fi
$SUDO apt-get update -qq >>"$log" 2>&1 || fail
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || fail
rm -f "$log"
