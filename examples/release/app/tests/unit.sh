#!/bin/sh
# The unit tests: the page template has its placeholders.
set -e
grep -q '@GREETING@' index.html.in
grep -q '@REVISION@' index.html.in
echo "unit tests passed"
