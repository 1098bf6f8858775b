"""The distinct values of a growing column and each row's index among them, kept up to date.

A learner recomputes its histograms over the whole history every time it refits: sorting all
of it again (``np.unique``) is most of that work. :class:`Levels` keeps the distinct values,
ascending, and each row's index among them (what ``np.unique(values, return_inverse=True)``
returns) and only merges in the rows added since it was last asked: the new rows' distinct
values are inserted into the sorted ones and the earlier indices remapped, with no sort of the
whole column. The result is exactly ``np.unique``'s. Columns holding NaN or a value with the
sign bit set (where ``np.unique``'s choice among equal values, 0.0 and -0.0, or its handling
of NaN would have to be copied) are recomputed with ``np.unique`` every time instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]


def unique(values: FloatArray) -> tuple[FloatArray, IndexArray]:
    """``np.unique`` with the inverse, as a flat index array."""
    distinct, inverse = np.unique(values, return_inverse=True)
    return distinct, inverse.ravel().astype(np.intp, copy=False)


def plain(values: FloatArray) -> bool:
    """Whether every value is a number without the sign bit (merging is then exact)."""
    return not (np.isnan(values).any() or np.signbit(values).any())


def merged(
    distinct: FloatArray, inverse: IndexArray, new: FloatArray
) -> tuple[FloatArray, IndexArray]:
    """``unique(concatenate(old, new))`` from ``unique(old) == (distinct, inverse)``."""
    added = np.unique(new)
    where = np.searchsorted(distinct, added)
    known = where < len(distinct)
    known[known] = distinct[where[known]] == added[known]
    if not known.all():
        missing = added[~known]
        grown = np.insert(distinct, np.searchsorted(distinct, missing), missing)
        inverse = np.searchsorted(grown, distinct)[inverse]
        distinct = grown
    return distinct, np.concatenate((inverse, np.searchsorted(distinct, new)))


class Levels:
    """Distinct values and row indices of a column that only grows (see the module docstring)."""

    def __init__(self) -> None:
        self._distinct: FloatArray = np.empty(0)
        self._inverse: IndexArray = np.empty(0, dtype=np.intp)
        self._plain = True

    def of(self, column: FloatArray) -> tuple[FloatArray, IndexArray]:
        """``unique(column)``; ``column`` must begin with the column of the previous call."""
        seen = len(self._inverse)
        if len(column) == seen:
            return self._distinct, self._inverse
        new = column[seen:]
        self._plain = self._plain and plain(new)
        if self._plain and 0 < seen < len(column):
            distinct, inverse = merged(self._distinct, self._inverse, new)
        else:
            distinct, inverse = unique(column)
        distinct.flags.writeable = inverse.flags.writeable = False
        self._distinct, self._inverse = distinct, inverse
        return distinct, inverse
