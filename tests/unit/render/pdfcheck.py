"""Independent looks at a PDF: pypdf for structure and XMP, poppler for text and pixels."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

__all__ = ["amount_forms", "fonts", "gray_page", "need_poppler", "squash", "structure", "text"]

A4_PT = (595.28, 841.89)


def need_poppler() -> None:
    if not shutil.which("pdftotext") or not shutil.which("pdftoppm"):
        pytest.fail("poppler-utils (pdftotext, pdftoppm) missing: ./dev test installs it")


def structure(pdf: bytes) -> dict:
    """Associated files, XMP PDF/A identification, output intent and page sizes."""
    reader = PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    files = {}
    for ref in root.get("/AF", []):
        spec = ref.get_object()
        stream = spec["/EF"]["/F"].get_object()
        files[str(spec["/F"])] = {"relationship": str(spec.get("/AFRelationship")), "data": stream.get_data(),
                                  "subtype": str(stream.get("/Subtype"))}
    xmp = root["/Metadata"].get_object().get_data().decode("utf-8")
    part = re.search(r"pdfaid:part(?:>|=\")\s*(\d)", xmp)
    conformance = re.search(r"pdfaid:conformance(?:>|=\")\s*([A-Za-z])", xmp)
    intents = [i.get_object() for i in root.get("/OutputIntents", [])]
    return {
        "files": files,
        "pdfa_part": part.group(1) if part else None,
        "pdfa_conformance": conformance.group(1) if conformance else None,
        "output_intents": [str(i.get("/S")) for i in intents],
        "pages": [(float(p.mediabox.width), float(p.mediabox.height)) for p in reader.pages],
        "xmp": xmp,
    }


def is_a4(size: tuple[float, float]) -> bool:
    return abs(size[0] - A4_PT[0]) < 1 and abs(size[1] - A4_PT[1]) < 1


def text(pdf: bytes, page: int | None = None, crop: tuple[float, float, float, float] | None = None) -> str:
    """The text of *pdf* (or of one *page*), by pdftotext; *crop*: only what lies in (x, y, width, height), in points."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(pdf)
        args = ["pdftotext", "-raw", "-enc", "UTF-8"]
        if page is not None:
            args += ["-f", str(page), "-l", str(page)]
        if crop is not None:
            x, y, w, h = crop
            args += ["-r", "72", "-x", str(int(x)), "-y", str(int(y)), "-W", str(int(w)), "-H", str(int(h))]
        return subprocess.run([*args, str(src), "-"], capture_output=True, check=True).stdout.decode("utf-8")


def fonts(pdf: bytes) -> list[str]:
    """The names of the fonts *pdf* embeds (pdffonts)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(pdf)
        out = subprocess.run(["pdffonts", str(src)], capture_output=True, check=True).stdout.decode("utf-8")
    return [line.split()[0] for line in out.splitlines()[2:] if line.strip()]


def squash(s: str) -> str:
    return "".join(s.split())


def amount_forms(value: Decimal) -> set[str]:
    """The ways a print may show an amount: 1.234,56 / 1234,56 / 1,234.56 / 1234.56, or as the XML writes it."""
    q = f"{value:.2f}"
    whole, frac = q.split(".")
    grouped = f"{int(whole):,}"
    return {f"{grouped.replace(',', '.')},{frac}", f"{whole},{frac}", f"{grouped}.{frac}", f"{whole}.{frac}", str(value)}


def gray_page(pdf: bytes, page: int, dpi: int) -> tuple[int, int, bytes]:
    """(width, height, 8-bit gray pixels) of one page, rendered by pdftoppm."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(pdf)
        subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page), str(src), f"{tmp}/p"], check=True)
        raw = next(Path(tmp).glob("p*.pgm")).read_bytes()
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", raw)
    assert m, "pdftoppm did not write an 8-bit PGM"
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, raw[m.end(): m.end() + w * h]
