#!/usr/bin/env bash
# Install the language toolchains the mbxp executors use (Debian 12 / Ubuntu, run as root).
# Idempotent: a toolchain already on PATH is skipped; apt-get update runs at most once.
# Swift and the .NET SDK are not obtainable from Debian or npm: C# runs on mono (mcs) with
# the package's CompareLogic shim, Swift stays "toolchain missing".
# Kotlin: npm's kotlin-compiler@1.7.22 (the full JVM compiler distribution; the authors used
# SDKMAN's latest Kotlin of 2022), installed under /usr/local/lib/mbxp-kotlin and linked as
# /usr/local/bin/kotlinc (ahead of /usr/bin on PATH). Debian only has kotlin 1.3.31,
# whose nullable minBy/maxBy/max()/min() and missing 1.4-1.7 library functions fail samples that
# the official figures count as passing.
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
    # kotlin-compiler goes to its own prefix (a global install would clash with Debian kotlin's kotlinc-js)
    kt=/usr/local/lib/mbxp-kotlin
    if [ ! -x "$kt/node_modules/kotlin-compiler/bin/kotlinc" ]; then
        echo "install-toolchains: npm install --prefix $kt kotlin-compiler@1.7.22"
        $SUDO npm install --prefix "$kt" --no-audit --no-fund --no-save kotlin-compiler@1.7.22
    fi
    $SUDO mkdir -p /usr/local/bin
    $SUDO ln -sf "$kt/node_modules/kotlin-compiler/bin/kotlinc" /usr/local/bin/kotlinc
else
    echo "install-toolchains: npm not found; TypeScript, lodash and Kotlin not installed" >&2
fi

echo "install-toolchains: done"
for t in python3 javac node tsc g++ go ruby php perl kotlinc scalac mcs mono bwrap; do
    printf '  %-8s %s\n' "$t" "$(command -v "$t" || echo MISSING)"
done
