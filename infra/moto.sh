#!/usr/bin/env bash
# Starts or stops a local moto server (the AWS emulator the AWS-adapter tests run against) on 127.0.0.1:5000.
#   infra/moto.sh start   # venv in .venv-moto, server in the background, PID in .moto.pid, waits until ready
#   infra/moto.sh stop    # kills the server by its PID
# Point the SDK at it with the standard setting only: AWS_ENDPOINT_URL=http://127.0.0.1:5000.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-moto
PID_FILE=.moto.pid
HOST=127.0.0.1
PORT=5000
LOG=.venv-moto/moto.log

start() {
    if [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        echo "moto already running (pid $(cat "$PID_FILE"))"
        return 0
    fi
    if [[ ! -x $VENV/bin/moto_server ]]; then
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.*'
    fi
    "$VENV/bin/moto_server" -H "$HOST" -p "$PORT" >"$LOG" 2>&1 &
    echo $! >"$PID_FILE"
    for _ in $(seq 1 60); do
        if curl -s "http://$HOST:$PORT/moto-api/" >/dev/null; then
            echo "moto ready on http://$HOST:$PORT (pid $(cat "$PID_FILE"))"
            return 0
        fi
        if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
            echo "moto exited; see $LOG" >&2
            rm -f "$PID_FILE"
            return 1
        fi
        sleep 0.5
    done
    echo "moto did not answer within 30 s; see $LOG" >&2
    stop
    return 1
}

stop() {
    if [[ -f $PID_FILE ]]; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        rm -f "$PID_FILE"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
