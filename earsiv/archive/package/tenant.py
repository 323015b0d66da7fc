"""The hand-back export (off-boarding): everything a tenant holds, in volumes of the package format.

``earsiv export-tenant --vkn V -o DIR`` writes into DIR:

    V-0001.zip, V-0002.zip, …      inspection packages (BagIt, manifests, evidence, checkpoints,
                                   keys, VERIFY.txt, a stand-alone verifier), each of up to
                                   50,000 documents V holds, in the order V's holdings were logged
    access-log-V.jsonl             every access event about V (inspectors' requests), each with
                                   its leaf's inclusion proof, as V's own principals read them
    export-state.json              what is done: the volumes with their sha256, where the next
                                   one starts, the checkpoint every volume is proven against

Volumes keep every part bounded: a package's manifest is read whole by its verifier, so a
volume holds at most ``VOLUME_DOCUMENTS``; memory is one volume's rows, whatever the tenant
holds.  Each volume is verified (``verify_package``) before it is recorded as done, and the
state is replaced atomically after it, so a run that stops (a crash, a full disk, ^C) is taken
up by the same command where it stopped: finished volumes are checked against their recorded
sha256 and kept.  The export is a snapshot: what V holds in the log up to the stamped
checkpoint made when the export began; documents disposed of after their retention have no
bytes left and are listed in the state with their disposal leaves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earsiv.archive.errors import ConfigError, VerificationError
from earsiv.archive.package.build import PackageRequest, _stamped_head, build_package
from earsiv.archive.package.verify import verify_package
from earsiv.errors import InvalidInput

if TYPE_CHECKING:
    from earsiv.archive.archive import Archive

__all__ = ["STATE_FILE", "VOLUME_DOCUMENTS", "ExportResult", "export_tenant"]

STATE_FORMAT = "earsiv-tenant-export/1"
STATE_FILE = "export-state.json"
VOLUME_DOCUMENTS = 50_000
_PAGE = 500


@dataclasses.dataclass(frozen=True, slots=True)
class ExportResult:
    directory: Path
    volumes: list[dict[str, Any]]
    documents: int
    disposed: int
    access_events: int
    resumed: bool

    def to_json(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "volumes": self.volumes, "documents": self.documents,
                "disposed": self.disposed, "access_events": self.access_events, "resumed": self.resumed}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(state, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load(arch: Archive, out: Path, vkn: str) -> tuple[dict[str, Any], bool]:
    path = out / STATE_FILE
    if not path.exists():
        return {"format": STATE_FORMAT, "archive_id": arch.config.archive_id, "vkn": vkn,
                "head": _stamped_head(arch), "after": -1, "volumes": [], "disposed": [], "complete": False}, False
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}): move it away to start the export again") from exc
    if state.get("format") != STATE_FORMAT:
        raise ConfigError(f"{path} is not an earsiv tenant export state of a version this software knows")
    if (state.get("archive_id"), state.get("vkn")) != (arch.config.archive_id, vkn):
        raise InvalidInput(f"{out} holds the export of {state.get('vkn')} from archive {state.get('archive_id')}: "
                           "write this one elsewhere")
    for vol in state["volumes"]:
        f = out / vol["file"]
        if not f.is_file() or _sha256_file(f) != vol["sha256"]:
            raise VerificationError(f"volume {vol['file']} is missing or changed since it was verified: restore it, "
                                    "or move the folder away and export again", name=str(f))
    return state, True


def export_tenant(arch: Archive, vkn: str, out: Path | str, *, access_log: Callable[[], Iterator[dict[str, Any]]],
                  volume_documents: int = VOLUME_DOCUMENTS, progress: Callable[[int], None] | None = None
                  ) -> ExportResult:
    """Write (or go on writing) the hand-back export of *vkn* into the folder *out*; see the module docstring.

    *access_log()*: the access events about *vkn* as its own principals read them, each
    ``{"log_index", "vkns", "event", "proof", "redacted"}``.
    """
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/", str(out)):
        raise InvalidInput(f"{out}: the export is written to a folder (object storage is not supported yet); "
                           "copy the finished folder there")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state, resumed = _load(arch, out, vkn)
    head = state["head"]
    state_path = out / STATE_FILE
    _save(state_path, state)
    while not state["complete"]:
        number = len(state["volumes"]) + 1
        last = {"holding": state["after"], "count": 0}

        def rows(page_size: int, last: dict[str, int] = last) -> Iterator[tuple[Any, bool]]:
            while last["count"] < volume_documents:
                page = arch.index.held_by(vkn, last["holding"], min(_PAGE, volume_documents - last["count"]))
                page = [(h, r) for h, r in page if h < head]  # the snapshot: holdings logged before the export began
                if not page:
                    return
                gone = arch.index.disposal.disposed([r.digest for _h, r in page])
                for h, row in page:
                    last["holding"] = h
                    if row.digest in gone:
                        state["disposed"].append({"digest": row.digest, "disposal_leaf": gone[row.digest][1]})
                        continue
                    last["count"] += 1
                    yield row, True

        if not _more(arch, vkn, state["after"], head):
            state["complete"] = True
            break
        name = f"{vkn}-{number:04d}.zip"
        req = PackageRequest(vkn, dt.date(1900, 1, 1), dt.date(2999, 12, 31),
                             label=f"documents taxpayer {vkn} holds in this archive (hand-back volume {number})",
                             identifier=f"{vkn}_handback_{number:04d}")
        result = build_package(arch, req, out / name, rows=rows, head=head, progress=progress)
        report = verify_package(out / name)
        if not report.ok:
            (out / name).unlink(missing_ok=True)
            problems = "; ".join(f"{f.file}: {f.problem}" for f in report.findings[:5])
            raise VerificationError(f"volume {name} does not verify after writing: {problems}", name=name)
        state["volumes"].append({"file": name, "documents": result.documents, "sha256": _sha256_file(out / name),
                                 "last_holding": last["holding"]})
        state["after"] = last["holding"]
        _save(state_path, state)
    events = _write_access_log(out / f"access-log-{vkn}.jsonl", access_log())
    state["access_log"] = {"file": f"access-log-{vkn}.jsonl", "events": events,
                           "sha256": _sha256_file(out / f"access-log-{vkn}.jsonl")}
    _save(state_path, state)
    return ExportResult(out, state["volumes"], sum(v["documents"] for v in state["volumes"]), len(state["disposed"]),
                        events, resumed)


def _more(arch: Archive, vkn: str, after: int, head: int) -> bool:
    page = arch.index.held_by(vkn, after, 1)
    return bool(page) and page[0][0] < head


def _write_access_log(path: Path, events: Iterator[dict[str, Any]]) -> int:
    tmp = path.with_name(path.name + ".partial")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return n
