"""Tables for released results, in the layout statsmodels users know: plain text for
``summary()`` and an HTML table for notebooks. Everything here runs at a recipient on released
numbers (p-values and intervals are public functions of them)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Table:
    """A titled table of text cells: the first column holds the row names."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        widths = [max(len(r[j]) for r in [self.header, *self.rows]) for j in range(len(self.header))]
        line = "=" * (sum(widths) + 2 * len(widths))

        def row(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(cells, widths)))

        out = [self.title, line, row(self.header), "-" * len(line), *(row(r) for r in self.rows), line]
        return "\n".join(out + ([self.note] if self.note else []) + self.notes)

    def html(self) -> str:
        """An HTML table (JupyterLab and the classic notebook style it like a pandas frame)."""
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + f"<th>{esc(r[0])}</th>" + "".join(f"<td>{esc(c)}</td>" for c in r[1:]) + "</tr>" for r in self.rows
        )
        notes = "".join(f"<p>{esc(n)}</p>" for n in [self.note, *self.notes] if n)
        return (
            f"<div class='smpc-result'><p><b>{esc(self.title)}</b></p><table class='dataframe'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</div>"
        )


def coefficients(title: str, fields: Mapping[str, Any], df: int | None, stat: str, extra: str = "") -> Table:
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
    return Table(title, head, rows, extra)
