"""Naive Bayes classifiers fitted on pooled secret rows, whose ``predict`` runs securely on a
party's private rows (or in plaintext at a recipient, once the model is released).

Gaussian: per class, the count, the mean and the variance of each feature (one secret matrix
product of the class one-hot matrix with the features and with their squares); variances are
floored at 2**-16 of each feature's declared half-range squared, as scikit-learn adds
``var_smoothing`` to them. Categorical: per class, the count of each level of each feature,
with Laplace smoothing (alpha = 1, as scikit-learn's CategoricalNB).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import NumericalRangeError, SecretValueError
from ..secret.compare import amax, argmax, clip_below
from ..secret.frames import LEVEL_SEPARATOR, SecretFrame
from ..secret.functions import divide, log
from ..secret.precision import claim_bound, public_bound, times_power_of_two, working_precision
from .checks import require_none
from .design import Column, columns, exactly_scaled, normalised_all, stacked
from .disclosure import COUNT, LEVELS, ROWS, Requirement, declare
from .missing import rows_observed
from .results import ReleasedResult, SecretResult

WORKING_BITS = 24
VARIANCE_FLOOR = 2.0**-16


def _class_one_hot(y: Any, classes: list[Any] | None, what: str) -> tuple[Any, list[str]]:
    from .crosstab import one_hot

    return one_hot(y, None if classes is None else [str(c) for c in classes], what)


def _require_every_class(counts: Any, what: str) -> None:
    require_none(
        counts < 0.5,
        NumericalRangeError(f"{what}: a class has no rows, so it cannot be modelled; nothing was released"),
    )


class GaussianNB(SecretResult):
    KIND = "gaussian_nb"
    SECRET = ("theta", "var", "class_prior")
    PUBLIC = ("classes", "names", "centres", "exponents", "n")
    METHODS = ("predict",)

    def predict(self, X: Any) -> Any:
        """The most likely class index of each row of secret ``X`` (same columns as the fit)."""
        xs, _ = columns(X, "model.predict(X)")
        cols = [
            Column(f"x{j}", times_power_of_two(x - float(c), -int(e)), float(c), int(e))
            for j, (x, c, e) in enumerate(zip(xs, self.centres, self.exponents))
        ]
        z: Any = stacked(cols)
        with working_precision(z, WORKING_BITS):
            diff = z[:, None, :] - self._theta_z[None, :, :]  # rows x classes x features
            scores = self._log_prior_and_norm[None, :] - 0.5 * (diff * diff * self._inv_var_z[None, :, :]).sum(axis=2)
            return argmax(scores, axis=1)


def gaussian_nb(X: Any, y: Any, classes: list[Any] | None = None, var_smoothing: float = 1e-9) -> GaussianNB:
    """Fit a Gaussian naive Bayes model (``classes``: the labels of y's codes, or y's one-hot
    levels); ``.predict(X)`` classifies secret rows; ``--reveal model`` releases theta, var
    and class_prior, with a plaintext ``predict``. As scikit-learn, ``var_smoothing`` times the
    largest feature variance is added to every variance."""
    what = "smpc.stats.gaussian_nb"
    xs, names = columns(X, what)
    cols = normalised_all(xs, names, what)
    onehot, labels = _class_one_hot(y, classes, what)
    z: Any = stacked(cols)
    n = z.shape[0]
    onehot, left_out = _complete_cases(onehot, [*xs, onehot], n, what)
    counts = onehot.sum(axis=0)
    _require_every_class(counts, what)
    with working_precision(z, WORKING_BITS):
        sums = onehot.T @ np.column_stack([z, z * z])  # classes x 2p, one round (a left-out row: 0)
        p = len(cols)
        count_f = claim_bound(counts * 1.0, 1.0, float(n))
        used = _rows_used(count_f, len(labels), n, left_out)
        moments: Any = divide(sums, count_f[:, None], known=(-1.0, 1.0))  # both moments: one batch
        theta_z = claim_bound(moments[:, :p], -1.0, 1.0)
        second = claim_bound(moments[:, p:], 0.0, 1.0)
        var_z = claim_bound(second - theta_z * theta_z, 0.0, 1.0)
        var_z = claim_bound(var_z + _smoothing(sums, used, cols, var_smoothing), 0.0, 1.0 + 2.0**-8)
        var_z = claim_bound(clip_below(var_z, VARIANCE_FLOOR), VARIANCE_FLOOR, 1.0 + 2.0**-8)
        prior = _prior(count_f, used, n)
        inv_var = claim_bound(
            divide(var_z * 0 + 1.0, var_z, known=(1.0, 1.0 / VARIANCE_FLOOR)), 1.0, 1 / VARIANCE_FLOOR
        )
        classes = prior.shape[0]
        positives: Any = np.concatenate([prior, var_z.reshape(-1)])
        logs: Any = log(positives)  # one batch
        norm = logs[:classes] - 0.5 * (logs[classes:].reshape(classes, p).sum(axis=1) + p * math.log(2 * math.pi))
    exponents = np.array([c.exponent for c in cols])
    model = GaussianNB(
        theta=exactly_scaled(theta_z, np.broadcast_to(exponents, theta_z.shape)) + np.array([c.centre for c in cols]),
        var=exactly_scaled(var_z, np.broadcast_to(2 * exponents, var_z.shape)),
        class_prior=prior,
        classes=np.array(labels),
        names=np.array(names),
        centres=np.array([c.centre for c in cols]),
        exponents=exponents,
        n=n,
    )
    model.__dict__.update(_theta_z=theta_z, _inv_var_z=inv_var, _log_prior_and_norm=norm)
    return declare(
        model,
        Requirement(COUNT, counts),
        Requirement(ROWS, counts, empty_ok=True),
        Requirement(LEVELS, len(labels)),
        covers=(y,),
    )


def _complete_cases(onehot: Any, values: list[Any], n: int, what: str) -> tuple[Any, bool]:
    """The class one-hot rows with the rows a filter or a missing value leaves out set to 0
    (scikit-learn is fitted on the complete cases), and whether any may be left out."""
    observed = rows_observed(values, n, what)
    return (onehot, False) if observed is None else (onehot * observed[:, None], True)


def _rows_used(count_f: Any, classes: int, n: int, left_out: bool) -> Any:
    """The rows the fit used: n, or the secret number of complete cases."""
    return claim_bound(count_f.sum(), float(classes), float(n)) if left_out else n


def _share(values: Any, used: Any, known: tuple[float, float]) -> Any:
    """``values / used``: exact for the public n, else one division batch by the secret count."""
    return values / used if isinstance(used, int) else divide(values, used + values * 0, known=known)


def _prior(count_f: Any, used: Any, n: int) -> Any:
    """Each class's share of the rows used."""
    return claim_bound(_share(count_f, used, (0.0, 1.0)), 1.0 / n, 1.0)


def _smoothing(sums: Any, used: Any, cols: list[Column], var_smoothing: float) -> Any:
    """var_smoothing x the largest variance of any feature (over the rows used), per feature on
    its normalised scale: scikit-learn's epsilon, exactly as it adds it."""
    p = len(cols)
    totals = sums.sum(axis=0)  # over classes
    both: Any = _share(totals, used, (-1.0, 1.0))
    mean, second = both[:p], both[p:]
    overall = claim_bound(second - mean * mean, 0.0, 1.0)
    exponents = np.array([c.exponent for c in cols])
    largest = amax(exactly_scaled(overall, 2 * exponents))
    epsilon = largest * var_smoothing
    return np.concatenate([times_power_of_two(epsilon.reshape(1), -2 * int(k)) for k in exponents])


class GaussianNBResult(ReleasedResult):
    KIND = "gaussian_nb"

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for plain rows X (numpy), as scikit-learn's GaussianNB.predict."""
        x = np.asarray(X, dtype=np.float64)
        theta, var = np.asarray(self.theta), np.asarray(self.var)
        joint = np.log(np.asarray(self.class_prior))[None, :] - 0.5 * (
            np.log(2 * np.pi * var).sum(axis=1)[None, :]
            + (((x[:, None, :] - theta[None]) ** 2) / var[None]).sum(axis=2)
        )
        return np.asarray(self.classes)[joint.argmax(axis=1)]

    def summary(self) -> str:
        lines = [f"Gaussian naive Bayes (secure, pooled n = {self.n})"]
        for i, label in enumerate(np.atleast_1d(self.classes)):
            lines.append(f"class {label}: prior {np.atleast_1d(self.class_prior)[i]:.4f}")
            for j, name in enumerate(np.atleast_1d(self.names)):
                lines.append(f"  {name:<16} mean {self.theta[i][j]:>12.4f}  var {self.var[i][j]:>12.4f}")
        return "\n".join(lines)


class CategoricalNB(SecretResult):
    KIND = "categorical_nb"
    SECRET = ("log_prob", "class_prior")
    PUBLIC = ("classes", "levels", "n")
    METHODS = ("predict",)

    def predict(self, X: Any) -> Any:
        """The most likely class index of each row of secret one-hot level columns ``X``."""
        onehot, _ = _features(X, "model.predict(X)")
        with working_precision(onehot, WORKING_BITS):
            scores = onehot @ self.log_prob.T + log(self.class_prior)[None, :]
            return argmax(scores, axis=1)


def _features(X: Any, what: str) -> tuple[Any, list[str]]:
    """Level columns ``var=level`` (a frame's categorical columns) as one 0/1 matrix."""
    if isinstance(X, list | tuple) and all(isinstance(f, SecretFrame) for f in X):
        names = [f"f{i}{LEVEL_SEPARATOR}{c}" for i, f in enumerate(X) for c in f.columns]
        return np.column_stack([f[c] for f in X for c in f.columns]), names
    cols, names = columns(X, what)
    lo, hi = zip(*(public_bound(c) for c in cols))
    if min(float(v.min()) for v in lo) < 0 or max(float(v.max()) for v in hi) > 1:
        raise SecretValueError(f"{what}: give 0/1 level columns (frame.categorical('v') for each feature)")
    # a 0/1 column that is not one level of a categorical variable (``v=level``) is a feature
    # with two levels, 0 and 1 (as scikit-learn reads it), not a feature with one level
    expanded, levels = [], []
    for col, name in zip(cols, names):
        if LEVEL_SEPARATOR in name:
            expanded.append(col)
            levels.append(name)
        else:
            expanded += [1 - col, col]
            levels += [f"{name}{LEVEL_SEPARATOR}0", f"{name}{LEVEL_SEPARATOR}1"]
    return np.column_stack(expanded), levels


def categorical_nb(X: Any, y: Any, classes: list[Any] | None = None, alpha: float = 1.0) -> CategoricalNB:
    """Fit a categorical naive Bayes model on level columns (a list of ``frame.categorical(v)``
    frames, or a frame of ``v=level`` columns), with Laplace smoothing ``alpha``."""
    what = "smpc.stats.categorical_nb"
    onehot_x, names = _features(X, what)
    onehot_y, labels = _class_one_hot(y, classes, what)
    n = onehot_x.shape[0]
    onehot_y, left_out = _complete_cases(onehot_y, [onehot_x, onehot_y], n, what)
    features = [name.split(LEVEL_SEPARATOR, 1)[0] for name in names]
    groups = {f: [i for i, g in enumerate(features) if g == f] for f in dict.fromkeys(features)}
    counts = onehot_y.sum(axis=0)
    _require_every_class(counts, what)
    table = onehot_y.T @ onehot_x  # classes x levels: exact counts, one round
    with working_precision(onehot_x, WORKING_BITS):
        per_feature = []
        for idx in groups.values():
            part = table[:, idx] + alpha
            total = claim_bound(part.sum(axis=1), alpha * len(idx), n + alpha * len(idx))
            per_feature.append(
                log(claim_bound(divide(part, total[:, None], known=(0.0, 1.0)), alpha / (n + alpha * len(idx)), 1.0))
            )
        log_prob = np.concatenate(per_feature, axis=1)
        count_f = claim_bound(counts * 1.0, 1.0, float(n))
        prior = _prior(count_f, _rows_used(count_f, len(labels), n, left_out), n)
    model = CategoricalNB(log_prob=log_prob, class_prior=prior, classes=np.array(labels), levels=np.array(names), n=n)
    rules = (Requirement(COUNT, table), Requirement(COUNT, counts), Requirement(LEVELS, len(names)))
    return declare(model, *rules, covers=(X, y))


class CategoricalNBResult(ReleasedResult):
    KIND = "categorical_nb"

    def predict(self, X: Any) -> np.ndarray:
        """Class labels for plain 0/1 level rows X."""
        joint = np.asarray(X, dtype=np.float64) @ np.asarray(self.log_prob).T + np.log(np.asarray(self.class_prior))
        return np.asarray(self.classes)[joint.argmax(axis=1)]
