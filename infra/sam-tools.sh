#!/usr/bin/env bash
# Installs the template checkers into .venv-sam (once) and prints where they are:
#   aws-sam-cli  (`sam validate --lint`, `sam build`, `sam deploy`)
#   cfn-lint     (CloudFormation linter; sam's --lint runs it too)
# Both work offline with no AWS credentials. Idempotent: when both tools answer, nothing is installed.
# Set SAM_TOOLS_QUIET=1 to print nothing when already installed (scripts/test.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."
export SAM_CLI_TELEMETRY=0

VENV=.venv-sam
SAM=$VENV/bin/sam
CFN_LINT=$VENV/bin/cfn-lint

installed() {
    [[ -x $SAM && -x $CFN_LINT ]] && "$SAM" --version >/dev/null 2>&1 && "$CFN_LINT" --version >/dev/null 2>&1
}

if installed; then
    [[ ${SAM_TOOLS_QUIET:-0} == 1 ]] && exit 0
else
    echo "sam-tools: installing aws-sam-cli and cfn-lint into $VENV (a few minutes the first time)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check 'aws-sam-cli==1.*' 'cfn-lint==1.*'
    installed || { echo "sam-tools: installation in $VENV did not give working sam and cfn-lint" >&2; exit 1; }
fi

echo "sam: $PWD/$SAM ($("$SAM" --version))"
echo "cfn-lint: $PWD/$CFN_LINT ($("$CFN_LINT" --version))"
