"""Inputs for the ENG5 runner's tests: the shipped sample, copies of it, .docx and .pdf files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assessments.research.inventory import SAMPLE_DIR


def write_docx(path: Path, paragraphs: list[str]) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.author = "Student Name In Metadata"  # must never be read
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))
    return path


def write_pdf(path: Path, lines: list[str]) -> Path:
    """A minimal one-page PDF with a text layer (Helvetica), written byte by byte."""
    text_ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        text_ops.append(f"({escaped}) Tj T*")
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("latin-1", errors="replace")  # the standard fonts are Latin-1
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(body)
    return path


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of the shipped sample, to be spoiled by a test."""
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE_DIR, copy)
    return copy


def inputs_of(sample: Path) -> list[str]:
    return [
        "--anchors",
        str(sample / "anchors"),
        "--essays",
        str(sample / "essays"),
        "--prompt",
        str(sample / "instructions.md"),
        "--instructions",
        str(sample / "rubric.md"),
    ]
