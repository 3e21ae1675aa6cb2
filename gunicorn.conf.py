"""gunicorn settings read by `make run` (and by production: `gunicorn -c gunicorn.conf.py`).

With several workers each keeps its own Prometheus counters: multiprocess mode writes them
to PROMETHEUS_MULTIPROC_DIR, emptied at start, and /metrics adds every worker's up
(epermit.observability). A worker that exits is marked dead so its live gauges stop counting.
"""

import os
import shutil
from pathlib import Path


def on_starting(server):  # noqa: ARG001 - gunicorn's hook signature
    instance = Path(os.environ.get("EPERMIT_INSTANCE", Path.cwd() / "instance"))
    path = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(instance / "metrics")))
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
