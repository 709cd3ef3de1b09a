"""Many areas at once on Dask distributed: ``siting batch AREAS --out DIR``.

Each row of an areas table (CSV, Excel or GeoPackage) is one ``siting run``: its columns
are scenario keys (``osm``, ``bbox``, ``population``, ``communities``, ``inventory``,
``existing``, ``budget``, ``max_sites``, …) over a shared base scenario. The areas run as
tasks on a Dask cluster — a :class:`~distributed.LocalCluster` by default, or any
scheduler by address — and each writes its own folder ``DIR/<area_id>`` exactly as
``siting run`` does. Beside them:

- ``status/<area_id>.json``: state (``done``, ``failed``, ``timeout``), wall time, the
  worker's peak memory, the error text, a hash of the inputs and the versions used;
- ``rollup.csv`` / ``rollup.xlsx``: one row per area, failed ones included, with the
  headline numbers; ``rollup.gpkg``: each finished area's study area with the same numbers;
  ``rollup.html``: a map of them (finished areas coloured by the share served, the others
  listed with their error).

A failing area never stops the others. A worker killed during an area is replaced by the
cluster and the area runs again (at most ``retries`` times). Running the same command
again skips the areas already done whose inputs are unchanged. An area running longer
than ``area_time_limit`` seconds is stopped by restarting its worker, so the limit holds
even when a solver overruns its own.

An area with ``decompose`` on or auto (embedded model) solves its groups on the same
cluster: its task opens a client from inside the worker (``distributed.worker_client``,
which secedes the task from the worker's thread pool while it waits, so a one-thread
worker runs the group solves instead of deadlocking, and rejoins it afterwards).
:func:`cluster_groups` gives ``siting run --workers N`` / ``--scheduler`` the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import signal
import socket
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from siting._version import __version__
from siting.config.scenario import PATH_FIELDS, Scenario, make_scenario
from siting.errors import SitingError
from siting.io.outdir import read_marker
from siting.solvers.base import THREADS_ENV

if TYPE_CHECKING:
    from siting.models.embedded.parallel import GroupMap, GroupsOn

STATES = ("done", "failed", "timeout")
MARKER = ".siting-batch.json"
ROLLUP_COLUMNS = ("area_id", "name", "state", "error", "wall_s", "peak_memory_mb", "folder",
                  "total_population", "covered_population", "covered_share", "n_sites_chosen",
                  "cost_total", "model", "status", "mip_gap", "runtime_s", "input_hash")
_HEADLINE = ("total_population", "covered_population", "covered_share", "n_sites_chosen",
             "cost_total", "model", "status", "mip_gap", "runtime_s")
_AREA_ID = re.compile(r"^[A-Za-z0-9\u4e00-\u9fff][A-Za-z0-9_.\-\u4e00-\u9fff]{0,63}$")
_NOT_KEYS = ("area_id", "name", "geometry")


def read_areas(path: str | Path) -> list[dict]:
    """The areas of a batch, one dict per row: ``area_id``, ``name`` and the row's scenario
    keys (empty cells left out, paths made relative to the table's folder).

    Parameters
    ----------
    path
        A ``.csv`` (UTF-8, with or without BOM), ``.xlsx`` or ``.gpkg`` table. A
        GeoPackage's polygon gives the area's ``bbox`` (WGS84) unless a ``bbox`` column
        does; ``bbox`` cells read ``W,S,E,N``.

    Returns
    -------
    list of dict
        ``{"area_id": str, "name": str, "keys": {scenario key: value}}`` per row.
    """
    path = Path(path)
    table = _read_table(path)
    if "area_id" not in table.columns:
        raise SitingError(f"{path}: no area_id column (columns: {', '.join(map(str, table.columns))}); "
                          "name each area with a short id, used as its folder name")
    unknown = [c for c in table.columns if c not in _NOT_KEYS and c not in Scenario.model_fields]
    if unknown:
        raise SitingError(f"{path}: columns {', '.join(map(repr, unknown))} are not scenario keys; "
                          f"name columns as the keys of a scenario file (e.g. osm, bbox, budget, "
                          f"max_sites), plus area_id and name")
    areas, seen = [], set()
    for k, row in enumerate(table.to_dict("records")):
        where = f"{path} row {k + 2}"
        area_id = str(row.get("area_id") or "").strip()
        if not _AREA_ID.match(area_id):
            raise SitingError(f"{where}: area_id {area_id!r} must be 1–64 letters, digits, "
                              "'_', '-' or '.', starting with a letter or digit (it names a folder)")
        if area_id in seen:
            raise SitingError(f"{where}: area_id {area_id!r} appears twice; ids must be unique")
        seen.add(area_id)
        keys = {}
        for key, value in row.items():
            if key in _NOT_KEYS or value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if isinstance(value, str) and not value.strip():
                continue
            if key in PATH_FIELDS and not Path(str(value)).is_absolute():
                value = str(path.parent / str(value))
            if key == "bbox" and isinstance(value, str):
                try:
                    value = [float(v) for v in value.split(",")]
                except ValueError:
                    raise SitingError(f"{where}: bbox {value!r} must be W,S,E,N numbers") from None
            keys[key] = value.item() if isinstance(value, np.generic) else value
        geom = row.get("geometry")
        if geom is not None and "bbox" not in keys and not geom.is_empty:
            keys["bbox"] = list(geom.bounds)
        areas.append({"area_id": area_id, "name": str(row.get("name") or area_id), "keys": keys})
    if not areas:
        raise SitingError(f"{path}: no areas (the table has no rows)")
    return areas


def run_batch(areas: str | Path | list[dict], out: str | Path, base: str | Path | None = None,
              workers: int | None = None, scheduler: str | None = None, retries: int = 2,
              area_time_limit: float | None = None,
              progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run every area on a Dask cluster and write their folders, status and roll-up.

    Parameters
    ----------
    areas
        The areas table (see :func:`read_areas`) or its rows.
    out
        Output folder: ``out/<area_id>/`` per area, ``out/status/``, ``out/rollup.*``.
        A folder holding anything else than an earlier batch is refused.
    base
        A scenario ``.toml`` with the settings shared by every area (a row's keys win).
    workers
        Worker processes of the local cluster (default: the cores, at most 4).
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``) to use instead.
    retries
        Times an area is run again after its worker died (killed, out of memory).
    area_time_limit
        Wall-clock seconds per area; an area still running then is stopped (its worker
        restarted) and reported as ``timeout``.
    progress
        Called with one line per finished area (with an ETA).

    Returns
    -------
    pandas.DataFrame
        The roll-up: one row per area (columns :data:`ROLLUP_COLUMNS`).
    """
    from distributed import Client

    rows = areas if isinstance(areas, list) else read_areas(areas)
    out = _batch_folder(out)
    if retries < 0:
        raise SitingError(f"retries must be >= 0, got {retries}")
    if area_time_limit is not None and area_time_limit <= 0:
        raise SitingError(f"area time limit must be > 0 s, got {area_time_limit}")
    say = progress or (lambda text: None)
    status_dir = out / "status"
    status_dir.mkdir(exist_ok=True)
    base = None if base is None else str(Path(base).resolve())
    todo, records = [], {}
    for area in rows:
        digest = _input_hash(area["keys"], base)
        old = _read_json(status_dir / f"{area['area_id']}.json")
        if (old and old.get("state") == "done" and old.get("input_hash") == digest
                and read_marker(out / area["area_id"]) is not None):
            records[area["area_id"]] = {**old, "skipped": True}
            say(f"{area['area_id']}: unchanged since the last run, skipped")
        else:
            todo.append((area, digest))
    if todo:
        cluster = None
        if scheduler is None:
            cluster = _local_cluster(workers or min(4, os.cpu_count() or 1))
        elif workers is not None:
            raise SitingError("--workers sizes the local cluster; with --scheduler the "
                              "cluster's own workers run the areas")
        import dask

        with dask.config.set({"distributed.scheduler.allowed-failures": retries}), \
                Client(cluster if cluster is not None else scheduler) as client:
            try:
                records.update(_run_all(client, todo, out, base, area_time_limit, say))
            finally:
                if cluster is not None:
                    cluster.close()
    rollup = _rollup([records[a["area_id"]] for a in rows], rows)
    _write_rollup(rollup, out)
    return rollup


def cluster_groups(decompose: str, workers: int | None = None,
                   scheduler: str | None = None) -> AbstractContextManager[GroupsOn | None]:
    """Where ``siting run`` solves a decomposed plan's groups: a local Dask cluster of
    ``workers`` processes (one thread each, the solvers' threads splitting the cores), or
    the cluster at ``scheduler``. The options are checked now; the cluster is started (or
    connected to) on entry, before the run, so a bad address fails at once, and closed on
    exit.

    Parameters
    ----------
    decompose
        The scenario's ``decompose``; ``off`` refuses a cluster (it would run nothing).
    workers
        Worker processes of the local cluster; None or 1: in this process, no cluster.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``) instead.

    Returns
    -------
    context manager
        Yields a :data:`~siting.models.embedded.parallel.GroupsOn` for
        :func:`siting.pipeline.run`, or None for in this process.
    """
    if workers is None and scheduler is None:
        return nullcontext(None)
    if decompose == "off":
        raise SitingError("--workers and --scheduler run the group solves of a decomposed "
                          "embedded plan, and decompose is off; add --decompose on (or auto), "
                          "or drop them")
    if workers is not None and scheduler is not None:
        raise SitingError("give --workers (a local cluster) or --scheduler (a running "
                          "cluster), not both")
    if workers is not None and workers < 1:
        raise SitingError(f"--workers must be >= 1, got {workers}")
    if scheduler is None and workers == 1:
        return nullcontext(None)
    return _cluster(workers, scheduler)


@contextmanager
def _cluster(workers: int | None, scheduler: str | None) -> Iterator[GroupsOn]:
    """A local cluster (or a client of ``scheduler``) for the run's group solves."""
    from distributed import Client

    cluster = _local_cluster(int(workers or 1)) if scheduler is None else None
    try:
        try:
            client = Client(cluster if cluster is not None else scheduler, timeout=30)
        except OSError as exc:  # TimeoutError included
            raise SitingError(f"--scheduler {scheduler}: cannot connect ({exc}); check the "
                              "address and that the scheduler runs") from None
        with client:
            groups = _group_map(client, f"a local Dask cluster of {workers} workers"
                                if scheduler is None else f"the Dask cluster at {scheduler}")
            yield lambda: nullcontext(groups)
    finally:
        if cluster is not None:
            cluster.close()


def _local_cluster(n: int):
    """A local cluster of ``n`` one-thread worker processes; numba's and the solvers'
    threads split the cores (no oversubscription)."""
    from distributed import LocalCluster

    threads = max(1, (os.cpu_count() or 1) // n)
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                        dashboard_address=None, silence_logs=50,
                        env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
                             THREADS_ENV: str(threads)})


def _group_map(client, where: str) -> GroupMap:
    """The client's ``map`` for group solves (ahead of queued areas), with its threads."""
    from siting.models.embedded.parallel import GroupMap

    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info(n_workers=-1)
                  ["workers"].values())
    if threads == 0:
        try:
            client.wait_for_workers(1, timeout=60)
        except TimeoutError:
            raise SitingError(f"{where} has no workers (waited 60 s) to solve the groups; "
                              "start some, or run without --scheduler") from None
        return _group_map(client, where)
    return GroupMap(partial(client.map, pure=False, priority=1), threads, where)


@contextmanager
def _worker_groups() -> Iterator[GroupMap]:
    """Inside an area's task: its group solves on the batch's own cluster. The task
    secedes from the worker's thread pool while it waits (a one-thread worker runs the
    groups instead of deadlocking) and rejoins afterwards."""
    from distributed import worker_client

    with worker_client() as client:
        yield _group_map(client, "the batch's Dask cluster")


def _run_all(client, todo, out: Path, base, limit, say) -> dict:
    """Submit the areas, collect their records as they finish; stop overrunning ones."""
    from distributed import wait

    futures = {}
    for area, digest in todo:
        fut = client.submit(run_area, area, digest, str(out), base, pure=False,
                            key=f"siting-area-{area['area_id']}-{digest[:8]}")
        futures[fut] = (area, digest)
    records: dict[str, dict] = {}
    t0, remaining = time.perf_counter(), set(futures)
    while remaining:
        try:
            finished = wait(list(remaining), timeout=1.0, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            finished = set()
        for fut in finished:
            area, digest = futures[fut]
            remaining.discard(fut)
            if area["area_id"] in records:  # stopped by the time limit
                continue
            rec = records[area["area_id"]] = _collect(fut, area, digest, out)
            n = len(records)
            eta = (time.perf_counter() - t0) / n * (len(futures) - n)
            say(f"{area['area_id']}: {rec['state']}"
                + (f" ({rec['error'].splitlines()[0][:120]})" if rec.get("error") else "")
                + f" — {n}/{len(futures)} areas, ETA {eta:.0f} s")
        if limit is not None:
            for fut in _stop_overruns(client, futures, remaining, records, out, limit, say):
                remaining.discard(fut)
    return records


def _collect(fut, area: dict, digest: str, out: Path) -> dict:
    """The area's record: the task's result, or why it failed (a dead worker included)."""
    if fut.status == "finished":
        return fut.result()
    try:
        fut.result()
        error = "the task ended without a result"
    except Exception as exc:  # KilledWorker, a cancelled task, an error outside run_area
        error = f"{type(exc).__name__}: {exc}"
    rec = _record(area, digest, "failed", 0.0, error=error)
    _write_json(out / "status" / f"{area['area_id']}.json", rec)
    return rec


def _stop_overruns(client, futures, remaining, records, out: Path, limit: float, say) -> list:
    """Restart the worker of each area running longer than ``limit`` seconds; the futures
    stopped."""
    stopped = []
    for fut in list(remaining):
        area, digest = futures[fut]
        if fut.done():
            continue
        started = _read_json(out / "status" / f"{area['area_id']}.running.json")
        if not started or time.time() - started["started"] <= limit:
            continue
        fut.cancel()
        _stop_worker(client, started)
        rec = _record(area, digest, "timeout", time.time() - started["started"],
                      error=f"stopped after the area time limit of {limit:g} s")
        _write_json(out / "status" / f"{area['area_id']}.json", rec)
        records[area["area_id"]] = rec
        stopped.append(fut)
        say(f"{area['area_id']}: timeout after {limit:g} s (worker restarted)")
    return stopped


def _stop_worker(client, started: dict) -> None:
    """Stop the worker running an area at once: killed by pid on this machine (its nanny
    starts a new one), else restarted through the scheduler (which waits for the task)."""
    pid, worker = started.get("pid"), started.get("worker")
    if pid and started.get("host") == socket.gethostname():
        try:
            os.kill(int(pid), signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            pass
    if worker:
        client.restart_workers([worker], raise_for_error=False)


def run_area(area: dict, digest: str, out: str, base: str | None) -> dict:
    """Run one area and write its folder and status record (runs on a worker).

    Parameters
    ----------
    area
        A row of :func:`read_areas`.
    digest
        The hash of the area's inputs (kept in the status record, for resuming).
    out
        The batch folder.
    base
        The base scenario file, or ``None``.

    Returns
    -------
    dict
        The status record written to ``status/<area_id>.json``.
    """
    from distributed import get_worker

    from siting.pipeline import run
    from siting.report.write import write_outputs

    status = Path(out) / "status"
    try:
        worker = get_worker().address
    except ValueError:  # called outside a worker (tests, a plain loop)
        worker = None
    _write_json(status / f"{area['area_id']}.running.json",
                {"started": time.time(), "pid": os.getpid(), "worker": worker,
                 "host": socket.gethostname()})
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # notes go to the record
        warnings.simplefilter("always", UserWarning)
        try:
            sc = make_scenario(base, **area["keys"])
            # decomposed: the groups on the batch's cluster (in this process off a worker)
            on = _worker_groups if sc.decompose != "off" and worker is not None else None
            result = run(sc, groups_on=on)
            write_outputs(result, Path(out) / area["area_id"], overwrite=True)
            rec = _record(area, digest, "done", time.perf_counter() - t0,
                          summary=result.summary)
        except Exception as exc:  # every failure of one area is reported, the others go on
            kind = "" if isinstance(exc, SitingError) else f"{type(exc).__name__}: "
            rec = _record(area, digest, "failed", time.perf_counter() - t0,
                          error=f"{kind}{exc}",
                          trace=None if isinstance(exc, SitingError) else traceback.format_exc())
    rec["notes"] = sorted({str(w.message) for w in caught if issubclass(w.category, UserWarning)})
    _write_json(status / f"{area['area_id']}.json", rec)
    (status / f"{area['area_id']}.running.json").unlink(missing_ok=True)
    return rec


def _record(area: dict, digest: str, state: str, wall_s: float, summary: dict | None = None,
            error: str | None = None, trace: str | None = None) -> dict:
    """The status record of an area."""
    import distributed

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rec = {"area_id": area["area_id"], "name": area["name"], "state": state,
           "wall_s": round(wall_s, 2), "peak_memory_mb": round(peak, 1), "error": error,
           "input_hash": digest, "folder": area["area_id"] if state == "done" else None,
           "versions": {"siting": __version__, "dask.distributed": distributed.__version__},
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if summary is not None:
        rec["summary"] = {k: summary.get(k) for k in _HEADLINE}
        rec["study_area_wgs84"] = summary.get("study_area_wgs84")
    if trace:
        rec["traceback"] = trace
    return rec


def _rollup(records: list[dict], rows: list[dict]) -> pd.DataFrame:
    """One row per area, in the table's order."""
    out = []
    for rec in records:
        row = {k: rec.get(k) for k in ROLLUP_COLUMNS}
        row.update(rec.get("summary") or {})
        if rec.get("skipped"):
            row["state"] = "done"
        out.append(row)
    return pd.DataFrame(out, columns=list(ROLLUP_COLUMNS))


def _write_rollup(rollup: pd.DataFrame, out: Path) -> None:
    """``rollup.csv``, ``rollup.xlsx``, ``rollup.gpkg`` (finished areas' outlines) and
    ``rollup.html`` (their map)."""
    from siting.report.i18n import default_lang
    from siting.report.rollup import rollup_map
    from siting.report.tables import write_csv, write_workbook

    write_csv(rollup, out / "rollup.csv")
    write_workbook({"rollup": rollup}, out / "rollup.xlsx", lang="en")
    shapes = []
    for area_id in rollup["area_id"]:
        rec = _read_json(out / "status" / f"{area_id}.json") or {}
        bounds = rec.get("study_area_wgs84")
        shapes.append(box(*bounds) if bounds else None)
    gdf = gpd.GeoDataFrame(rollup.astype({c: object for c in ("error", "folder")}),
                           geometry=shapes, crs="EPSG:4326")
    mapped = gdf.geometry.notna().to_numpy()
    (out / "rollup.gpkg").unlink(missing_ok=True)
    if mapped.any():
        gdf[mapped].to_file(out / "rollup.gpkg", layer="areas", driver="GPKG")
    lang = default_lang(gdf[mapped].union_all()) if mapped.any() else "en"
    rollup_map(gdf[mapped], rollup[~mapped], lang=lang).save(str(out / "rollup.html"))


def _batch_folder(out: str | Path) -> Path:
    """The batch folder, created or checked to be an earlier batch's (never a user's)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SitingError(f"--out {out} is a file; give a folder for the batch")
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SitingError(f"--out {out} holds files that are not an earlier siting batch; "
                          "give a new or empty folder (nothing there is replaced)")
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / MARKER, {"tool": "siting", "kind": "batch", "version": __version__})
    return out


def _input_hash(keys: dict, base: str | None) -> str:
    """SHA-256 of the area's keys, the base scenario and the content of every input file."""
    h = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode())
    files = [str(v) for k, v in keys.items() if k in PATH_FIELDS and k != "out"]
    for f in sorted(filter(None, [base, *files])):
        h.update(f.encode())
        p = Path(f)
        if p.is_file():
            with p.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()


def _read_table(path: Path) -> pd.DataFrame:
    """The areas table of any supported format, with a clear error for others."""
    if not path.is_file():
        raise SitingError(f"areas table not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, encoding="utf-8-sig", dtype={"area_id": str})
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype={"area_id": str})
        if suffix == ".gpkg":
            gdf = gpd.read_file(path)
            return gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise SitingError(f"{path}: cannot read the areas table ({exc})") from exc
    raise SitingError(f"{path}: areas table must be .csv, .xlsx or .gpkg")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)
