"""Bad ``--out`` folders: refused before any work, and nothing that siting did not write is lost."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import siting
from siting.cli import app, sample_osm
from siting.io import outdir
from siting.io.outdir import MARKER, atomic_folder, read_marker

ROOT = Path(siting.__file__).resolve().parents[1]


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (hidden ones too), by relative path."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(res, *words) -> None:
    assert res.exit_code == 2, res.output
    assert "siting: error:" in res.output and "Traceback" not in res.output, res.output
    for w in words:
        assert w in res.output, res.output


@pytest.fixture(scope="module")
def result():
    from siting.config.scenario import make_scenario
    from siting.pipeline import run

    return run(make_scenario(osm=sample_osm(), max_sites=2))


@pytest.fixture(scope="module")
def ref(result, tmp_path_factory) -> Path:
    """One real run output (with its marker), copied by the tests that need one."""
    return result.write(tmp_path_factory.mktemp("ref") / "out")


@pytest.fixture
def old(ref, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    return out


@pytest.fixture
def no_compute(monkeypatch):
    """The pipeline fails the test if it is called: checks must come first."""
    def boom(sc):
        raise AssertionError("the pipeline ran before --out was checked")
    monkeypatch.setattr("siting.pipeline.run", boom)


@pytest.fixture
def cached(monkeypatch, result):
    """The pipeline returns the module's result at once (only writing is exercised)."""
    monkeypatch.setattr("siting.pipeline.run", lambda sc, **kw: result)


def run_out(out, *extra):
    return cli("run", "--osm", sample_osm(), "--out", out, "-p", 2, *extra)


def no_leftovers(parent: Path, name: str = "out") -> None:
    left = [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.")]
    assert not left, left


@pytest.fixture
def cwd_with_files(tmp_path, monkeypatch) -> Path:
    here = tmp_path / "work" / "here"
    here.mkdir(parents=True)
    (here / "summary.json").write_text("{}")
    (here / "thesis.docx").write_text("years of work")
    monkeypatch.chdir(here)
    return here


@pytest.mark.parametrize("out, why", [(".", "is the current folder"),
                                      ("", "is the current folder"),
                                      ("..", "is the parent of the current folder")],
                         ids=["dot", "empty", "dotdot"])
def test_out_current_or_parent_folder_refused(cwd_with_files, no_compute, out, why):
    """`--out .`, `--out ""` and `--out ..` with --overwrite are refused; nothing is deleted."""
    before = snapshot(cwd_with_files.parent)
    refused(cli("run", "--osm", sample_osm(), "--out", out, "--overwrite"), why)
    assert snapshot(cwd_with_files.parent) == before


def test_out_ancestor_of_cwd_refused(cwd_with_files, no_compute):
    """An ancestor of the current folder as `--out` is refused."""
    before = snapshot(cwd_with_files.parent)
    refused(run_out(cwd_with_files.parent, "--overwrite"), "one of its parents")
    assert snapshot(cwd_with_files.parent) == before


def test_out_home_refused(tmp_path, monkeypatch, no_compute):
    """The home folder as `--out` is refused."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "summary.json").write_text("{}")
    monkeypatch.setenv("HOME", str(home))
    refused(run_out(home, "--overwrite"), str(home), "home folder")
    assert sorted(os.listdir(home)) == ["summary.json"]


def test_out_root_refused(no_compute):
    """The filesystem root `/` as `--out` is refused."""
    refused(run_out("/", "--overwrite"), "filesystem root")


def test_out_mount_point_refused(old, monkeypatch, no_compute):
    """A mount point as `--out` is refused (even an earlier output, with --overwrite)."""
    real = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: Path(p) == old or real(p))
    before = snapshot(old)
    refused(run_out(old, "--overwrite"), str(old), "mount point")
    assert snapshot(old) == before


def test_foreign_summary_without_marker_not_replaced(tmp_path, no_compute):
    """A folder with a foreign `summary.json` but no siting marker is not replaced by --overwrite."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"budget": "mine"}')
    (out / "notes.txt").write_text("keep")
    before = snapshot(out)
    refused(run_out(out, "--overwrite"), str(out), MARKER, "delete it yourself")
    assert snapshot(out) == before


def test_user_file_in_earlier_output_survives_overwrite(old, no_compute):
    """An earlier output holding a user-added file is not replaced by --overwrite; the file survives."""
    (old / "my notes.txt").write_text("mine")
    (old / "tables" / "extra.csv").write_text("a,b\n")
    before = snapshot(old)
    refused(run_out(old, "--overwrite"), "did not write", "my notes.txt", "tables/extra.csv")
    assert snapshot(old) == before


def test_existing_output_without_overwrite_fails_fast(old, no_compute):
    """An existing output folder without --overwrite is refused before any computation."""
    before = snapshot(old)
    refused(run_out(old), "earlier siting run", "--overwrite")
    assert snapshot(old) == before


def test_out_under_a_file_refused(tmp_path, no_compute):
    """`--out` under a regular file is refused before any computation."""
    f = tmp_path / "report.pdf"
    f.write_text("pdf")
    refused(run_out(f / "out"), str(f), "is a file")
    assert f.read_text() == "pdf"


def test_out_is_a_file_refused(tmp_path, no_compute):
    """`--out` naming an existing regular file is refused, the file untouched."""
    f = tmp_path / "out"
    f.write_text("data")
    refused(run_out(f, "--overwrite"), str(f), "is a file")
    assert f.read_text() == "data"


def test_out_in_non_writable_folder_refused(tmp_path, monkeypatch, no_compute):
    """`--out` inside a folder without write permission is refused before any computation."""
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:  # root writes into a 0555 folder anyway: fake what os.access says
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: Path(p) != parent and real(p, m))
    try:
        refused(run_out(parent / "out"), "no permission", str(parent))
    finally:
        parent.chmod(0o755)
    assert os.listdir(parent) == []


def test_out_on_read_only_filesystem_refused(tmp_path, monkeypatch, no_compute):
    """`--out` on a read-only filesystem is refused before any computation."""
    ro = tmp_path / "cdrom"  # no read-only mount in the test sandbox: fake its statvfs flag
    ro.mkdir()
    real = os.statvfs

    class ReadOnly:
        f_flag = os.ST_RDONLY
    monkeypatch.setattr(os, "statvfs", lambda p: ReadOnly if Path(p) == ro else real(p))
    refused(run_out(ro / "siting-out"), "read-only filesystem", str(ro))
    assert os.listdir(ro) == []


def test_lock_held_by_another_run_refused(tmp_path, no_compute):
    """A second run on the same new `--out` while another run holds its lock is refused."""
    lock = tmp_path / ".out.siting-lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused(run_out(tmp_path / "out"), "in use by another siting run")
    assert lock.exists() and not (tmp_path / "out").exists()  # the other run's lock is kept


def test_disk_full_while_writing(old, cached, monkeypatch):
    """Disk full (ENOSPC) while writing says "disk full", names the path and keeps the old output."""
    def full(gdf, path, layer):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    monkeypatch.setattr("siting.report.write._gpkg", full)
    before = snapshot(old)
    refused(run_out(old, "--overwrite"), "disk full", str(old / "sites.gpkg"))
    assert snapshot(old) == before
    no_leftovers(old.parent)


def test_rerun_with_overwrite_replaces_only_siting_files(old, cached):
    """Re-running into the same folder with --overwrite replaces the earlier result."""
    marker = json.loads((old / MARKER).read_text())
    (old / "tables" / "stale.csv").write_text("from an older version\n")  # listed: siting's own
    marker["files"].append("tables/stale.csv")
    marker["created"] = "2000-01-01T00:00:00+00:00"
    (old / MARKER).write_text(json.dumps(marker))
    (old.parent / "beside.txt").write_text("neighbour")
    handler = signal.getsignal(signal.SIGTERM)
    res = run_out(old, "--overwrite")
    assert res.exit_code == 0, res.output
    assert signal.getsignal(signal.SIGTERM) is handler  # restored after the job
    new = read_marker(old)
    assert new["kind"] == "run" and new["created"] != marker["created"]
    assert not (old / "tables" / "stale.csv").exists()
    assert sorted(snapshot(old)) == sorted([*new["files"], MARKER])
    assert (old.parent / "beside.txt").read_text() == "neighbour"
    no_leftovers(old.parent)


def test_stale_temp_folder_of_killed_run_removed(tmp_path, cached):
    """A temporary folder left by a killed run (SIGKILL) is removed by the next run."""
    stale = tmp_path / ".out.siting-tmp-999999-deadbeef"
    stale.mkdir()
    (stale / "map.html").write_text("half")
    (tmp_path / ".out.mine").write_text("not siting's")
    res = run_out(tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert not stale.exists() and (tmp_path / ".out.mine").read_text() == "not siting's"


def test_output_folder_follows_umask(tmp_path, cached):
    """Output folders follow the umask (022 gives 0755), not mkdtemp's 0700."""
    mask = os.umask(0o022)
    try:
        res = run_out(tmp_path / "out")
    finally:
        os.umask(mask)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out" / "tables").stat().st_mode & 0o777 == 0o755


def test_compare_out_protected(cwd_with_files, tmp_path, old, monkeypatch):
    """`siting compare` refuses `--out .`, an ancestor of the current folder and a run's output folder, before any scenario runs."""
    def boom(*a, **k):
        raise AssertionError("scenarios ran before --out was checked")
    monkeypatch.setattr("siting.compare.compare", boom)
    before = snapshot(cwd_with_files)
    refused(cli("compare", old, "--out", ".", "--overwrite"), "current folder")
    assert snapshot(cwd_with_files) == before
    refused(cli("compare", old, "--out", cwd_with_files.parent, "--overwrite"), "parents")
    run_before = snapshot(old)
    refused(cli("compare", old, "--out", old, "--overwrite"), "holds a siting run, not a comparison")
    assert snapshot(old) == run_before


def test_compare_overwrite_keeps_user_files(old, tmp_path):
    """`siting compare --overwrite` replaces an earlier comparison but never a user-added file."""
    out = tmp_path / "cmp"
    assert cli("compare", old, "--out", out).exit_code == 0
    assert read_marker(out)["kind"] == "comparison"
    refused(cli("compare", old, "--out", out), "earlier siting comparison", "--overwrite")
    (out / "mine.txt").write_text("mine")
    refused(cli("compare", old, "--out", out, "--overwrite"), "mine.txt")
    (out / "mine.txt").unlink()
    res = cli("compare", old, "--out", out, "--overwrite")
    assert res.exit_code == 0, res.output
    no_leftovers(tmp_path, "cmp")


def test_ctrl_c_during_replace_waits_for_complete_output(old, monkeypatch):
    """Ctrl-C during the final replace takes effect only once the new output is complete in place."""
    real = outdir._swap

    def swap(new, target):
        os.kill(os.getpid(), signal.SIGINT)  # blocked now: delivered after the swap
        return real(new, target)
    monkeypatch.setattr(outdir, "_swap", swap)
    with pytest.raises(KeyboardInterrupt), atomic_folder(old, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(snapshot(old)) == [MARKER, "new.txt"]
    no_leftovers(old.parent)


def test_replace_without_atomic_exchange(old, monkeypatch):
    """Replacing where renameat2 is unavailable (two renames) also leaves only the new output."""
    monkeypatch.setattr(outdir, "_exchange", lambda a, b: False)
    with atomic_folder(old, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(snapshot(old)) == [MARKER, "new.txt"]
    no_leftovers(old.parent)


def _interrupted_run(tmp_path: Path, old: Path, sig: int, wait_for: str) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess on ``old`` with --overwrite and send ``sig`` once
    ``wait_for`` is seen: ``"tmp"`` (the new output is being written) or ``"reading"``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "siting", "run", "--osm", str(sample_osm()),
                             "--out", str(old), "-p", "2", "--overwrite"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    if wait_for == "reading":
        for line in proc.stdout:
            if "reading" in line:
                break
        time.sleep(0.5)
    else:
        while not list(tmp_path.glob(".out.siting-tmp-*")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.1)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("sig, wait_for", [(signal.SIGTERM, "tmp"), (signal.SIGINT, "reading")],
                         ids=["sigterm-while-writing", "sigint-while-computing"])
def test_signal_leaves_old_output_and_no_partial_folder(tmp_path, old, sig, wait_for):
    """SIGTERM while writing or Ctrl-C while computing leaves the old output intact and no partial or hidden folder."""
    before = snapshot(old)
    done = _interrupted_run(tmp_path, old, sig, wait_for)
    # 143 / 130: our handler (SIGTERM) or the CLI (Ctrl-C) stopped it, after cleaning up
    assert done.returncode == 128 + sig and "Traceback" not in done.stderr, done.stderr
    assert snapshot(old) == before
    no_leftovers(tmp_path)
