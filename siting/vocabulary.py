"""The words of inventories, read cell by cell: services, storeys, lifts, modes and numbers.

Services are named by the words of the policy's ``[sites.service_vocabulary]``
(:class:`Vocabulary`); storeys (楼层) are written in a dozen ways (:func:`parse_storey`);
lifts, acquisition modes and numbers in Chinese or English. Every reader here raises a
:class:`~siting.errors.SitingError` naming the file, row and column, or returns NaN for
a blank cell.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

from siting.config.site_policy import MODES
from siting.errors import SitingError

# how inventories spell acquisition modes (Chinese planning terms and English)
_MODE_ALIASES = {
    "renovate": "renovate", "renovation": "renovate", "改造": "renovate", "改建": "renovate",
    "lease": "lease", "rent": "lease", "租赁": "lease", "租用": "lease", "租": "lease",
    "transfer": "transfer", "置换": "transfer", "划拨": "transfer", "调剂": "transfer",
    "new_build": "new_build", "new build": "new_build", "newbuild": "new_build",
    "build": "new_build", "新建": "new_build", "补建": "new_build",
}
# how an inventory says yes (现有/existing column)
YES_WORDS = {"1", "true", "yes", "y", "是", "有", "现有", "已建"}
_LIFT = {**{v: 1.0 for v in ("1", "1.0", "true", "yes", "y", "是", "有", "有电梯")},
         **{v: 0.0 for v in ("0", "0.0", "false", "no", "n", "否", "无", "没有", "无电梯")}}
# how a services cell is split into words (the vocabulary is matched in each piece)
_SERVICE_SEP = re.compile(r"[,，;；、/／|｜\s]+")


def given(v) -> bool:
    """Whether a cell holds a value (not None, NaN or blank).

    Parameters
    ----------
    v
        A cell.
    """
    return v is not None and not (isinstance(v, float) and np.isnan(v)) and str(v).strip() != ""


def read_numbers(values: pd.Series, field: str, where, nonneg: bool = False) -> np.ndarray:
    """Numbers of a column (thousands separators allowed; NaN when blank).

    ``where(i, field)`` names row ``i`` in messages; ``nonneg`` refuses negatives.

    Parameters
    ----------
    values
        The column's cells.
    field
        The field, named in errors.
    where
        ``where(i, field)`` names row ``i`` and the column in errors.
    nonneg
        Refuse negative numbers.
    """
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if not given(v):
            continue
        try:
            out[i] = float(str(v).replace(",", "").strip())
        except ValueError:
            raise SitingError(f"{where(i, field)}: {v!r} is not a number") from None
        if not np.isfinite(out[i]):
            raise SitingError(f"{where(i, field)}: {v!r} is not a finite number")
        if nonneg and out[i] < 0:
            raise SitingError(f"{where(i, field)}: {out[i]:g} is negative")
    return out


def read_modes(values: pd.Series, defaults: pd.Series, where) -> list[str]:
    """Acquisition modes of a column (改造/租赁/置换/新建 or English), ``defaults`` where blank.

    Parameters
    ----------
    values
        The column's cells.
    defaults
        The mode of each row whose cell is blank.
    where
        ``where(i, field)`` names row ``i`` and the column in errors.
    """
    out = []
    for i, (v, d) in enumerate(zip(values, defaults)):
        if not given(v):
            out.append(d)
            continue
        m = _MODE_ALIASES.get(str(v).strip().lower())
        if m is None:
            raise SitingError(f"{where(i, 'acquisition_mode')}: unknown acquisition mode {v!r}; "
                              f"use 改造/租赁/置换/新建 or {'/'.join(MODES)}")
        out.append(m)
    return out


def read_lifts(values: pd.Series, where) -> np.ndarray:
    """A 电梯/lift column: 1.0 (有/yes), 0.0 (无/no), NaN (blank, unknown).

    Parameters
    ----------
    values
        The column's cells.
    where
        ``where(i, field)`` names row ``i`` and the column in errors.
    """
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if not given(v):
            continue
        key = unicodedata.normalize("NFKC", str(v)).strip().lower()
        if key not in _LIFT:
            raise SitingError(f"{where(i, 'lift')}: {v!r} is not yes/no; write 有/无, 是/否, "
                              f"yes/no or 1/0 (blank: unknown, allowed)")
        out[i] = _LIFT[key]
    return out


# --------------------------------------------------------------------------
# storeys (楼层)
# --------------------------------------------------------------------------
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_NUM = r"(\d+|[零〇一二两三四五六七八九十]+)"
_STOREY_FORMS = (
    "a storey number (1 = ground floor, -1 = first basement), 1F/F1/1层/一层/二楼/3楼, "
    "首层/底层/地面层, 地下一层/地下1层/负一层/负1层/B1/b2/地下室/半地下室, "
    "or a range such as 1-2层 or B1-1F (its lowest storey is taken)")


def _cn_number(text: str) -> int:
    """``"3"``, ``"三"``, ``"十二"``, ``"二十"`` → int (1–99)."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        if len(tens) > 1 or len(ones) > 1:
            raise ValueError(text)
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    if len(text) != 1:
        raise ValueError(text)
    return _CN_DIGITS[text]


def _one_storey(text: str) -> int:
    t = text.strip().lower().replace(" ", "")
    t = re.sub(r"^第", "", t)
    if t in ("首层", "底层", "地面层", "首", "底楼", "地面", "g", "gf"):
        return 1
    if t in ("地下室", "地下", "半地下", "半地下室", "地下层"):
        return -1
    if re.fullmatch(r"-?\d+(\.0+)?", t):
        n = int(float(t))
        if n == 0:
            raise ValueError("0 is not a storey here (1 = ground floor, -1 = first basement)")
        return n
    m = re.fullmatch(r"(?:地下|负|-)" + _NUM + r"(?:层|楼|f)?", t)
    if m:
        return -_cn_number(m.group(1))
    m = re.fullmatch(r"b" + r"(\d+)" + r"(?:层|楼|f)?", t)
    if m:
        return -int(m.group(1))
    m = (re.fullmatch(r"(?:地上)?" + _NUM + r"(?:层|楼|f)", t)
         or re.fullmatch(r"f(\d+)", t) or re.fullmatch(r"(?:地上)" + _NUM, t))
    if m:
        n = _cn_number(m.group(1))
        if n == 0:
            raise ValueError("0 is not a storey here (1 = ground floor, -1 = first basement)")
        return n
    if "夹层" in t:
        raise ValueError("a mezzanine (夹层) has no storey number; give the storey it sits "
                         "on, e.g. 1层")
    raise ValueError("not a storey")


def parse_storey(value) -> float:
    """The storey a space starts on, from how an inventory writes 楼层 (NaN when blank).

    1 is the ground floor and -1 the first basement (no storey 0), as in
    :meth:`siting.config.policy.Service.storey_ok`. Accepted, case and spaces ignored,
    full-width characters folded:

    * 1: ``1``, ``1F``, ``1f``, ``F1``, ``1层``, ``一层``, ``1楼``, ``一楼``, ``首层``,
      ``底层``, ``地面层``;
    * 2, 3 …: ``2层``, ``二楼``, ``3楼``, ``第三层``, ``十二层``, ``地上2层``;
    * -1: ``-1``, ``B1``, ``b1``, ``B1F``, ``地下一层``, ``地下1层``, ``负一层``,
      ``负1层``, ``地下室``, ``半地下室``; -2: ``B2``, ``地下二层``, ``负2层`` …;
    * a range or list, its lowest storey: ``1-2层``, ``1~2层``, ``1至3层``, ``B1-1F``,
      ``1、2层``.

    A range (space over several storeys) gives its lowest storey: the storey rules
    (:attr:`~siting.config.policy.Service.lowest_storey` and the lift rule) are checked there.
    ``夹层`` (mezzanine) is refused: write the storey it sits on.

    Parameters
    ----------
    value
        A 楼层 cell (text or a number).


    Raises
    ------
    ValueError
        Anything else, with a message listing the accepted forms.
    """
    if not given(value):
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        if float(value) != int(value) or int(value) == 0:
            raise ValueError(f"{value!r} is not a storey; give {_STOREY_FORMS}")
        return float(int(value))
    text = unicodedata.normalize("NFKC", str(value)).strip()
    parts = re.split(r"(?<=[^\s\-－—–])\s*(?:-|–|—|~|～|至|到|、|,|，)\s*", text)
    parts = [p for p in parts if p.strip()]
    try:
        if len(parts) > 1:
            # 1-2层: the unit may be written only after the last number
            unit = re.search(r"(层|楼|f)$", parts[-1].lower())
            vals = []
            for p in parts:
                try:
                    vals.append(_one_storey(p))
                except ValueError:
                    if not unit:
                        raise
                    vals.append(_one_storey(p + unit.group(1)))
            return float(min(vals))
        return float(_one_storey(text))
    except (ValueError, KeyError) as exc:
        why = str(exc) if str(exc).startswith(("0 is", "a mezzanine")) else "not a storey"
        raise ValueError(f"{value!r}: {why}; give {_STOREY_FORMS}") from None


def read_storeys(values: pd.Series, where) -> np.ndarray:
    """A 楼层 column read by :func:`parse_storey`; a cell it cannot read raises.

    Parameters
    ----------
    values
        The column's cells.
    where
        ``where(i, field)`` names row ``i`` and the column in errors.
    """
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            out[i] = parse_storey(v)
        except ValueError as exc:
            raise SitingError(f"{where(i, 'floor')}: {exc}") from None
    return out


# --------------------------------------------------------------------------
# the service vocabulary
# --------------------------------------------------------------------------
class Vocabulary:
    """Words naming services, from ``[sites.service_vocabulary]`` (one list per service).

    Matching is case-insensitive and longest first, so 幼儿园 (not modelled) is one word
    and ``after-school`` is not ``school``. Service keys (``elderly_care``) are words too.
    """

    def __init__(self, policy: dict):
        table = policy.get("service_vocabulary", {})
        self.word: dict[str, str | None] = {}  # lower-case word → service key, or None (not a modelled service)
        for key, words in table.items():
            service = None if key == "not_modelled" else key
            if service is not None:
                for w in (key, key.replace("_", " ")):
                    self.word.setdefault(w.lower(), service)
            for w in words:
                self.word[unicodedata.normalize("NFKC", w).strip().lower()] = service
        alts = sorted(self.word, key=len, reverse=True)
        self._re = re.compile("|".join(re.escape(w) for w in alts), re.IGNORECASE) \
            if alts else None

    def find(self, text) -> tuple[list[str], list[str], str]:
        """Services named in ``text``, the not-modelled words found, and the rest.

        Parameters
        ----------
        text
            A name or a services cell.
        """
        if not given(text) or self._re is None:
            return [], [], "" if not given(text) else str(text)
        text = unicodedata.normalize("NFKC", str(text))
        services: list[str] = []
        other: list[str] = []
        for m in self._re.finditer(text):
            s = self.word[m.group(0).lower()]
            (services if s else other).append(s or m.group(0))
        rest = self._re.sub("\0", text)  # each word found leaves a mark
        return list(dict.fromkeys(services)), list(dict.fromkeys(other)), rest

    def cell(self, value) -> tuple[list[str], list[str], list[str]]:
        """A 服务/services cell: services, not-modelled words, unrecognised pieces.

        A piece (between ; ； 、 , / and spaces) holding a word is recognised, with what
        surrounds the word (社区卫生服务站, 日间照料中心); a piece holding none is not.

        Parameters
        ----------
        value
            The cell.
        """
        services, other, rest = self.find(value)
        unknown = [p for p in _SERVICE_SEP.split(rest) if p.strip() and "\0" not in p]
        return services, other, unknown


def read_services(values: pd.Series, names: pd.Series, existing: pd.Series, policy: dict,
                  row_label) -> tuple[list, dict]:
    """Service keys per existing row (comma-joined) and, per row, what was not understood.

    A 服务/services cell is read word by word; where it names no modelled service the
    name is read. Returns the services and ``{row: problem}`` for rows with no modelled
    service or with unrecognised words.

    Parameters
    ----------
    values
        The 服务/services cells.
    names
        The names (read where a cell names no modelled service).
    existing
        Whether each row is an existing facility (other rows get None).
    policy
        The ``[sites]`` table, with ``service_vocabulary``.
    row_label
        ``row_label(i)`` names row ``i`` in notes.
    """
    vocab = Vocabulary(policy)
    out: list[str | None] = []
    problems: dict = {}
    for i, (v, name, ex) in enumerate(zip(values, names, existing)):
        if not ex:
            out.append(None)
            continue
        found, other, unknown = vocab.cell(v) if given(v) else ([], [], [])
        if not found:
            n_found, n_other, _ = vocab.find(name)
            found, other = n_found, other + n_other
        out.append(",".join(found) or None)
        bits = []
        if unknown:
            bits.append("unrecognised " + "/".join(f"'{u}'" for u in unknown))
        if not found and other:
            bits.append("not a modelled service: " + "/".join(dict.fromkeys(other)))
        elif not found and not unknown:
            bits.append("no service word")
        if bits:
            label = row_label(i) + (f" {name}" if given(name) else "")
            problems[i] = f"{label} ({'; '.join(bits)})"
    return out, problems
