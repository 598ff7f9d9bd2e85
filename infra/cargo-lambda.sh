#!/usr/bin/env bash
# Installs cargo-lambda (PyPI wheel `cargo-lambda`, which ships the binary) into .venv-lambda (once) and prints
# where it is. tests/tests/functions.rs runs the function binaries under `cargo lambda watch`, which builds for
# the host: nothing here adds rustup targets or downloads a toolchain.
# Idempotent: when the tool answers, nothing is installed. Set CARGO_LAMBDA_QUIET=1 to print nothing then.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-lambda
CARGO_LAMBDA=$VENV/bin/cargo-lambda

installed() {
    [[ -x $CARGO_LAMBDA ]] && "$CARGO_LAMBDA" lambda --version >/dev/null 2>&1
}

if installed; then
    [[ ${CARGO_LAMBDA_QUIET:-0} == 1 ]] && exit 0
else
    echo "cargo-lambda: installing into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'cargo-lambda==1.*'
    installed || { echo "cargo-lambda: installation in $VENV did not give a working cargo-lambda" >&2; exit 1; }
fi

echo "cargo-lambda: $PWD/$CARGO_LAMBDA ($("$CARGO_LAMBDA" lambda --version))"
