"""Reading and cleaning a table: the rows, labels and columns an audit can use."""

import csv
import difflib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from ._issues import extremity
from ._task import get_task, resolve_task

__all__ = ["CleanTable", "clean_table", "make_preprocessor", "read_table"]

logger = logging.getLogger(__name__)

MAX_CATEGORIES = 20  # one-hot columns per categorical column, rarer ones pooled
# A category of one row teaches the network nothing and, one-hot encoded,
# isolates its row: a free-text column made each of its rows an "outlier".
MIN_CATEGORY_ROWS = 2
_CATEGORICAL = ["object", "category", "bool", "string"]
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz")
# Delimited text: the delimiter is sniffed, whatever the extension says.
_DELIMITED = (".csv", ".tsv", ".tab", ".txt", ".data")
_DELIMITERS = ",;\t|"
# UTF-8 (a byte-order mark dropped), else the Windows code page spreadsheet
# programs save in, else Latin-1, which decodes any byte; with their names.
_ENCODINGS = {
    "utf-8-sig": "UTF-8",
    "cp1252": "Windows-1252, Western European",
    "latin-1": "Latin-1",
}
_SNIFF_BYTES = 64 * 1024
_DATE = re.compile(r"\b\d{1,2}\.\d{1,2}\.\d{2,4}\b")  # 01.02.2020
# The exact floats written, so that auditing a CSV file gives the report of the
# frame it was written from; pandas 3 parses them exactly by default.
_EXACT_FLOATS = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)


# ------------------------------------------------------------------ reading


def read_table(path):
    """Read a CSV or Parquet file, chosen by its extension.

    The delimiter of a CSV file (``.csv``, ``.tsv``, ``.tab``, ``.txt`` or
    ``.data``:
    ``,``, ``;``, tab, ``|`` or runs of spaces) is sniffed from its first
    64 KiB, past comment lines (``# ...``) before the header; a
    semicolon-separated file whose numbers use a decimal comma (``1,5``) is
    read with ``decimal=","``, and with ``thousands="."``
    when its dots group digits (``1.065,00``). Text columns of numbers with
    currency or percent signs or other digit grouping are read by
    :func:`clean_table`. A file that is not UTF-8
    is read as Windows-1252, else Latin-1, with a warning (spreadsheet
    programs save CSV files in their code page). Compressed CSV files
    (``.csv.gz``, ``.tsv.bz2``, ``.txt.xz``, ``.csv.zip``, ...) are
    decompressed.

    Parameters
    ----------
    path : str or path-like
        A ``.csv``, ``.tsv``, ``.tab`` or ``.txt`` file (optionally
        compressed), or a ``.parquet`` or ``.pq`` file.

    Returns
    -------
    frame : pandas.DataFrame
        The table; its index counts the data rows from 0 (the header line
        and comment lines before it not counted), the ``row`` of an audit
        report.

    Raises
    ------
    ValueError
        On another extension, a missing or empty file, or a CSV header that
        repeats a column name (pandas would rename the copies ``x.1``).
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    is_csv = bool(suffixes) and suffixes[-1] in _DELIMITED
    if suffixes[-1:] and suffixes[-1] in (".xlsx", ".xls", ".xlsm", ".ods"):
        raise ValueError(
            f"{path}: a spreadsheet workbook is not read; save the sheet as "
            "CSV (UTF-8) and audit that file."
        )
    if not is_csv and path.suffix.lower() not in (".parquet", ".pq"):
        raise ValueError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}; "
            "give a .csv, .tsv or .txt file (optionally compressed) or a "
            ".parquet file."
        )
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    start = time.perf_counter()
    if is_csv:
        marks = _sniff(path)
        logger.debug("%s: %s", path, marks)
        if marks.get("skiprows"):
            logger.info(
                "%s: skipped %d comment line(s) before the header",
                path,
                marks["skiprows"],
            )
        for encoding in _ENCODINGS:
            try:
                frame = pd.read_csv(path, **marks, encoding=encoding, **_EXACT_FLOATS)
                break
            except UnicodeDecodeError:
                continue
            except pd.errors.EmptyDataError:
                raise ValueError(f"{path}: the file is empty.") from None
        # pandas renames a repeated name ('x', 'x.1'): a copy of the target
        # would be a feature that gives every label away.
        header = pd.read_csv(
            path, **marks, encoding=encoding, header=None, nrows=1, dtype=str
        ).iloc[0]
        _check_unique_columns(header.dropna(), path)
        if encoding != "utf-8-sig":
            logger.warning(
                "%s is not UTF-8: read as %s; save it as UTF-8 if its accented "
                "letters look wrong.",
                path,
                _ENCODINGS[encoding],
            )
    else:
        frame = pd.read_parquet(path)
        _release_arrow_memory()
    logger.info(
        "read %s: %d rows, %d columns in %.1f s",
        path,
        *frame.shape,
        time.perf_counter() - start,
    )
    return frame


def _release_arrow_memory():
    """Hand back the memory pyarrow's pool kept after converting a Parquet file.

    The pool keeps the freed Arrow buffers for reuse: on a million-row
    table, 0.4 GB more than the frame itself, held for the whole audit.
    """
    import pyarrow

    from ._memory import return_freed_memory

    pyarrow.default_memory_pool().release_unused()
    return_freed_memory()  # and the conversion's temporaries in glibc's heap


def _sniff(path):
    """The delimiter, decimal mark and digit grouping of a CSV file, from its first bytes.

    Returns the keywords ``sep``, ``decimal`` and ``thousands`` of
    :func:`pandas.read_csv`, and ``skiprows`` when comment lines (``# ...``)
    come before the header, as some exports write them.
    """
    from pandas.io.common import get_handle

    with get_handle(path, "r", compression="infer", errors="replace") as handle:
        sample = handle.handle.read(_SNIFF_BYTES)
    lines = sample.splitlines()
    if len(sample) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    comments = 0
    while comments < len(lines) - 1 and lines[comments].lstrip("\ufeff ").startswith(
        "#"
    ):
        comments += 1
    lines = lines[comments:]
    sample = "\n".join(lines)
    try:
        sep = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:  # one column, or too irregular to tell: pandas' default
        sep = ","
    if _whitespace_separated(lines, sep):
        sep = r"\s+"
    decimal = "."
    # Dates (01.02.2020) say nothing of the decimal mark; a dot before three
    # digits may group thousands (1.065,00), before other counts it is one.
    numbers = re.sub(_DATE, "", sample)
    dots = re.findall(r"\d\.(\d+)", numbers)
    if (
        sep == ";"
        and re.search(r"\d,\d", numbers)
        and all(len(digits) == 3 for digits in dots)
    ):
        decimal = ","
    # pandas would read such a date as a number grouped by thousands; with
    # dates in the file, clean_table reads the grouped numbers instead.
    thousands = "." if decimal == "," and dots and numbers == sample else None
    marks = {"sep": sep, "decimal": decimal, "thousands": thousands}
    return {**marks, "skiprows": comments} if comments else marks


def _whitespace_separated(lines, sep):
    """Whether fields are separated by runs of spaces (as in many ``.txt`` and ``.data`` files).

    Only when the sniffed delimiter is absent from the header and every line
    splits on whitespace into the header's number of fields, more than one.
    """
    lines = [line for line in lines if line.strip()]
    if not lines or sep in lines[0]:
        return False
    n_fields = len(lines[0].split())
    return n_fields > 1 and all(len(line.split()) == n_fields for line in lines)


# ----------------------------------------------------------------- cleaning


@dataclass
class CleanTable:
    """The usable part of a table, as :func:`clean_table` leaves it.

    Attributes
    ----------
    features : pandas.DataFrame
        The feature columns of the labelled rows, indexed like the input;
        string and boolean columns as pandas ``category`` (a code per cell,
        not a Python string: a tenth of the memory on a large table),
        mixed-type ``object`` columns as they are; missing cells still
        missing.
    labels : ndarray
        Their targets. Classification: class labels, integers when the
        target column holds integers, also when pandas read it as floats
        because of missing cells. Regression: float64 values.
    ids : pandas.DataFrame
        Columns reported with each row but never used as features: the
        ``id_column`` given and the identifier-like columns found.
    target : str
    dropped : dict of str to list
        Ignored columns, by reason.
    n_unlabelled : int
        Rows dropped for a missing label.
    task : {"classification", "regression"}
        The audit the target calls for (see
        :func:`~skinfluence.auditing.infer_task`).
    task_reason : str
        The summary's sentence on how the task was chosen.
    coerced : dict of str to dict
        Text columns read as numbers (:data:`NUMERIC_SHARE`), the target's
        included (its placeholders are missing labels): per column,
        ``cells`` (the cells that are not numbers, now missing) and
        ``tokens`` (up to three of their distinct values).
    infinite : dict of str to int
        Infinite cells of numeric feature columns, now missing, per column
        that held some.
    """

    features: pd.DataFrame
    labels: np.ndarray
    ids: pd.DataFrame
    target: str
    dropped: dict = field(default_factory=dict)
    n_unlabelled: int = 0
    task: str = "classification"
    task_reason: str = ""
    coerced: dict = field(default_factory=dict)
    infinite: dict = field(default_factory=dict)


def clean_table(frame, target, *, task="auto", id_column=None, name="the table"):
    """Separate the target column and keep the rows and columns a model can use.

    Rows with a missing target are dropped (a continuous target's
    placeholders too, as below). A text column of numbers written with
    currency or percent signs, digit grouping, parentheses for a negative
    amount or one unit (``$1,200``, ``45%``, ``1.234,5``, ``(350.00)``,
    ``72.5 kg``), or of numbers but for a few placeholders (``"unknown"``,
    ``"?"``, ``"n/a"``: at least :data:`NUMERIC_SHARE` of its present cells
    are numbers), is read as numbers, the placeholders as missing cells
    (:func:`_placeholder_numbers`); plain numbers kept as text stay text
    (codes), but a target of them is read as numbers when they call for a
    regression. The task decides how the target
    is read: class labels (classification) or numbers (regression);
    ``"auto"`` chooses it from the target column with
    :func:`~skinfluence.auditing.infer_task`. Infinite cells of numeric
    columns are read as missing cells (:attr:`CleanTable.infinite`). Columns
    entirely missing, constant columns (one value, missing cells aside), and
    columns neither numeric nor categorical (dates), are ignored.
    Identifier-like columns -- non-numeric with every value distinct, or
    distinct consecutive integers under a row-number name (``Unnamed: 0``,
    ``index``, ``id``, ``customer_id``), in a table of more than
    ``MAX_CATEGORIES`` rows -- are no features either, but
    are kept in :attr:`CleanTable.ids` to be reported with each row, like
    ``id_column``.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table, with the label column ``target``.
    target : str
        The target column: class labels or a continuous target. Given as
        text, it also finds a column named by that number (``"13"``: 13),
        and the other way round.
    task : {"auto", "classification", "regression"}, default="auto"
        The task; ``"auto"`` chooses it from the target column.
    id_column : str, default=None
        A column reported with each row and never used as a feature; found
        like ``target``.
    name : str, default="the table"
        How notes and errors name the table.

    Returns
    -------
    table : CleanTable

    Raises
    ------
    ValueError
        If a column name is repeated, ``target`` or ``id_column`` is not a
        column (the error suggests the nearest names), the target does not
        fit the task (fractional numbers as class labels, text as a
        continuous target), has one class or value, or no feature column is
        left.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"Expected a pandas DataFrame, got {type(frame).__name__}; for arrays "
            "use skinfluence.find_glitches or InfluenceGlitchDetector."
        )
    if not len(frame):
        raise ValueError(f"{name} has no rows, only its header.")
    _check_unique_columns(frame.columns, name)
    target = _find_column(frame.columns, target, "target", name)
    if id_column is not None:
        id_column = _find_column(frame.columns, id_column, "id", name)
    if id_column == target:
        raise ValueError("The id column cannot be the target column.")
    # A continuous target with a few placeholders ("n/a") would otherwise be
    # read as hundreds of classes: they are missing labels instead. Class
    # codes keep such a token as a class ("other" beside "1" and "2").
    column, found = _placeholder_numbers(frame[target], plain=task != "classification")
    continuous = found and (
        task == "regression"
        or task == "auto"
        and resolve_task("auto", column.dropna(), target, name)[0] == "regression"
    )
    if not continuous:
        column, found = frame[target], None
    labelled = column.notna().to_numpy()
    values = column[labelled]
    if not len(values):
        raise ValueError(f"{name}: every row has a missing {target!r}.")
    task, reason = resolve_task(task, values, target, name)
    y = get_task(task).targets(values, target, name)
    # Every row labelled (the usual case): no copy of a large table.
    rows = frame if labelled.all() else frame.loc[labelled]
    X = rows.drop(columns=[c for c in (target, id_column) if c is not None])
    X, coerced = _numbers_with_placeholders(X)
    if found:
        coerced = {target: found, **coerced}
    X, infinite = _infinite_as_missing(X)
    X, dropped = _usable_columns(X)
    if X.shape[1] == 0:
        ignored = "; ".join(f"{why}: {_names(c)}" for why, c in dropped.items())
        raise ValueError(
            f"{name} has no usable feature column besides {target!r}"
            + (f"; ignored {ignored}" if ignored else "")
            + "."
        )
    id_columns = [id_column] if id_column is not None else []
    id_columns += dropped.get(IDENTIFIERS, [])
    return CleanTable(
        X,
        y,
        rows[id_columns],
        target,
        dropped,
        int((~labelled).sum()),
        task,
        reason,
        coerced,
        infinite,
    )


def _check_unique_columns(columns, name):
    """Refuse duplicated column names: ``frame[column]`` would be a frame."""
    counts = pd.Series(columns).value_counts(sort=False)
    repeated = counts[counts > 1]
    if len(repeated):
        listed = ", ".join(f"{str(c)!r} ({n} times)" for c, n in repeated.items())
        raise ValueError(
            f"{name} has duplicated column names: {listed}; rename or drop the copies."
        )


def _find_column(columns, column, role, name):
    """The column of ``columns`` called ``column``, else a ValueError that suggests one.

    A name given as text finds the column of that number, and the other way
    round (``"13"`` and ``13``): the command line passes text, and printed
    they look alike.
    """
    if column in columns:
        return column
    same = [c for c in columns if str(c) == str(column)]
    if len(same) == 1:
        return same[0]
    text = str(column).strip().casefold()
    near = [c for c in columns if str(c).strip().casefold() == text]
    close = difflib.get_close_matches(str(column), [str(c) for c in columns], n=3)
    near += [c for c in columns if str(c) in close and c not in near]
    hint = ""
    if near:
        hint = f" Did you mean {' or '.join(repr(c) for c in near[:3])}?"
        if str(near[0]).strip() == str(column).strip() != str(near[0]):
            hint = hint[:-1] + " (spaces around the name)?"
    raise ValueError(
        f"{name} has no {role} column {column!r}.{hint} Its columns are "
        f"{_names(columns, limit=30)}."
    )


def _infinite_as_missing(X):
    """``X`` with the infinite cells of its numeric columns missing, and their counts.

    An infinite value is no measurement (a division by zero upstream): read
    as missing, it is imputed like the other missing cells. Only the columns
    that hold one are copied.
    """
    infinite = {}
    for column in X.select_dtypes("number").columns:
        values = X[column]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue  # integers cannot be infinite
        cells = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if cells.any():
            if not infinite:
                X = X.copy(deep=False)  # the caller's frame stays as it was
            X[column] = values.mask(cells)
            infinite[column] = int(cells.sum())
    return X, infinite


#: A text column is read as numbers when at least this share of its present
#: cells parse as numbers: the rest are placeholders for missing values
#: (``"unknown"``, ``"?"``). Read as text, such a column was one-hot encoded
#: with its rarest values pooled, its order lost.
NUMERIC_SHARE = 0.95
# Signs written around a number: currency before or after it, percent after.
_CURRENCY = "$€£¥₹"
_SIGNS = re.compile(rf"^([+-]?)\s*[{_CURRENCY}]\s*|\s*(%|[{_CURRENCY}])$")
# A number followed by a unit: 12 kg, 3.5GHz, 120 km/h.
_UNIT = re.compile(r"^(.*\d)\s*([^\W\d_][^\d\s]*)$")
# Suffixes that multiply rather than name a unit (1.5k, 2M, 3bn): read as a
# unit, 1.5k would come out below 500 beside the column's plain numbers.
_MULTIPLIERS = {"k", "K", "M", "MM", "mn", "Mn", "B", "bn", "Bn", "T"}
# A negative amount as accountants write it: (1,234.50), ($12).
_PARENTHESES = re.compile(r"^\(\s*([^()]*?)\s*\)$")
# Digits grouped by thousands, with a decimal dot (1,234.5) or comma (1.234,5).
_GROUPED = {
    ",": re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?"),
    ".": re.compile(r"[+-]?\d{1,3}(\.\d{3})+(,\d*)?|[+-]?\d+,\d+"),
}
_GROUPINGS = {",": "thousands separators ','", ".": "decimal commas"}
# Digits grouped by spaces, as French and SI write them (1 234,5; 1 234.5),
# with a plain, no-break or narrow no-break space.
_SPACED = re.compile(r"[+-]?\d{1,3}([ \u00a0\u202f]\d{3})+([.,]\d+)?")


def _numbers_with_placeholders(X):
    """``X`` with its text columns of numbers as numbers, and what changed."""
    coerced = {}
    for column in X.select_dtypes(include=["object", "string"]).columns:
        numbers, found = _placeholder_numbers(X[column])
        if found:
            if not coerced:
                X = X.copy(deep=False)  # the caller's frame stays as it was
            X[column] = numbers
            coerced[column] = found
    return X, coerced


def _placeholder_numbers(values, plain=False):
    """A text column as float64 numbers, its placeholders missing; or ``(None, None)``.

    Cells are numbers as written in tables: ``-1.5e3``, with a currency sign
    (``$12``, ``12 €``), a percent sign (``45%``, read as 45), digits
    grouped by thousands (``1,234.5``; ``1.234,5`` when more cells of the
    column read only that way; ``1 234,5`` with spaces), in parentheses for
    a negative amount, as accounts write them (``(1,234.50)``, ``($12)``),
    or followed by the column's one unit (``12 kg``, ``3.5GHz``; not a
    column of several units, since ``kg`` beside ``g`` would need
    converting, nor of multipliers such as ``1.5k`` or ``2M``, which would
    need multiplying). Only when at least :data:`NUMERIC_SHARE` of the
    present cells are numbers and some are not plain ones -- a placeholder,
    a sign, a grouping: a column of plain numbers kept as text is the
    caller's choice (codes), unless ``plain``. Returns the numbers and
    ``{"cells", "tokens", "signs"}``: the cells that were not numbers, up to
    three of them, and what was read past (``"currency signs"``,
    ``"percent signs"``, ``"thousands separators ','"`` or ``' '``,
    ``"decimal commas"``, ``"parentheses as minus signs"``, ``"unit
    'kg'"``).

    Examples
    --------
    >>> cells = pd.Series(["$1,200", "$950"] * 20 + ["?"])
    >>> numbers, found = _placeholder_numbers(cells)
    >>> numbers.iloc[-3:].tolist(), found["signs"]
    ([1200.0, 950.0, nan], ['currency signs', "thousands separators ','"])
    >>> _placeholder_numbers(pd.Series(["1,200.50", "(350.00)", "($12)"]))[0].tolist()
    [1200.5, -350.0, -12.0]
    >>> cells = pd.Series(["12 kg", "7.5 kg"] * 30 + ["n/a", "3kg"])
    >>> numbers, found = _placeholder_numbers(cells)
    >>> numbers.iloc[-3:].tolist(), found["signs"]
    ([7.5, nan, 3.0], ["unit 'kg'"])
    >>> _placeholder_numbers(pd.Series(["12 kg", "500 g"] * 20))  # two units
    (None, None)
    """
    if not (
        pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
    ):
        return None, None
    head = values.dropna().iloc[:1000]  # a text column fails here, cheaply
    if _parse_numbers(head)[0].notna().mean() < NUMERIC_SHARE / 2:
        return None, None
    present = values.notna()
    numbers, signs = _parse_numbers(values)
    parsed = numbers.notna()
    placeholders = present & ~parsed
    if parsed.sum() < NUMERIC_SHARE * present.sum():
        return None, None
    if not (placeholders.any() or signs or plain):
        return None, None
    tokens = pd.unique(values[placeholders].astype(str))
    found = {"cells": int(placeholders.sum()), "tokens": list(tokens[:3])}
    if signs:
        found["signs"] = signs
    return numbers, found


def _parse_numbers(values):
    """Float64 numbers of text cells, missing where none is read; the signs read past."""
    index = values.index
    # By position: a frame's index may repeat labels (frames concatenated).
    present = values.notna().to_numpy()
    text = pd.Series(values.to_numpy(dtype=object)).astype(str).str.strip()
    numbers = pd.to_numeric(text, errors="coerce").astype(np.float64)
    rest = numbers.isna() & present
    if not rest.any():
        return numbers.set_axis(index), []
    negative = text[rest].str.fullmatch(_PARENTHESES)
    unwrapped = text[rest].str.replace(_PARENTHESES, r"-\1", regex=True)
    bare = unwrapped.str.replace(_SIGNS, r"\1", regex=True)
    signs = [
        name
        for name, sign in (("currency signs", f"[{_CURRENCY}]"), ("percent signs", "%"))
        if (bare != unwrapped).any() and text[rest].str.contains(sign).any()
    ]
    # One unit written after the numbers (12 kg): read past it, only when it
    # is the column's single unit (kg beside g would need converting).
    parts = bare.str.extract(_UNIT)
    units = parts[1].dropna().unique()
    unit = units[0] if len(units) == 1 and parts[1].notna().mean() >= 0.5 else None
    unit = None if unit in _MULTIPLIERS else unit
    if unit is not None:
        bare = bare.where(parts[1] != unit, parts[0])
    spaced = bare.str.fullmatch(_SPACED)
    if spaced.any():
        signs.append("thousands separators ' '")
        bare = bare.where(~spaced, bare.str.replace(r"[ \u00a0\u202f]", "", regex=True))

    grouped = {mark: bare.str.fullmatch(p) for mark, p in _GROUPED.items()}
    # The convention more cells read only one way in (1,234 reads both ways).
    only = {
        mark: int((grouped[mark] & ~grouped[other]).sum())
        for mark, other in ((",", "."), (".", ","))
    }
    mark = "." if only["."] > only[","] else ","
    if mark == ".":  # 3.000 is three thousand there, not three
        plain = text[~rest & text.str.fullmatch(_GROUPED["."])]
        bare = pd.concat([bare, plain])
        grouped["."] = bare.str.fullmatch(_GROUPED["."])
    if grouped[mark].any():
        signs.append(_GROUPINGS[mark])
        bare = bare.where(~grouped[mark], bare.str.replace(mark, "", regex=False))
        if mark == ".":
            bare = bare.str.replace(",", ".", regex=False)
    numbers[bare.index] = pd.to_numeric(bare, errors="coerce")
    if numbers[negative.index][negative].notna().any():
        signs.append("parentheses as minus signs")
    if unit is not None and numbers[parts.index][parts[1] == unit].notna().any():
        signs.append(f"unit {unit!r}")
    return numbers.set_axis(index), signs


IDENTIFIERS = (
    "identifier-like columns (every value distinct, or an id or index of "
    "consecutive integers)"
)


#: Why a constant column is ignored: imputed, it is one value in every row.
CONSTANT = "constant columns (one value in every row, missing cells aside)"


def _usable_columns(X):
    numeric = X.select_dtypes("number").columns
    categorical = X.select_dtypes(include=_CATEGORICAL).columns
    missing = X.isna()
    empty = X.columns[missing.all().to_numpy()]
    gaps = missing.any()
    del missing
    # One count of distinct values per categorical column serves both tests;
    # numeric columns compare their minimum and maximum (a tenth of the time
    # of counting on a million rows).
    distinct = {
        c: X[c].nunique(dropna=False) for c in categorical.difference(empty, sort=False)
    }
    constant = {c for c, k in distinct.items() if k - gaps[c] == 1} | {
        c for c in numeric.difference(empty, sort=False) if X[c].min() == X[c].max()
    }
    constant = [c for c in X.columns if c in constant]
    unique = [
        c for c, k in distinct.items() if len(X) > MAX_CATEGORIES and k == len(X)
    ] + [
        c
        for c in numeric
        if len(X) > MAX_CATEGORIES
        and _ROW_NUMBER_NAME.fullmatch(str(c).strip())
        and _is_row_number(X[c])
    ]
    other = X.columns.difference(numeric.union(categorical), sort=False)
    dropped = {
        "entirely missing columns": list(empty),
        IDENTIFIERS: unique,
        CONSTANT: constant,
        "columns neither numeric nor categorical": list(other.difference(empty)),
    }
    dropped = {reason: columns for reason, columns in dropped.items() if columns}
    ignored = {c for columns in dropped.values() for c in columns}
    # A shallow copy: the kept columns share the caller's memory (the
    # categorical ones are replaced below, not written into).
    X = X[[c for c in X.columns if c not in ignored]].copy(deep=False)
    for column in X.columns.intersection(categorical):
        # Mixed-type object columns stay as they are: a category would merge
        # values that compare equal (1, 1.0 and True) but print differently.
        if X[column].dtype != object:
            X[column] = X[column].astype("category")
    return X, dropped


#: Names of columns that number rows: a saved index (``Unnamed: 0``),
#: ``index``, ``id``, ``customer_id``, ``row number``. Only with these names
#: is a column of consecutive integers an identifier: a time step named
#: ``t`` is a feature.
_ROW_NUMBER_NAME = re.compile(
    r"(unnamed: ?\d+|index|idx|id|row|.*[_ ]id|row[_ ]?(id|num|number|no))",
    re.IGNORECASE,
)


def _is_row_number(column):
    """Whether a numeric column numbers the rows: distinct consecutive integers.

    With a row-number name (:data:`_ROW_NUMBER_NAME`), a saved index or an
    ``id`` column: as a feature it carries the file's order (often sorted by
    class) and isolates nothing real.

    Examples
    --------
    >>> _is_row_number(pd.Series([3, 1, 2, 4])), _is_row_number(pd.Series([1, 2, 4]))
    (True, False)
    """
    if column.isna().any() or pd.api.types.is_bool_dtype(column):
        return False
    values = column.to_numpy(dtype=np.float64)
    if not np.array_equal(values, np.round(values)):
        return False
    low, high = values.min(), values.max()
    return bool(high - low == len(values) - 1 and len(np.unique(values)) == len(values))


def reference_rows(reference, table, name="the table"):
    """The reference's labelled rows, restricted to the audited feature columns.

    Returns
    -------
    X_ref : pandas.DataFrame
    y_ref : ndarray
    n_unlabelled : int
    """
    if not isinstance(reference, pd.DataFrame):
        raise TypeError(
            f"The reference must be a pandas DataFrame, got {type(reference).__name__}."
        )
    columns, target = table.features.columns, table.target
    missing = pd.Index(columns).difference(reference.columns)
    if target not in reference.columns:
        missing = missing.insert(0, target)
    if len(missing):
        raise ValueError(f"The reference lacks column(s) {_names(missing)} of {name}.")
    _check_unique_columns(reference.columns, "The reference")
    labels = reference[target]
    if target in table.coerced:  # placeholders: missing labels there too
        labels = _parse_numbers(labels)[0]
    labelled = labels.notna().to_numpy()
    if not labelled.any():
        raise ValueError(f"The reference has no row with a {target!r}.")
    rows = reference.loc[labelled]
    X_ref = rows[list(columns)].copy()
    for column in X_ref.columns:
        if column in table.coerced:  # its placeholders are missing cells there too
            X_ref[column] = _parse_numbers(X_ref[column])[0]
        elif not pd.api.types.is_numeric_dtype(table.features[column]):
            X_ref[column] = X_ref[column].astype(object)
    X_ref = _infinite_as_missing(X_ref)[0]  # missing cells there too
    y_ref = get_task(table.task).convert(labels[labelled])
    if y_ref.dtype.kind == "f" and np.isinf(y_ref).any():  # refused in the table too
        raise ValueError(
            f"The reference's {target!r} holds {int(np.isinf(y_ref).sum())} "
            "infinite value(s)."
        )
    return X_ref, y_ref, int((~labelled).sum())


def _names(columns, limit=10):
    columns = [str(c) for c in columns]
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    return ", ".join(repr(c) for c in columns[:limit]) + more


# ------------------------------------------------------------ preprocessing


def make_preprocessor(X):
    """The unfitted scikit-learn preprocessing of the feature columns of ``X``.

    Numeric columns: median imputation, then standardisation on the bulk of
    each column (:class:`BulkScaler`: extreme cells, such as sentinels, set
    neither the mean nor the scale). Categorical
    (object, category, string, bool) columns: most-frequent imputation, then
    one-hot encoding (categories unseen in fit are ignored; at most
    ``MAX_CATEGORIES`` columns each, the rarest categories and those of
    fewer than ``MIN_CATEGORY_ROWS`` rows pooled).

    Parameters
    ----------
    X : pandas.DataFrame
        Feature columns, e.g. :attr:`CleanTable.features`.

    Returns
    -------
    preprocessor : sklearn.compose.ColumnTransformer
        Unfitted; its output is dense float32 (the network's precision).

    Examples
    --------
    >>> import pandas as pd
    >>> from skinfluence.auditing import make_preprocessor
    >>> X = pd.DataFrame({"age": [31.0, None, 47.0], "city": ["Oslo", "Rome", None]})
    >>> make_preprocessor(X).fit_transform(X).shape
    (3, 3)
    """
    numeric = list(X.select_dtypes("number").columns)
    categorical = [c for c in X.columns if c not in numeric]
    return ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    # One memory layout whatever pandas' blocks: the column
                    # statistics, hence the report, do not depend on how the
                    # frame was built (read from a file or edited in memory).
                    FunctionTransformer(_as_c_floats, feature_names_out="one-to-one"),
                    SimpleImputer(strategy="median"),
                    BulkScaler(),
                ),
                numeric,
            ),
            (
                "categorical",
                make_pipeline(
                    # One type per column: OneHotEncoder rejects ints mixed with strings.
                    FunctionTransformer(_as_strings, feature_names_out="one-to-one"),
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(
                        handle_unknown="ignore",
                        sparse_output=False,
                        dtype=np.float32,
                        max_categories=MAX_CATEGORIES,
                        min_frequency=MIN_CATEGORY_ROWS,
                    ),
                ),
                categorical,
            ),
        ],
        sparse_threshold=0.0,
    )


class BulkScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise each column on its bulk: extreme cells neither set the scale nor spread out.

    ``StandardScaler`` takes a column's mean and standard deviation over all
    its cells, so a few sentinels (``99999`` for a missing reading) or unit
    errors inflate the scale and squeeze every other row together: six rows
    at 40 in two of five features in ``[0, 1]`` took a regression audit's
    training fit from R^2 0.69 to 0.50, and the corrupted targets it found
    from 0.80 to 0.43. Here the cells that are the data issue
    ``"extreme_value"`` (:func:`~skinfluence.auditing._issues.extremity`
    above 1: beyond 20 robust standard deviations, and beyond 6 on the
    logarithm of a column of no negative value) are left out of the mean and
    standard deviation, and every transformed cell is clipped to twice the
    largest ``|z|`` of the column's other cells (at least 10): the extreme
    rows stay far out, where the isolation signals see them, without
    dwarfing the rest. A column without extreme cells is standardised
    exactly as ``StandardScaler`` does, and most are.

    Attributes
    ----------
    scaler_ : sklearn.preprocessing.StandardScaler
        Fitted with each column's extreme cells treated as missing.
    bound_ : ndarray of shape (n_features,)
        The clip of each column, in standard units (inf without extreme cells).
    n_extreme_ : ndarray of shape (n_features,)
        Extreme cells left out of each column's statistics.
    """

    def fit(self, X, y=None):
        if hasattr(X, "columns"):  # names for get_feature_names_out
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        X = np.asarray(X)
        extreme = np.column_stack(
            [extremity(X[:, j]) > 1 for j in range(X.shape[1])]
        ).reshape(X.shape)
        self.n_extreme_ = extreme.sum(0)
        # Without extreme cells, StandardScaler on X itself: bit for bit.
        bulk = np.where(extreme, np.nan, X) if extreme.any() else X
        self.scaler_ = StandardScaler().fit(bulk)
        self.bound_ = np.full(X.shape[1], np.inf)
        for j in np.flatnonzero(self.n_extreme_):
            centred = (
                np.abs(bulk[:, j] - self.scaler_.mean_[j]) / self.scaler_.scale_[j]
            )
            self.bound_[j] = max(10.0, 2.0 * float(np.nanmax(centred)))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        Z = self.scaler_.transform(np.asarray(X))
        if np.isfinite(self.bound_).any():
            bound = self.bound_.astype(Z.dtype)
            Z = np.clip(Z, -bound, bound)
        return Z


def _as_c_floats(X):
    # float32: the network's precision, and half the memory of float64 on
    # a million-row table (the encoded matrix is the audit's largest array).
    if isinstance(X, pd.DataFrame):  # nullable dtypes: pd.NA -> nan
        X = X.to_numpy(dtype=np.float32, na_value=np.nan)
    return np.array(X, dtype=np.float32, order="C")


def _as_strings(X):
    X = pd.DataFrame(X)
    return pd.DataFrame(
        {name: _column_strings(column) for name, column in X.items()}, index=X.index
    )


def _column_strings(column):
    """A column's values as ``str`` (missing cells NaN), in an object array.

    One ``str`` per distinct value, shared by the cells that hold it: a
    pointer per cell rather than a string per cell (on a million-row table
    with 10 categorical columns, 0.08 GB instead of about 0.6 GB). Mixed-type
    object columns are converted cell by cell, so that values which compare
    equal but print differently (1, 1.0, True) stay apart.
    """
    if column.dtype == object:
        return column.astype(str).where(column.notna(), np.nan).astype(object)
    codes, uniques = pd.factorize(column)  # missing cells: code -1
    names = np.array([*map(str, uniques), np.nan], dtype=object)
    return names[codes]


def describe_preprocessing(table, preprocessor, n_features):
    """What the fitted preprocessor did to ``table``, as plain data.

    Parameters
    ----------
    table : CleanTable
        The table the preprocessor was fitted on.
    preprocessor : sklearn.compose.ColumnTransformer
        Fitted :func:`make_preprocessor`.
    n_features : int
        Columns of its output.

    Returns
    -------
    info : dict
        ``numeric`` and ``categorical`` (column lists), ``bulk_scaled``
        (extreme cells left out of each numeric column's scaling,
        :class:`BulkScaler`), ``imputed`` (missing
        cells per imputed column), ``encoded`` (one-hot columns per
        categorical column), ``pooled`` (categories pooled into one column,
        per column that pools some), ``number_codes`` (pooled columns whose
        categories are all numbers), ``dropped`` (by reason), ``coerced`` (text
        columns read as numbers, :attr:`CleanTable.coerced`), ``infinite``
        (infinite cells read as missing, :attr:`CleanTable.infinite`),
        ``id_columns``, ``n_unlabelled``, ``n_features`` (after encoding),
        ``target``.
    """
    numeric = list(preprocessor.transformers_[0][2])
    categorical = list(preprocessor.transformers_[1][2])
    missing = table.features.isna().sum()
    encoded, pooled, number_codes = {}, {}, []
    bulk_scaled = {}
    if numeric:
        scaler = preprocessor.named_transformers_["numeric"][-1]
        bulk_scaled = {
            c: int(n) for c, n in zip(numeric, getattr(scaler, "n_extreme_", [])) if n
        }
    if categorical:
        encoder = preprocessor.named_transformers_["categorical"][-1]
        infrequent = getattr(encoder, "infrequent_categories_", None) or [None] * len(
            categorical
        )
        for column, categories, rare in zip(
            categorical, encoder.categories_, infrequent
        ):
            # A lone infrequent category keeps a column to itself: not pooled.
            pooled[column] = 0 if rare is None or len(rare) < 2 else len(rare)
            encoded[column] = len(categories) - pooled[column] + (pooled[column] > 0)
            if (
                pooled[column]
                and _parse_numbers(pd.Series(categories))[0].notna().all()
            ):
                number_codes.append(column)
    return {
        "numeric": numeric,
        "categorical": categorical,
        "imputed": {c: int(n) for c, n in missing.items() if n},
        "encoded": encoded,
        "pooled": {c: n for c, n in pooled.items() if n},
        "number_codes": number_codes,
        "bulk_scaled": bulk_scaled,
        "dropped": dict(table.dropped),
        "coerced": dict(table.coerced),
        "infinite": dict(table.infinite),
        "id_columns": list(table.ids.columns),
        "n_unlabelled": table.n_unlabelled,
        "n_features": int(n_features),
        "target": table.target,
    }


def spelling_variants(values):
    """Groups of distinct values that differ only in case or surrounding spaces.

    Parameters
    ----------
    values : array-like or pandas.Series
        Labels or the cells of a categorical column; missing cells ignored.

    Returns
    -------
    groups : list of list of (str, int)
        Each group's values with their counts, most frequent first; groups
        in order of their largest count.

    Examples
    --------
    >>> spelling_variants(["yes", "no", "Yes", "yes ", "no", "yes"])
    [[('yes', 2), ('Yes', 1), ('yes ', 1)]]
    """
    # Distinct values first: no string per cell on a large table.
    counts = pd.Series(values).value_counts(sort=False, dropna=True)
    counts.index = counts.index.astype(object).map(str)
    counts = counts.groupby(level=0).sum()  # 1 and "1" print alike
    keys = counts.index.str.strip().str.casefold()
    groups = [
        sorted(group.items(), key=lambda item: -item[1])
        for _, group in counts.groupby(keys)
        if len(group) > 1
    ]
    return sorted(groups, key=lambda group: -group[0][1])


#: A label is a likely misspelling of another when it has at most this share
#: of the rows (or two rows), the other ten times as many, and their
#: spellings agree at this ratio or more (:class:`difflib.SequenceMatcher`;
#: "bengin" ~ "benign": 0.83).
_TYPO_SHARE, _TYPO_RATIO = 0.01, 0.8


def misspelt_labels(values, max_labels=200):
    """Rare text labels that look like misspellings of a frequent one.

    A label of at most ``max(2, 1 %)`` of the rows whose spelling (case and
    surrounding spaces aside) agrees with that of a label ten times as
    frequent at a :class:`difflib.SequenceMatcher` ratio of 0.8 or more,
    both of four characters or more ("A" and "B" are not typos of each
    other), and not told apart by a number or a single letter only
    ("class_2" beside "class_1", "type B" beside "type A": a rare class, not
    a typo). Skipped beyond ``max_labels`` distinct labels.

    Returns
    -------
    pairs : list of ((str, int), (str, int))
        ``((rare, rows), (frequent, rows))``, rarest first.

    Examples
    --------
    >>> misspelt_labels(["benign"] * 300 + ["malignant"] * 200 + ["bengin"] * 2)
    [(('bengin', 2), ('benign', 300))]
    >>> misspelt_labels(["class_1"] * 1000 + ["class_2"] * 5)
    []
    """
    from difflib import SequenceMatcher

    counts = pd.Series(values).value_counts(dropna=True)
    if len(counts) > max_labels or not all(isinstance(v, str) for v in counts.index):
        return []
    keys = {label: label.strip().casefold() for label in counts.index}
    limit = max(2, _TYPO_SHARE * counts.sum())
    pairs = []
    for rare, rows in counts[counts <= limit].sort_values().items():
        key = keys[rare]
        matches = [
            (frequent, int(n))
            for frequent, n in counts[counts >= 10 * rows].items()
            if min(len(key), len(keys[frequent])) >= 4
            and SequenceMatcher(None, key, keys[frequent]).ratio() >= _TYPO_RATIO
            and not _numbered_apart(key, keys[frequent])
        ]
        if matches:
            pairs.append(((rare, int(rows)), max(matches, key=lambda m: m[1])))
    return pairs


def _numbered_apart(a, b):
    """Whether two names differ only in numbers or single letters (class_1, class_2)."""
    tokens = [re.findall(r"[^\W\d_]+|\d+", name) for name in (a, b)]
    differ = set(tokens[0]) ^ set(tokens[1])
    return bool(differ) and all(t.isdigit() or len(t) == 1 for t in differ)


def _variants_text(groups, unit=""):
    return "; ".join(
        " and ".join(f"{value!r} ({count}{unit})" for value, count in group)
        for group in groups
    )


def spelling_lines(table):
    """The summary's warnings on labels and categories spelled several ways.

    Such values are different classes, or different one-hot columns, to
    the network; merging them is the user's call, so they are reported,
    not merged.
    """
    lines = []
    if table.task == "classification":
        groups = spelling_variants(table.labels)
        if groups:
            lines.append(
                "Labels that differ only in case or surrounding spaces are "
                f"audited as different classes: {_variants_text(groups, ' rows')}. "
                "Merge them first if they are one class."
            )
        typos = misspelt_labels(table.labels)
        if typos:
            listed = "; ".join(
                f"{rare!r} ({rows} rows) ~ {frequent!r} ({many} rows)"
                for (rare, rows), (frequent, many) in typos
            )
            lines.append(
                "Rare labels that look like misspellings of a frequent one: "
                f"{listed}. Each is a class of its own to the network (its rows "
                "are typed rare, not mislabeled); correct them first if they "
                "are typos."
            )
    columns = [
        f"{column!r}: {_variants_text(groups)}"
        for column in table.features.select_dtypes(include=_CATEGORICAL).columns
        if (groups := spelling_variants(table.features[column]))
    ]
    if columns:
        lines.append(
            "Categories that differ only in case or surrounding spaces are "
            f"encoded apart: {'; '.join(columns)}."
        )
    return lines


#: A column with more distinct values than this is not checked as a copy of
#: class labels (an identifier or a measurement, and a costly group-by).
_MAX_COPY_VALUES = 1000


def target_copies(table):
    """Feature columns that determine the target exactly: copies or codes of it.

    Classification: a column of at least two values, at most half as many
    as rows (:data:`_MAX_COPY_VALUES` at most), each of which goes with a
    single label (``grade`` A/B/C beside ``label`` 0/1/2). Regression: a
    numeric column correlated with the target at ``|r| >= 0.9999`` (the
    target in other units). Such a column leaks every label into the
    features, the wrong ones included: the network fits them all and no
    label reads as a conflict.

    Examples
    --------
    >>> frame = pd.DataFrame({"x": [0.1, 0.5, 0.2, 0.9, 0.3] * 4,
    ...                       "grade": list("ABAB") * 5, "y": [0, 1, 0, 1] * 5})
    >>> target_copies(clean_table(frame, "y"))
    ['grade']
    """
    labels = pd.Series(table.labels, index=table.features.index)
    copies = []
    for column, values in table.features.items():
        present = values.notna()
        if table.task == "regression":
            if pd.api.types.is_numeric_dtype(values) and present.sum() > 2:
                x = values[present].to_numpy(dtype=np.float64)
                y = labels[present].to_numpy(dtype=np.float64)
                if (
                    x.std() > 0
                    and y.std() > 0
                    and abs(np.corrcoef(x, y)[0, 1]) >= 0.9999
                ):
                    copies.append(column)
            continue
        n_values = values.nunique()
        if not 2 <= n_values <= min(_MAX_COPY_VALUES, present.sum() / 2):
            continue
        pairs = pd.DataFrame({"value": values[present], "label": labels[present]})
        if pairs.groupby("value", observed=True)["label"].nunique().max() == 1:
            copies.append(column)
    return copies


def target_copy_lines(table):
    """The summary's warning on :func:`target_copies`."""
    copies = target_copies(table)
    if not copies:
        return []
    listed = ", ".join(repr(column) for column in copies)
    how = (
        "it is the target in other units"
        if table.task == "regression"
        else "each of its values goes with a single label"
    )
    return [
        f"Column(s) that determine the target {table.target!r} exactly: {listed} "
        f"({how}). A copy or a code of the target leaks every label into "
        "the features, the wrong ones included: the network fits them all and "
        "no label reads as a conflict. Drop such a column, or name it as the "
        "id column (--id) to keep it in the report."
    ]


def preprocessing_lines(info, name="the table"):
    """The summary's sentences on what :func:`describe_preprocessing` found."""
    lines = []
    if info["n_unlabelled"]:
        lines.append(
            f"{name}: dropped {info['n_unlabelled']} row(s) with a missing "
            f"{info['target']!r}."
        )
    for reason, columns in info["dropped"].items():
        kept = ", kept in the report" if reason == IDENTIFIERS else ""
        lines.append(f"{name}: ignored {reason}{kept}: {_names(columns)}.")
    for column, found in info.get("coerced", {}).items():
        missing = (
            "missing labels, their rows dropped"
            if column == info["target"]
            else "missing values"
        )
        signs = found.get("signs")
        past = f" past its {' and '.join(signs)}" if signs else ""
        rest = (
            f"; its {found['cells']} cell(s) that are not numbers "
            f"({_names(found['tokens'])}) are {missing}"
            if found["cells"]
            else ""
        )
        lines.append(f"{name}: read {column!r} as numbers{past}{rest}.")
    infinite = info.get("infinite", {})
    if len(infinite) == 1:
        [(column, cells)] = infinite.items()
        lines.append(
            f"{name}: read {cells} infinite cell(s) in {column!r} as missing values."
        )
    elif infinite:
        counts = list(infinite.items())
        listed = ", ".join(f"{n} in {str(c)!r}" for c, n in counts[:10])
        if len(counts) > 10:
            listed += f" and {len(counts) - 10} more columns"
        lines.append(
            f"{name}: read {sum(infinite.values())} infinite cell(s) as missing "
            f"values: {listed}."
        )
    imputed = info["imputed"]
    if imputed:
        # Each kind names its own columns: one list after both misread as
        # all of them categorical.
        kinds = {
            "numeric with the column median": [
                c for c in imputed if c in info["numeric"]
            ],
            "categorical with the most frequent value": [
                c for c in imputed if c not in info["numeric"]
            ],
        }
        how = [
            f"{sum(imputed[c] for c in columns)} {kind} ({_names(columns)})"
            for kind, columns in kinds.items()
            if columns
        ]
        lines.append(
            f"Imputed {sum(imputed.values())} missing cell(s) in "
            f"{len(imputed)} column(s): {', '.join(how)}."
        )
    else:
        lines.append("Imputed 0 cells: no feature cell is missing.")
    if info["numeric"]:
        lines.append(f"Standardised {len(info['numeric'])} numeric column(s).")
    extreme = info.get("bulk_scaled")
    if extreme:
        lines.append(
            f"{sum(extreme.values())} extreme cell(s) in {_names(extreme)} (see the "
            "data issue extreme_value) set neither the mean nor the scale of their "
            "column, and are clipped to twice its other cells' largest deviation "
            "(at least 10): they would have squeezed every other row together."
        )
    encoded = info["encoded"]
    if encoded:
        pooled = info.get("pooled", {})
        lines.append(
            f"One-hot encoded {len(encoded)} categorical column(s) into "
            f"{sum(encoded.values())} columns"
            + (
                f" ({sum(pooled.values())} categories of {_names(pooled)} pooled "
                "into one column each: those of one row and those beyond the "
                f"{MAX_CATEGORIES - 1} most frequent)"
                if pooled
                else ""
            )
            + "."
        )
    codes = info.get("number_codes")
    if codes:
        lines.append(
            f"{_names(codes)} hold(s) numbers kept as text: encoded as categories, "
            "the rarest pooled and their order lost; convert with "
            "pandas.to_numeric to audit them as numbers."
        )
    return lines
