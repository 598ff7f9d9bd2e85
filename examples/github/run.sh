#!/bin/sh
# Runs the example pipeline on this machine, with no AWS account and no GitHub:
#   examples/github/run.sh          the working copy: app/ committed as a repository whose remote is the
#                                   pipeline's (FullRepositoryId), so `sluice run` inside it reads it (bound)
#   examples/github/run.sh --fetch  the same commit pushed to a bare repository, fetched by git through
#                                   SLUICE_GIT_BASE_URL, as from GitHub (tests/tests/git_sources.rs does this
#                                   over HTTP with credentials, against a loopback git server)
# SLUICE names the binary (default: target/release/sluice, then `sluice` on PATH); state goes to a temporary folder.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sluice=${SLUICE:-$root/target/release/sluice}
[ -x "$sluice" ] || sluice=sluice
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo="$work/github-app"
cp -R "$here/app" "$repo"
git -C "$repo" init -q -b main
git -C "$repo" -c user.name=Example -c user.email=example@example.com add -A
git -C "$repo" -c user.name=Example -c user.email=example@example.com commit -q -m "Greet people by name"
git -C "$repo" remote add origin https://github.com/sluice-examples/github-app.git
if [ "${1:-}" = "--fetch" ]; then
  git clone -q --bare "$repo" "$work/server/sluice-examples/github-app.git"
  cd "$work"
  SLUICE_GIT_BASE_URL="file://$work/server" exec "$sluice" --state-dir "$work/state" run "$here/pipeline.yaml" --no-bind
fi
cd "$repo"
exec "$sluice" --state-dir "$work/state" run "$here/pipeline.yaml"
