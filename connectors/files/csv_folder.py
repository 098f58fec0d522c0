"""The `csv_folder` connector: CSV and Excel files dropped in a folder, the way many legacy ERPs export.

A stream is a file-name pattern (the mapping's `source.name`, e.g. `order_lines.csv` or
`orders_*.csv`). Reads are incremental by file: the checkpoint lists each file read with its
mtime and size, so only new or replaced files are read again. Files are read in chunks
(CSV through the shared reader `basics.csv_text`, the one `segbridge analyze` uses too;
openpyxl read-only for Excel) so memory stays flat however big the file; the checkpoint inside a
file records the rows done, so a crash repeats at most one chunk. Values come as text (empty
cells as None): typing is the mapping's job. Every record also carries `__file` (its path in the
folder) and `__row` (its row in the file, header = 1): the mapping reads only the fields it names,
so the two keys reach only the quarantine, where they say which row of which file was refused.
Encoding: UTF-8 with or without a BOM unless `encoding` is declared.

Only files inside the folder are read: a matching file that is a symlink resolving outside the
folder (e.g. `order_lines.csv -> /etc/passwd`) stops the read with a FatalError naming it,
before anything is read. A symlink to a file inside the folder is read like that file.

Example (segbridge.yaml):

    systems:
      legacy_erp:
        kind: csv_folder
        mapping: canonical_csv.yaml
        options: {path: /data/erp_exports, delimiter: ";", encoding: cp1252}
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field

from basics.csv_text import FILE, ROW, CsvReadError, read_csv_text
from basics.yaml_loader import StrictModel
from connectors.base import CheckResult, Connector, RecordBatch, StreamSpec
from connectors.connector_errors import FatalError
from connectors.incremental import Checkpoint

EXCEL = (".xlsx", ".xlsm")


class CsvFolderOptions(StrictModel):
    path: str = Field(description="Folder the files are dropped in")
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    chunk_rows: int = Field(50_000, ge=1, description="Rows per batch")
    sheet: str | int = Field(0, description="Excel sheet name or index")
    recursive: bool = Field(False, description="Also look in sub-folders")


def _signature(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"mtime": stat.st_mtime_ns, "size": stat.st_size}


class CsvFolderConnector(Connector):
    kind = "csv_folder"
    Options = CsvFolderOptions
    description = "CSV and Excel files in a folder, incremental by file"

    @property
    def folder(self) -> Path:
        return Path(self.options.path).expanduser()

    def check(self) -> CheckResult:
        if not self.folder.is_dir():
            return CheckResult(False, f"folder {self.folder} does not exist or is not a folder")
        try:
            files = self._files("*")
        except FatalError as exc:
            return CheckResult(False, str(exc))
        return CheckResult(True, f"{len(files)} file(s) in {self.folder}", {"files": len(files)})

    def discover(self) -> list[StreamSpec]:
        """One stream per file; its records' key is their place in it (`__file`, `__row`)."""
        return [StreamSpec(p.name, [FILE, ROW]) for p in self._files("*")]

    def _files(self, pattern: str) -> list[Path]:
        if not self.folder.is_dir():
            raise FatalError(f"{self.name}: folder {self.folder} not found",
                             hint=f"create it or fix systems.{self.name}.options.path")
        found = self.folder.rglob("*") if self.options.recursive else self.folder.iterdir()
        files = sorted(p for p in found if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in (".csv", ".txt", *EXCEL) and fnmatch.fnmatch(p.name, pattern))
        for path in files:
            self._refuse_outside(path)
        return files

    def _refuse_outside(self, path: Path) -> None:
        """A file that resolves outside the folder (a symlink out of it) is refused, never read."""
        root = self.folder.resolve()
        target = path.resolve()
        if not target.is_relative_to(root):
            raise FatalError(f"{self.name}: refused {path}: it is a symlink to {target}, outside the folder {root}"
                             if path.is_symlink() else
                             f"{self.name}: refused {path}: it resolves to {target}, outside the folder {root}",
                             hint="only files inside options.path are read; copy the file into the folder")

    def read(self, stream: StreamSpec, state: dict[str, Any] | None) -> Iterator[RecordBatch]:
        """New or replaced files matching the stream's pattern, oldest name first, in chunks.

        The checkpoint is a `connectors.incremental.Checkpoint`: `extra.files` the files read (mtime
        and size), `position` the file being read and its rows done. No high-water mark: a file's mtime
        comes from whichever machine wrote it, and only "new or replaced" matters."""
        self.stream_options(stream)  # none are accepted: a typo in the mapping is an error, not ignored
        cp = Checkpoint.load(state, where=f"{self.name}.{stream.name}")
        done: dict[str, dict] = dict(cp.extra.get("files", {}))
        current = cp.position if cp.position is not None else cp.extra.get("current")  # earlier versions
        cp = cp.model_copy(update={"position": None, "extra": {k: v for k, v in cp.extra.items() if k != "current"}})
        for path in self._files(stream.name):
            rel = str(path.relative_to(self.folder))
            sig = _signature(path)
            if done.get(rel) == sig:
                continue
            self._refuse_outside(path)  # again just before reading: the file may have been replaced since
            skip = current["rows"] if current and current.get("file") == rel and current.get("sig") == sig else 0
            yield from self._read_file(path, rel, sig, skip, done, cp)
            done[rel] = sig

    def _read_file(self, path: Path, rel: str, sig: dict, skip: int, done: dict,
                   cp: Checkpoint) -> Iterator[RecordBatch]:
        rows = skip
        chunks = self._excel_chunks(path, rel, skip) if path.suffix.lower() in EXCEL \
            else self._csv_chunks(path, rel, skip)
        pending: list[dict] | None = None
        for chunk, consumed in chunks:
            if pending is not None:
                mid = cp.at({"file": rel, "sig": sig, "rows": rows})
                yield RecordBatch(pending, mid.model_copy(update={"extra": {**cp.extra, "files": dict(done)}}).dump())
            rows += consumed
            pending = chunk
        # The last chunk's checkpoint marks the file done, so a finished file is never read twice.
        yield RecordBatch(pending or [], cp.done(files={**done, rel: sig}).dump())

    def _csv_chunks(self, path: Path, rel: str, skip: int) -> Iterator[tuple[list[dict], int]]:
        """Records of the shared reader (basics.csv_text), each with `__file` and `__row`."""
        try:
            for frame in read_csv_text(path, delimiter=self.options.delimiter, encoding=self.options.encoding,
                                       chunk_rows=self.options.chunk_rows, skip=skip):
                yield _records(frame, rel), frame.attrs["rows_read"]
        except CsvReadError as exc:
            raise FatalError(f"{self.name}: cannot read {exc.message}",
                             hint=f"{exc.hint}; check options.delimiter and options.encoding") from None

    def _excel_chunks(self, path: Path, rel: str, skip: int) -> Iterator[tuple[list[dict], int]]:
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book.worksheets[self.options.sheet] if isinstance(self.options.sheet, int) \
                else book[self.options.sheet]
            rows = sheet.iter_rows(values_only=True)
            header = [str(h) if h is not None else f"column_{i}" for i, h in enumerate(next(rows, []))]
            chunk: list[dict] = []
            for n, row in enumerate(rows):
                if n < skip:
                    continue
                chunk.append({**{h: _cell(v) for h, v in zip(header, row, strict=False)}, FILE: rel, ROW: n + 2})
                if len(chunk) >= self.options.chunk_rows:
                    yield chunk, len(chunk)
                    chunk = []
            if chunk:
                yield chunk, len(chunk)
        finally:
            book.close()


def _records(frame: pd.DataFrame, rel: str) -> list[dict]:
    """Text values (empty cells None), each record with its file and row number (`__file`, `__row`)."""
    rows = frame[ROW].tolist()
    body = frame.drop(columns=ROW)
    records = body.astype(object).where(body.notna(), None).to_dict("records")
    for record, row in zip(records, rows, strict=True):
        record[FILE], record[ROW] = rel, row
    return records


def _cell(value: Any) -> Any:
    if value is None or value == "":
        return None
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
