"""moto's server answering one request at a time, for the suites that race conditional writes.

moto's own server (`moto_server`) is threaded, and its DynamoDB evaluates a transaction's conditions and applies
its writes without a lock, so two racing requests can both pass a condition there. DynamoDB applies each request
atomically. Serving one request at a time gives the emulator that property (and nothing more): what a race test
then shows is whether the client's writes are conditioned correctly. Started by infra/moto.sh.

usage: python moto_serial.py HOST PORT
"""

import sys

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

host, port = sys.argv[1], int(sys.argv[2])
run_simple(
    host,
    port,
    DomainDispatcherApplication(create_backend_app),
    threaded=False,
    request_handler=MotoRequestHandler,
)
