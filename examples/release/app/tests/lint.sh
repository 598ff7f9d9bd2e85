#!/bin/sh
# The linter: no tabs in the template.
set -e
if grep -q "$(printf '\t')" index.html.in; then echo "tabs found"; exit 1; fi
echo "lint passed"
