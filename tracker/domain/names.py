"""Slugs and name normalisation: how one company is found under all of its names.

`normalise_name` folds the differences that do not make a different name: case, full-
and half-width forms, punctuation, diacritics and legal suffixes ("Co., Ltd."). Chinese
characters are kept as written: "阶跃星辰" only matches "阶跃星辰".
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

__all__ = ["SLUG_PATTERN", "is_slug", "normalise_name", "slugify"]

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")

# Trailing words that name a legal form, not a company; "Megvii Technology Ltd" and
# "Megvii Technology" are the same company.
_LEGAL_SUFFIXES = frozenset(
    "co ltd limited inc incorporated corp corporation llc plc gmbh ag sa bv company".split()
)
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """The comparison key of a name: "Step Star" == "step-star" == "ＳＴＥＰ ＳＴＡＲ"."""
    text = _strip_marks(unicodedata.normalize("NFKC", name)).casefold()
    words = [word for word in _NON_WORD.sub(" ", text).replace("_", " ").split() if word]
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def is_slug(text: str) -> bool:
    return bool(SLUG_PATTERN.match(text))


@lru_cache(maxsize=65536)
def slugify(name: str) -> str:
    """A URL-safe slug for a new entity; names with no Latin letters get a stable hash."""
    text = _strip_marks(unicodedata.normalize("NFKC", name)).lower()
    # Dots survive only inside version numbers ("step-3.5-flash"), not in "co.,ltd".
    text = re.sub(r"(?<![0-9])\.|\.(?![0-9])", "-", text)
    text = re.sub(r"[^a-z0-9.]+", "-", text).strip(".-")
    if text and is_slug(text):
        return text
    digest = hashlib.sha256(unicodedata.normalize("NFKC", name).encode()).hexdigest()[:10]
    return f"x-{digest}"
