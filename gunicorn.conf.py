"""gunicorn settings for `make serve` and containers; every knob can be set from the environment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


wsgi_app = "cardreveal.wsgi:application"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:" + os.environ.get("PORT", "8000"))]

# Threads, not just processes: a reveal spends most of its time waiting on the provider, so each
# process keeps several requests in flight. But few threads per process: a reveal makes some 30
# database, cache and provider round trips, and each time a thread waits, getting the GIL back
# from busy siblings costs it up to the switch interval. Two processes per core with six threads
# each served more reveals on 2 cores than one with eight; 2 x 12 and 3 x 8 did as well as 4 x 6,
# within the noise (docs/benchmarks.md). Keep the threads above CARDREVEAL_PROVIDER_MAX_CONCURRENCY
# (4), or one slow provider can hold them all.
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1))
threads = _int("GUNICORN_THREADS", 6)
# Above the provider deadline (15 s), so a slow provider ends as a 504 from the app, not a kill.
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Keep this above the load balancer's idle timeout, or the LB may reuse a connection we closed.
keepalive = _int("GUNICORN_KEEPALIVE", 75)
# Recycle processes now and then, jittered so they do not all restart at once.
max_requests = _int("GUNICORN_MAX_REQUESTS", 20000)
max_requests_jitter = max_requests // 10

# Bounded request lines and headers (gunicorn's defaults, stated).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# A load balancer that speaks the PROXY protocol hands us the client's address as REMOTE_ADDR,
# which is what the audit records; only trust it from the addresses listed.
proxy_protocol = os.environ.get("GUNICORN_PROXY_PROTOCOL", "") in {"1", "true", "yes", "on"}
proxy_allow_ips = os.environ.get("GUNICORN_PROXY_ALLOW_IPS", "127.0.0.1,::1")
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logs: JSON lines, errors on stderr and access on stdout (cardreveal/logging.py).
logger_class = "cardreveal.logging.GunicornJsonLogger"
errorlog = "-"
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# No runtime control socket: the process manager (systemd, the orchestrator) starts and stops us,
# and several instances on one host would otherwise fight over ~/.gunicorn/gunicorn.ctl.
control_socket_disable = True

# No version banner in the Server header; the app drops the header anyway.
proc_name = "cardreveal"
# Worker heartbeats on tmpfs when there is one: container overlay file systems can stall them.
if Path("/dev/shm").is_dir():  # noqa: S108
    worker_tmp_dir = "/dev/shm"  # noqa: S108


def post_worker_init(worker: object) -> None:
    """Move everything the app loaded at start-up out of the garbage collector's sight.

    Django, the models, the URL tree and the templates stay alive for the process's life;
    `gc.freeze()` stops every full collection from walking them again, and a larger first
    threshold makes the young-object collections (which each request's garbage triggers) rarer.
    """
    import gc

    gc.freeze()
    gc.set_threshold(_int("GUNICORN_GC_GEN0_THRESHOLD", 50_000), 20, 100)


# Metrics (/metrics, cardreveal/monitoring.py): every worker writes its counters to files in one
# directory and a scrape sums them (prometheus-client's multiprocess mode), so the figures are the
# host's whatever worker answers, and a worker that exits or is recycled keeps its counts. Set
# before any worker imports the app; one directory per gunicorn, emptied when it starts.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
_metrics_dir_ours = not _metrics_dir
if _metrics_dir_ours:
    _tmp_root = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
    _metrics_dir = tempfile.mkdtemp(prefix="cardreveal-metrics-", dir=_tmp_root)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server: object) -> None:
    """Forget the counts an earlier run of this gunicorn left in the metrics directory."""
    for stale in Path(_metrics_dir).glob("*.db"):
        stale.unlink()


def child_exit(server: object, worker: object) -> None:
    """Let the metrics drop the live-only gauges of a worker that exited (its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]


def on_exit(server: object) -> None:
    """Remove the metrics directory this gunicorn made for itself."""
    if _metrics_dir_ours:
        import shutil

        shutil.rmtree(_metrics_dir, ignore_errors=True)
