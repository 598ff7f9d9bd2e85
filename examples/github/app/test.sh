#!/bin/sh
# The example repository's test: every file under src/ must end with a newline.
set -e
for f in src/*; do
  [ -z "$(tail -c1 "$f")" ] || { echo "$f does not end with a newline"; exit 1; }
done
echo "tests passed: $(ls src | wc -l) file(s)"
