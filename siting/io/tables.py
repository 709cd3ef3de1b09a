"""Tables: CSV and Excel files of rows (population tables, site inventories, POI exports).

One reader for every table a run takes, so a population table and an inventory accept
the same files: ``.csv``/``.txt``/``.tsv`` in UTF-8 (with or without BOM) or GB18030 (as
Chinese spreadsheets often save CSV), the delimiter sniffed, and ``.xlsx``/``.xlsm``/``.xls``
workbooks. Headers may be Chinese or English: :func:`pick_column` and
:func:`match_headers` find columns by lists of names, ignoring case, spaces and bracketed
units (``建筑面积（m²）`` is ``建筑面积``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from siting.errors import SitingError

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
TABLE_SUFFIXES = CSV_SUFFIXES + EXCEL_SUFFIXES
_UNIT_RE = re.compile(r"[（(][^）)]*[）)]")  # a bracketed unit in a header: 面积（m²）


def read_table(path: str | Path, what: str = "table", *, sheet: str | int | None = None,
               text: bool = False) -> pd.DataFrame:
    """The rows of a CSV or Excel file.

    Parameters
    ----------
    path
        A ``.csv``, ``.txt`` or ``.tsv`` file (UTF-8, UTF-8 with BOM or GB18030; comma,
        semicolon or tab sniffed from the header, tab for ``.tsv``), or an ``.xlsx``,
        ``.xlsm`` or ``.xls`` workbook (``.xls`` needs xlrd).
    what
        What the file holds (``"population table"``, ``"inventory"``), named in errors.
    sheet
        Excel sheet name or position; default the first.
    text
        Keep every cell as read (``dtype=object``): ids such as ``007`` keep their zeros.

    Returns
    -------
    pandas.DataFrame
        The rows, numbered from 0 (the header is the file's first row).

    Raises
    ------
    SitingError
        File missing, format not a table, or a file that cannot be read, naming ``what``.
    """
    path = Path(path)
    if not path.exists():
        raise SitingError(f"{what} file not found: {path}")
    suffix = path.suffix.lower()
    dtype = object if text else None
    try:
        if suffix in EXCEL_SUFFIXES:
            return pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=dtype)
        if suffix not in CSV_SUFFIXES:
            raise SitingError(f"{path.name}: unsupported {what} format {suffix!r}; give "
                              f"{', '.join(TABLE_SUFFIXES)}")
        sep = "\t" if suffix == ".tsv" else None
        try:
            return _read_csv(path, sep, "utf-8-sig", dtype)
        except UnicodeDecodeError:  # Chinese spreadsheets often save CSV as GBK
            return _read_csv(path, sep, "gb18030", dtype)
    except SitingError:
        raise
    except ImportError as exc:  # .xls needs xlrd
        raise SitingError(f"{path}: reading {suffix} needs {exc.name or 'an extra package'} "
                          f"({exc}); or save the sheet as .xlsx or .csv") from exc
    except Exception as exc:  # pandas, openpyxl and the csv sniffer raise many kinds
        raise SitingError(f"{path}: cannot read the {what} ({exc})") from exc


def _read_csv(path: Path, sep: str | None, encoding: str, dtype) -> pd.DataFrame:
    """A CSV with its delimiter sniffed; a one-column file (nothing to sniff) as it is."""
    try:
        return pd.read_csv(path, sep=sep, engine="python", encoding=encoding, dtype=dtype)
    except csv.Error:
        if sep is not None:
            raise
        return pd.read_csv(path, sep=",", encoding=encoding, dtype=dtype)


def pick_column(df: pd.DataFrame, given: str | None, candidates: Sequence[str], what: str,
                where: str, default_label: str | None) -> str | None:
    """The column holding ``what``: ``given`` (must exist), else the first of ``candidates``.

    Parameters
    ----------
    df
        The table (a ``geometry`` column is never offered).
    given
        A column the user named; an error when it is not in ``df``.
    candidates
        Usual names, compared case-insensitively and without surrounding spaces.
    what
        What the column holds, for messages.
    where
        The file (or layer) the table came from, for messages.
    default_label
        The keyword to name the column with; when given, a column that is not found is an
        error, else None is returned.

    Returns
    -------
    str or None
        The column's name in ``df``.
    """
    if given is not None:
        if given not in df:
            raise SitingError(f"{where}: no {what} column {given!r}; columns are "
                              f"{[c for c in df.columns if c != 'geometry']}")
        return given
    keys = _header_keys(df)
    for c in candidates:
        if header_key(c) in keys:
            return keys[header_key(c)]
    if default_label is not None:
        raise SitingError(f"{where}: no {what} column (tried {', '.join(candidates)}); columns "
                          f"are {list(df.columns)}; name it with {default_label}=")
    return None


def header_key(name) -> str:
    """A header as it is matched: lower case, bracketed units and spaces removed.

    Parameters
    ----------
    name
        A column name (``"建筑面积（m²）"``, ``"Floor Area"``).

    Returns
    -------
    str
    """
    return _UNIT_RE.sub("", str(name)).strip().lower().replace(" ", "")


def match_headers(df: pd.DataFrame, aliases: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The column of each field that the table has, by the field's usual names.

    Parameters
    ----------
    df
        The table.
    aliases
        Per field, its names in order of preference (Chinese and English, compared by
        :func:`header_key`).

    Returns
    -------
    dict
        Field → the table's column name, for the fields found.
    """
    keys = _header_keys(df)
    cols = {}
    for field, names in aliases.items():
        for a in names:
            if header_key(a) in keys:
                cols[field] = keys[header_key(a)]
                break
    return cols


def _header_keys(df: pd.DataFrame) -> dict:
    """:func:`header_key` → column (the first column wins when two match)."""
    keys: dict = {}
    for c in df.columns:
        keys.setdefault(header_key(c), c)
    return keys
