"""Reads back what wandb wrote: the append-only `run-<id>.wandb` log of an offline run.

wandb 0.31 has no Python reader for its own log, so the tests read the format
directly: a 7-byte header (":W&B", magic 0xBEE1, version 0), then 32 KiB blocks
of LevelDB-style records (CRC-32 of type and data, 2-byte length, type: full,
first, middle or last), each payload a `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2 as pb

_BLOCK = 32 * 1024
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def read_records(path: str | Path) -> list[pb.Record]:
    """Every record in a `.wandb` file, in order; raises on a corrupt checksum."""
    data = Path(path).read_bytes()
    ident, magic, version = struct.unpack("<4sHB", data[:_HEADER])
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise ValueError(f"{path} is no wandb log (header {ident!r} {magic:#x} {version})")
    records, pending, pos = [], b"", _HEADER
    while pos + _HEADER <= len(data):
        left_in_block = _BLOCK - pos % _BLOCK
        if left_in_block < _HEADER:  # the block's tail is padding
            pos += left_in_block
            continue
        checksum, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if kind == 0 and length == 0:  # zero padding
            pos += left_in_block
            continue
        payload = data[pos + _HEADER : pos + _HEADER + length]
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != checksum:
            raise ValueError(f"{path}: bad checksum at byte {pos}")
        pos += _HEADER + length
        if kind == _FULL:
            pending = payload
        elif kind == _FIRST:
            pending = payload
            continue
        elif kind == _MIDDLE:
            pending += payload
            continue
        else:
            pending += payload
        record = pb.Record()
        record.ParseFromString(pending)
        records.append(record)
        pending = b""
    return records


def _items(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key = "/".join(item.nested_key) if item.nested_key else item.key
        out[key] = json.loads(item.value_json)
    return out


@dataclass
class OfflineRun:
    """What one offline run holds, merged from its records."""

    run_id: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    artifacts: list[str] = field(default_factory=list)

    @property
    def user_config(self) -> dict[str, Any]:
        """The config without wandb's own `_wandb` entry."""
        return {k: v for k, v in self.config.items() if k != "_wandb"}


def read_run(path: str | Path) -> OfflineRun:
    """Merges the records of one `.wandb` file into an `OfflineRun`."""
    # A run whose process was killed may hold no records past the header: its id is in the file name.
    run = OfflineRun(run_id=Path(path).name.removeprefix("run-").removesuffix(".wandb"))
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.run_id, run.name, run.group, run.job_type = r.run_id, r.display_name, r.run_group, r.job_type
            run.tags = list(r.tags)
            run.config.update(_items(r.config.update))
        elif kind == "config":
            run.config.update(_items(record.config.update))
        elif kind == "history":
            run.history.append(_items(record.history.item))
        elif kind == "summary":
            run.summary.update(_items(record.summary.update))
            for item in record.summary.remove:
                run.summary.pop(item.key, None)
        elif kind == "metric":
            m = record.metric
            run.metrics[m.name or m.glob_name] = m
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
        elif kind == "artifact":
            run.artifacts.append(record.artifact.name)
    return run


def whole(path: str | Path) -> bool:
    """The log ends with the run's exit record: everything the run logged is on disk."""
    records = read_records(path)
    return bool(records) and records[-1].WhichOneof("record_type") == "exit"


def run_log(wandb_dir: str | Path, run_id: str, *, online: bool = False) -> Path:
    """The `.wandb` log of run `run_id` below `wandb_dir`: an offline run's (online: an online or offline one's)."""
    folders = "*run" if online else "offline-run"
    (path,) = Path(wandb_dir).glob(f"wandb/{folders}-*-{run_id}/run-{run_id}.wandb")
    return path


def recording_ends(
    tuner: Any, wandb_dir: str | Path, events: list[str] | None = None, *, online: bool = False
) -> dict[str, bool]:
    """For each trial of `tuner`'s search, whether its run's log was whole when KerasTuner recorded its end.

    Each end is also noted in `events`, where given, as "trial <id> ended".
    """
    seen: dict[str, bool] = {}
    end_trial = tuner.oracle.end_trial

    def records_end(trial: Any) -> Any:  # KerasTuner's own record of the end: read the run's log at that moment
        seen[trial.trial_id] = whole(run_log(wandb_dir, f"{tuner.search_id}-{trial.trial_id}", online=online))
        if events is not None:
            events.append(f"trial {trial.trial_id} ended")
        return end_trial(trial)

    tuner.oracle.end_trial = records_end
    return seen


def _flush() -> None:
    """Makes this process's wandb service write out what it holds.

    `run.finish()` returns before wandb-core has written the last records of a
    run to its log (seen under load: a finished run's log held only its
    header). Shutting the service down flushes every log; the next
    `wandb.init` starts a new one.
    """
    import wandb

    if wandb.run is None:
        wandb.teardown()


def read_runs(wandb_dir: str | Path) -> dict[str, OfflineRun]:
    """Every offline run below a `wandb` folder, by run id, once this process's wandb has written them out."""
    _flush()
    runs = {}
    for path in sorted(Path(wandb_dir).glob("**/offline-run-*/run-*.wandb")):
        run = read_run(path)
        if run.run_id in runs:
            raise AssertionError(f"run {run.run_id} was written twice: {path}")
        runs[run.run_id] = run
    return runs
