#!/usr/bin/env bash
# Benchmark: the console's pipeline page time to first byte with 1,000 executions in the pipeline's history,
# against `GET /health` (no store work) as the anchor. Starts its own `sluice serve` on a free port over a
# temporary state folder, creates a two-stage pipeline (a LocalSource of a small folder, a `true` command), starts 1,000
# executions through the API (SigV4-signed with the aws CLI's botocore, already in .venv-sam, or python's
# boto3 if installed), waits for them to finish, signs in to the console, then prints medians of 20 requests.
#
#   bench/console-ttfb.sh
#   EXECUTIONS=200 bench/console-ttfb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EXECUTIONS=${EXECUTIONS:-1000}
cargo build -q --release -p sluice-cli --bin sluice
bin=${CARGO_TARGET_DIR:-target}/release/sluice
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
id=AKIASLUICEBENCH00001 secret=c2x1aWNlLWJlbmNoLXNlY3JldC1rZXktMDAwMDAw
echo "$id $secret" > "$work/keys"
mkdir -p "$work/src" && echo hi > "$work/src/a.txt"
"$bin" --state-dir "$work/state" serve --bind "127.0.0.1:$port" --keys "$work/keys" > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.2; done
python=python3
[[ -x .venv-sam/bin/python ]] && python=.venv-sam/bin/python
URL="http://127.0.0.1:$port" ID=$id SECRET=$secret SRC="$work/src" N=$EXECUTIONS "$python" - <<'PY'
import json, os, time, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url, creds = os.environ["URL"], Credentials(os.environ["ID"], os.environ["SECRET"])
def call(op, body):
    data = json.dumps(body).encode()
    req = AWSRequest("POST", url + "/", data=data, headers={
        "X-Amz-Target": "CodePipeline_20150709." + op, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(creds, "codepipeline", "us-east-1").add_auth(req)
    r = urllib.request.urlopen(urllib.request.Request(url + "/", data=data, headers=dict(req.headers.items())))
    return json.load(r)
call("CreatePipeline", {"pipeline": {"name": "bench", "pipelineType": "V2", "executionMode": "PARALLEL",
    "stages": [{"name": "Source", "actions": [{"name": "Checkout", "outputArtifacts": [{"name": "Src"}],
        "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "LocalSource", "version": "1"},
        "configuration": {"Path": os.environ["SRC"]}}]},
      {"name": "Check", "actions": [{"name": "True", "inputArtifacts": [{"name": "Src"}],
        "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
        "commands": ["true"]}]}]}})
n = int(os.environ["N"])
for i in range(n):
    call("StartPipelineExecution", {"name": "bench"})
print(f"started {n} executions", flush=True)
# Wait until every one has finished: the history is what people look back on.
while True:
    token, running, seen = None, 0, 0
    while True:
        body = {"pipelineName": "bench", "maxResults": 100}
        if token:
            body["nextToken"] = token
        page = call("ListPipelineExecutions", body)
        for e in page["pipelineExecutionSummaries"]:
            seen += 1
            running += e["status"] in ("InProgress", "Stopping")
        token = page.get("nextToken")
        if not token:
            break
    if seen >= n and running == 0:
        break
    time.sleep(1)
print(f"{seen} executions finished", flush=True)
PY
# Sign in to the console.
jar="$work/jar"
curl -s -o /dev/null -c "$jar" -H "Origin: http://127.0.0.1:$port" \
    --data "keyId=$id&secret=$secret&next=%2F" "http://127.0.0.1:$port/sign-in"
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ttfb() { for _ in $(seq 20); do curl -s -o /dev/null -b "$jar" -w '%{time_starttransfer}\n' "$1"; done | median; }
health=$(ttfb "http://127.0.0.1:$port/health")
pipeline=$(ttfb "http://127.0.0.1:$port/pipelines/bench")
history=$(ttfb "http://127.0.0.1:$port/pipelines/bench/executions")
printf 'GET /health                        %8.1f ms (anchor)\n' "$(echo "$health * 1000" | bc -l)"
printf 'GET /pipelines/bench               %8.1f ms (%s executions)\n' "$(echo "$pipeline * 1000" | bc -l)" "$EXECUTIONS"
printf 'GET /pipelines/bench/executions    %8.1f ms\n' "$(echo "$history * 1000" | bc -l)"
