#!/usr/bin/env bash
# Install the language toolchains the mbxp executors use (Debian 12 / Ubuntu, run as root).
# Idempotent: a toolchain already on PATH is skipped; apt-get update runs at most once.
# Swift and the .NET SDK are not obtainable from Debian or npm: C# runs on mono (mcs) with
# the package's CompareLogic shim, Swift stays "toolchain missing".
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

pkgs=()
need() {  # need COMMAND PACKAGE...
    if ! command -v "$1" >/dev/null 2>&1; then shift; pkgs+=("$@"); fi
}
need javac default-jdk-headless
need g++ g++
need go golang-go
need ruby ruby
need php php-cli
need perl perl
need kotlinc kotlin
need scalac scala
need mcs mono-mcs mono-runtime
need bwrap bubblewrap
need node nodejs
if ! perl -MData::Compare -e1 >/dev/null 2>&1; then pkgs+=(libdata-compare-perl); fi

if [ "${#pkgs[@]}" -gt 0 ]; then
    echo "install-toolchains: apt-get install ${pkgs[*]}"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${pkgs[@]}"
fi

# npm: TypeScript 5.x (7.x rejects mxeval's --target es5) and lodash (JavaScript tests require it).
# Debian's npm conflicts with NodeSource's nodejs; use the npm that ships with node.
if command -v npm >/dev/null 2>&1; then
    root="$(npm root -g)"
    npm_pkgs=()
    if ! command -v tsc >/dev/null 2>&1; then npm_pkgs+=("typescript@5.9"); fi
    if [ ! -d "$root/lodash" ]; then npm_pkgs+=("lodash@4.17"); fi
    if [ "${#npm_pkgs[@]}" -gt 0 ]; then
        echo "install-toolchains: npm install -g ${npm_pkgs[*]}"
        $SUDO npm install -g --no-audit --no-fund "${npm_pkgs[@]}"
    fi
else
    echo "install-toolchains: npm not found; TypeScript and lodash not installed" >&2
fi

echo "install-toolchains: done"
for t in python3 javac node tsc g++ go ruby php perl kotlinc scalac mcs mono bwrap; do
    printf '  %-8s %s\n' "$t" "$(command -v "$t" || echo MISSING)"
done
