#!/usr/bin/env bash
# Starts or stops the local moto servers (the AWS emulator the AWS-adapter tests run against):
#   127.0.0.1:5000  moto's own threaded server; point the SDK at it with the standard AWS_ENDPOINT_URL only.
#   127.0.0.1:5001  the same emulator answering one request at a time (infra/moto_serial.py), for the suites that
#                   race conditional writes (SLUICE_SERIAL_ENDPOINT_URL); see that file for why.
#   infra/moto.sh start   # venv in .venv-moto, servers in the background, PIDs in .moto.pid and .moto-serial.pid,
#                         # waits until both answer
#   infra/moto.sh stop    # kills both servers by their PIDs
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-moto
HOST=127.0.0.1

# serve NAME PID_FILE PORT COMMAND...: starts one server unless it runs, and waits until it answers.
serve() {
    local name=$1 pid_file=$2 port=$3
    shift 3
    local log=$VENV/$name.log
    if [[ -f $pid_file ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        echo "$name already running (pid $(cat "$pid_file"))"
        return 0
    fi
    MOTO_PORT=$port "$@" >"$log" 2>&1 &
    echo $! >"$pid_file"
    for _ in $(seq 1 60); do
        if curl -s "http://$HOST:$port/moto-api/" >/dev/null; then
            echo "$name ready on http://$HOST:$port (pid $(cat "$pid_file"))"
            return 0
        fi
        if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
            echo "$name exited; see $log" >&2
            rm -f "$pid_file"
            return 1
        fi
        sleep 0.5
    done
    echo "$name did not answer within 30 s; see $log" >&2
    return 1
}

start() {
    if [[ ! -x $VENV/bin/moto_server ]]; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.*'
    fi
    # ECS services count this many tasks running as soon as they are created or updated, so a deployment of up to
    # that many tasks completes (moto never moves a deployment on by itself).
    MOTO_ECS_SERVICE_RUNNING=2 serve moto .moto.pid 5000 "$VENV/bin/moto_server" -H "$HOST" -p 5000 &&
        serve moto-serial .moto-serial.pid 5001 "$VENV/bin/python" infra/moto_serial.py "$HOST" 5001 ||
        { stop; return 1; }
}

stop() {
    for pid_file in .moto.pid .moto-serial.pid; do
        if [[ -f $pid_file ]]; then
            kill "$(cat "$pid_file")" 2>/dev/null || true
            rm -f "$pid_file"
        fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
