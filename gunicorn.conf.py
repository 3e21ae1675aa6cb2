"""gunicorn settings read by `make run` (and by production: `gunicorn -c gunicorn.conf.py`).

With several workers each keeps its own Prometheus counters: multiprocess mode writes them
to PROMETHEUS_MULTIPROC_DIR, emptied at start, and /metrics adds every worker's up
(epermit.observability). A worker that exits is marked dead so its live gauges stop counting.
"""

import os
import shutil
from pathlib import Path

# Set before any worker imports prometheus_client, which reads it once, at import.
_instance = Path(os.environ.get("EPERMIT_INSTANCE", Path.cwd() / "instance"))
METRICS_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_instance / "metrics")))


def on_starting(server):  # noqa: ARG001 - gunicorn's hook signature
    # Counters of a previous run must not be added to this one's.
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    METRICS_DIR.mkdir(parents=True)


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
