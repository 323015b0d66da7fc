"""An ISO 9660 image of an inspection package, for write-once optical media (LAW.md L10).

The image holds the bag's directory tree as it is in the zip, so an inspector
can verify straight from the disc (`python3 verifier.py .` in its root).
Level 3 ISO 9660 names (what every reader understands) carry Rock Ridge
names with the exact file names for POSIX readers.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from earsiv.archive.errors import ArchiveError, VerificationError

__all__ = ["iso_listing", "write_iso"]


def _iso_name(name: str, is_dir: bool, taken: set[str]) -> str:
    # ISO 9660 level 3: d-characters (A-Z, 0-9, _), 8.3-free but at most 30 characters.
    stem, _dot, ext = name.rpartition(".") if not is_dir and "." in name else (name, "", "")
    stem = re.sub(r"[^A-Z0-9_]", "_", stem.upper())[: 30 - len(ext) - 1 if ext else 30] or "_"
    ext = re.sub(r"[^A-Z0-9_]", "_", ext.upper())[:8]
    n = 0
    while True:
        cand = stem if n == 0 else f"{stem[: 30 - len(ext) - 8]}_{n:06d}"
        full = cand if is_dir else f"{cand}.{ext}" if ext else f"{cand}."
        if full not in taken:
            taken.add(full)
            return full
        n += 1


def write_iso(zip_path: Path, iso_path: Path, *, volume: str | None = None) -> Path:
    """Write the package *zip_path* as an ISO 9660 image (Rock Ridge names) to *iso_path*."""
    from pycdlib.pycdlibexception import PyCdlibException

    try:
        return _write_iso(zip_path, iso_path, volume)
    except (PyCdlibException, zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"cannot write the ISO 9660 image: {exc}", name=str(iso_path)) from exc


def _write_iso(zip_path: Path, iso_path: Path, volume: str | None) -> Path:
    import pycdlib

    with tempfile.TemporaryDirectory(prefix="earsiv-iso-") as tmp, zipfile.ZipFile(zip_path) as zf:
        root = Path(tmp)
        for info in zf.infolist():
            if info.filename.startswith("/") or ".." in info.filename.split("/"):
                raise VerificationError(f"unsafe path {info.filename!r} in the package", name=str(zip_path))
        zf.extractall(root)
        tops = [p for p in root.iterdir()]
        base = tops[0] if len(tops) == 1 and tops[0].is_dir() else root
        iso = pycdlib.PyCdlib()
        vol = re.sub(r"[^A-Z0-9_]", "_", (volume or base.name).upper())[:32]
        iso.new(interchange_level=3, vol_ident=vol, rock_ridge="1.09", app_ident_str="earsiv inspection package")
        names: dict[Path, str] = {base: ""}
        taken: dict[str, set[str]] = {}
        for path in sorted(base.rglob("*")):
            parent = names[path.parent]
            iso_name = _iso_name(path.name, path.is_dir(), taken.setdefault(parent, set()))
            iso_path_ = f"{parent}/{iso_name}"
            if path.is_dir():
                names[path] = iso_path_
                iso.add_directory(iso_path_, rr_name=path.name)
            else:
                iso.add_file(str(path), iso_path_ + ";1", rr_name=path.name)
        iso_path.parent.mkdir(parents=True, exist_ok=True)
        partial = iso_path.with_name(f".{iso_path.name}.partial")
        iso.write(str(partial))
        iso.close()
        shutil.move(partial, iso_path)
    return iso_path


def iso_listing(iso_path: Path) -> dict[str, int]:
    """Rock Ridge path -> size of every file in the image (for checks and tests)."""
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(str(iso_path))
    try:
        out = {}
        for dirpath, _dirs, files in iso.walk(rr_path="/"):
            for f in files:
                p = f"{dirpath.rstrip('/')}/{f}"
                rec = iso.get_record(rr_path=p)
                out[p] = rec.get_data_length()
        return out
    finally:
        iso.close()
