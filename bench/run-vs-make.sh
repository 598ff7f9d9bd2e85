#!/usr/bin/env bash
# The 100-action pipeline against make -j10 (one case of bench/all.sh).
exec "$(dirname "$0")/all.sh" make100
