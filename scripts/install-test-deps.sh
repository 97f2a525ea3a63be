#!/usr/bin/env bash
# Install the Debian packages the optional end-to-end tests use: postfix (tests/test_postfix_e2e.py)
# swaks (handy for trying the docs/postfix.md recipes by hand), and chromium with CJK fonts
# (tests/test_web_browser.py renders the candidate and admin pages).
#
#     bash scripts/install-test-deps.sh
#
# Best effort by design: it always exits 0. Where it cannot install (not root and no sudo, no apt-get,
# no network) it says why, and the tests that need the packages skip with a message of their own.
# Postfix is installed with "No configuration": the system's own instance is not configured or started
# (the test runs a private instance on loopback ports of its own). A service start that fails in a
# container without systemd is tolerated.
set -u

PACKAGES=(postfix swaks chromium fonts-noto-cjk)

say() { echo "install-test-deps: $*"; }

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    say "already installed: ${PACKAGES[*]}"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get is not available; not installing ${missing[*]} (the Postfix tests will be skipped)"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        say "not root and no password-less sudo; not installing ${missing[*]}" \
            "(the Postfix tests will be skipped)"
        exit 0
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections \
    || say "debconf-set-selections failed; installing anyway"

apt_install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=120 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
}

say "installing ${missing[*]}"
start=$(date +%s)
if ! apt_install; then
    say "first attempt failed; updating the package lists and trying again"
    "${SUDO[@]}" apt-get update -qq -o DPkg::Lock::Timeout=120 || say "apt-get update failed"
    apt_install || say "apt-get install reported an error" \
        "(harmless if only a service could not start, as in a container without systemd)"
fi

for pkg in "${missing[@]}"; do
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok'; then
        say "$pkg: $(dpkg-query -W -f='${Version}' "$pkg")"
    else
        say "$pkg is not installed; the tests that need it will be skipped"
    fi
done
say "done in $(($(date +%s) - start)) s"
exit 0
