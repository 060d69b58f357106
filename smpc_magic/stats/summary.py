"""Plain-text tables for released results, in the layout statsmodels users know. Everything
here runs at a recipient on released numbers (p-values and intervals are public functions of
them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def coefficient_table(title: str, fields: Mapping[str, Any], df: int | None, stat: str, extra: str = "") -> str:
    """coef, std err, t (or z), P>|t| and the 95% interval, one row per name; columns that were
    not released are left out. ``df`` None: normal reference distribution (z)."""
    from scipy import stats as dist

    names = [str(n) for n in np.atleast_1d(fields["names"])] if "names" in fields else None
    coef = np.atleast_1d(fields["coef"]) if "coef" in fields else None
    se = np.atleast_1d(fields["se"]) if "se" in fields else None
    count = len(coef) if coef is not None else len(se) if se is not None else 0
    names = names or [f"x{i}" for i in range(count)]
    head = ["", "coef", "std err", stat, f"P>|{stat}|", "[0.025", "0.975]"]
    rows = []
    reference = dist.norm if df is None else dist.t(df)
    quantile = float(reference.ppf(0.975))
    for i in range(count):
        row = [names[i]]
        row.append(f"{coef[i]:.4f}" if coef is not None else "")
        row.append(f"{se[i]:.4f}" if se is not None else "")
        if coef is not None and se is not None and se[i] > 0:
            value = coef[i] / se[i]
            p = 2 * float(reference.sf(abs(value)))
            row += [
                f"{value:.3f}",
                f"{p:.3f}",
                f"{coef[i] - quantile * se[i]:.4f}",
                f"{coef[i] + quantile * se[i]:.4f}",
            ]
        else:
            row += [""] * 4
        rows.append(row)
    widths = [max(len(r[j]) for r in [head, *rows]) for j in range(len(head))]
    line = "=" * (sum(widths) + 2 * len(widths))
    text = [title, line, "  ".join(h.rjust(w) if j else h.ljust(w) for j, (h, w) in enumerate(zip(head, widths)))]
    text.append("-" * len(line))
    for r in rows:
        text.append("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))
    text.append(line)
    if extra:
        text.append(extra)
    return "\n".join(text)
