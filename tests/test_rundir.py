"""Damaged and partial state, without Ray: manifests, the newest intact
checkpoint, writes that fail on a full disk, exports missing a file."""

import errno
import json

import pytest

from rllib_marl import rundir
from rllib_marl.rundir import (
    ITERATION,
    MANIFEST,
    check_intact,
    check_writable,
    checkpoints,
    latest_checkpoint,
    manifest_problem,
    newest_intact,
    save_checkpoint,
    write_manifest,
    write_text_atomic,
)
from rllib_marl.schema import ConfigError


def _checkpoint(run, name, iteration, weights=b"w" * 1000):
    d = run / "checkpoints" / name
    (d / "learner_group" / "rl_module" / "shared").mkdir(parents=True)
    (d / "algorithm_state.pkl").write_bytes(b"state")
    (d / "learner_group" / "rl_module" / "shared" / "module_state.pkl").write_bytes(weights)
    (d / ITERATION).write_text(str(iteration))
    write_manifest(d)
    return d


def test_a_manifest_finds_a_truncated_a_changed_and_a_missing_file(tmp_path):
    d = _checkpoint(tmp_path, "iter_000001", 1)
    weights = d / "learner_group" / "rl_module" / "shared" / "module_state.pkl"
    assert manifest_problem(d) is None
    assert set(json.loads((d / MANIFEST).read_text())["files"]) == {
        "algorithm_state.pkl", "iteration.txt", "learner_group/rl_module/shared/module_state.pkl"}
    weights.write_bytes(b"w" * 10)
    assert "module_state.pkl is 10 bytes, 1,000 when written" in manifest_problem(d)
    weights.write_bytes(b"x" * 1000)
    assert "checksum mismatch" in manifest_problem(d)
    weights.unlink()
    assert "module_state.pkl is missing" in manifest_problem(d)
    (d / MANIFEST).write_text("{not json")
    assert "cannot be read" in manifest_problem(d)


def test_the_newest_intact_checkpoint_is_taken_and_the_skipped_ones_named(tmp_path, capsys):
    (tmp_path / "run_config.yaml").write_text("{}")
    _checkpoint(tmp_path, "iter_000002", 2)
    good = _checkpoint(tmp_path, "iter_000004", 4)
    final = _checkpoint(tmp_path, "final", 6)
    legacy = _checkpoint(tmp_path, "iter_000003", 3)
    (legacy / MANIFEST).unlink()  # written before manifests: taken unverified
    assert latest_checkpoint(tmp_path) == final
    (final / "algorithm_state.pkl").write_bytes(b"cut")
    intact, damaged = checkpoints(tmp_path)
    assert intact == [good, legacy, tmp_path / "checkpoints" / "iter_000002"]
    assert [d for d, _ in damaged] == [final]
    assert newest_intact(tmp_path, "--resume") == good
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"warning: skipped checkpoint {final}: algorithm_state.pkl is 3 bytes, 5 when written "
                   "(truncated or overwritten)"]
    with pytest.raises(ConfigError, match=f"checkpoint {final} is damaged: .*newest intact checkpoint "
                                          f"of this run is {good}"):
        check_intact(final, "checkpoint")
    check_intact(good, "checkpoint")


def test_no_intact_checkpoint_is_one_error_naming_each(tmp_path):
    for i in (1, 2):
        d = _checkpoint(tmp_path, f"iter_00000{i}", i)
        (d / "algorithm_state.pkl").unlink()
        (d / "algorithm_state.bin").write_bytes(b"")  # still looks like a checkpoint
    with pytest.raises(ConfigError) as e:
        newest_intact(tmp_path, "--resume")
    assert e.value.path == "--resume"
    assert "no intact checkpoint in" in e.value.message
    assert "iter_000001: algorithm_state.pkl is missing; iter_000002: algorithm_state.pkl is missing" \
        in e.value.message


class _FullDiskAlgo:
    """save_to_path writes part of a checkpoint, then the disk is full."""

    def save_to_path(self, path):
        from pathlib import Path

        Path(path).mkdir(parents=True)
        (Path(path) / "algorithm_state.pkl").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")


def test_a_checkpoint_that_fails_to_write_leaves_nothing_and_says_where(tmp_path):
    good = _checkpoint(tmp_path, "iter_000001", 1)
    with pytest.raises(OSError) as e:
        save_checkpoint(_FullDiskAlgo(), tmp_path, "iter_000002", 2, keep=3)
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "checkpoints" / "iter_000002")
    assert rundir.io_problem(e.value).startswith(f"No space left on device writing {e.value.filename}; "
                                                 "the filesystem is full")
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["iter_000001"]
    assert latest_checkpoint(tmp_path) == good


def test_an_atomic_write_that_fails_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.csv"
    write_text_atomic(path, "iteration\n1\n2\n")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir.os, "replace", full)
    with pytest.raises(OSError) as e:
        write_text_atomic(path, "iteration\n1\n2\n3\n")
    assert e.value.filename == str(path)
    assert path.read_text() == "iteration\n1\n2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["progress.csv"]  # no .partial left


def test_an_output_that_cannot_be_written_is_refused(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        check_writable(tmp_path / "afile" / "run", "--output")
    check_writable(tmp_path / "new" / "run", "--output")  # its nearest existing parent is probed
    assert not (tmp_path / "new").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_an_export_missing_or_damaging_a_file_is_one_error(tmp_path):
    from rllib_marl.deploy import ExportError, check_export

    with pytest.raises(ExportError, match="has no layout.json"):
        check_export(tmp_path)
    (tmp_path / "layout.json").write_text(json.dumps({"modules": {"shared": {"onnx": "shared.onnx"}}}))
    (tmp_path / "shared.onnx").write_bytes(b"onnx" * 100)
    write_manifest(tmp_path, [tmp_path / "layout.json", tmp_path / "shared.onnx"])
    assert check_export(tmp_path)["modules"]["shared"]["onnx"] == "shared.onnx"
    (tmp_path / "shared.onnx").write_bytes(b"onnx")
    with pytest.raises(ExportError, match="is damaged: shared.onnx is 4 bytes, 400 when written"):
        check_export(tmp_path)
    (tmp_path / "shared.onnx").unlink()
    (tmp_path / MANIFEST).unlink()  # an export written before manifests
    with pytest.raises(ExportError, match="is missing shared.onnx"):
        check_export(tmp_path)
