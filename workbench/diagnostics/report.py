"""``diagnose`` → :class:`DiagnosticsReport`, and ``diagnose_many`` → one tidy DataFrame."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.dataset import EpisodeDataset
from ..errors import DiagnosticsError, WorkbenchError
from . import coverage as cov
from . import policy as pol
from . import returns as ret

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["DiagnosticsReport", "diagnose", "diagnose_many"]

_NAN = float("nan")


@dataclass
class DiagnosticsReport:
    """Everything :func:`diagnose` measured about one dataset.

    Headline attributes: ``tq`` (``None`` without return references), ``saco`` and
    ``lsaco`` (``None`` without a coverage reference: then only the unnormalised counts in
    ``counts`` are meaningful, and ``notes`` says so).  ``metrics`` holds every scalar
    (the columns of :meth:`to_frame`), ``actions`` the action distribution/spread and
    ``notes`` human-readable remarks (where references came from, what was skipped).
    """

    name: str
    metrics: dict[str, Any]
    actions: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # ----------------------------------------------------------------- headline values
    @property
    def tq(self) -> float | None:
        """Trajectory quality, or ``None`` when no return references were available."""
        return self.metrics.get("tq")

    @property
    def saco(self) -> float | None:
        """u(D) / u(D_ref), or ``None`` when no coverage reference was given."""
        return self.metrics.get("saco")

    @property
    def lsaco(self) -> float | None:
        """log u(D) / log u(D_ref), or ``None`` without a coverage reference."""
        return self.metrics.get("lsaco")

    @property
    def counts(self) -> dict[str, int | None]:
        """Unnormalised distinct counts of the dataset and (when given) its reference."""
        keys = ("unique_pairs", "unique_states", "unique_actions", "ref_unique_pairs",
                "ref_unique_states", "ref_unique_actions", "outside_pairs")
        return {k: self.metrics.get(k) for k in keys}

    def __getitem__(self, key: str) -> Any:
        return self.metrics[key]

    # ----------------------------------------------------------------- exports
    def to_frame(self) -> pd.DataFrame:
        """One-row tidy DataFrame: column ``dataset`` then one column per scalar metric."""
        import pandas as pd

        row = {"dataset": self.name, **self.metrics}
        return pd.DataFrame([row])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> ``None``): ``dataset``, ``metrics``, ``actions``, ``notes``."""
        return {"dataset": self.name, "metrics": _jsonable(self.metrics),
                "actions": _jsonable(self.actions), "notes": list(self.notes)}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    # ----------------------------------------------------------------- display
    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The report as titled sections of (label, formatted value) rows."""
        m = self.metrics
        ref = m.get("reference")
        head = [("TQ", _fmt(m.get("tq"))), ("SACo", _fmt(m.get("saco"))),
                ("lSACo", _fmt(m.get("lsaco"))),
                ("coverage reference", str(ref) if ref else "none (unnormalised counts)")]
        if m.get("tq") is not None:
            head.append(("TQ references (random / expert)",
                         f"{_fmt(m.get('random_return'))} / {_fmt(m.get('expert_return'))} "
                         f"({m.get('tq_source')})"))
        mode = m.get("coverage_mode")
        if mode == "binned":
            binning = (f"{m.get('bins')} bins per axis, limits from "
                       + ("the reference" if ref else "the dataset itself"))
        elif mode == "image":
            binning = (f"image: each channel's {m.get('image_grid')}x{m.get('image_grid')} block "
                       f"means in {m.get('image_levels')} levels of the pixel range"
                       + (f"; actions in {m.get('bins')} bins" if m.get("bins") else ""))
        else:
            binning = "exact (raw values, no bins)"
        coverage = [
            ("mode", binning),
            ("unique (state, action) pairs",
             _pair(m.get("unique_pairs"), m.get("ref_unique_pairs"))),
            ("unique states", _pair(m.get("unique_states"), m.get("ref_unique_states"))),
            ("unique actions", _pair(m.get("unique_actions"), m.get("ref_unique_actions"))),
            ("state coverage", _fmt(m.get("state_coverage"))),
            ("action coverage", _fmt(m.get("action_coverage"))),
            ("pairs outside the reference limits",
             f"{m.get('outside_pairs', 0)} ({_fmt(m.get('outside_fraction'), pct=True)}), "
             "counted in the edge bins"),
        ]
        returns = [(k, _fmt(m.get(f"return_{k}"))) for k in
                   ("mean", "std", "min", "q25", "median", "q75", "max")]
        returns += [("positive-sided variance (return²)", _fmt(m.get("return_psv"))),
                    ("positive-sided variance, min-max normalised",
                     _fmt(m.get("return_psv_normalised")))]
        episodes = [("transitions", str(m.get("transitions"))),
                    ("episodes (finished)", f"{m.get('episodes')} ({m.get('finished_episodes')})"),
                    ("terminated / truncated / unfinished",
                     f"{m.get('terminated')} / {m.get('truncated')} / {m.get('unfinished')}"),
                    ("length mean ± std", f"{_fmt(m.get('length_mean'))} ± "
                     f"{_fmt(m.get('length_std'))}"),
                    ("length min / median / max", f"{_fmt(m.get('length_min'))} / "
                     f"{_fmt(m.get('length_median'))} / {_fmt(m.get('length_max'))}")]
        rewards = [("reward mean ± std", f"{_fmt(m.get('reward_mean'))} ± "
                    f"{_fmt(m.get('reward_std'))}"),
                   ("reward min / max", f"{_fmt(m.get('reward_min'))} / "
                    f"{_fmt(m.get('reward_max'))}"),
                   ("reward sparsity (share of zero rewards)",
                    _fmt(m.get("reward_sparsity"), pct=True))]
        a = self.actions
        if a.get("kind") == "discrete":
            dist = ", ".join(f"{i}: {p:.1%}" for i, p in enumerate(a["probabilities"]))
            actions = [("distribution", dist),
                       ("entropy (nats)", _fmt(a.get("entropy"))),
                       ("entropy / log n", _fmt(a.get("entropy_normalised")))]
        else:
            actions = [("std per dimension", ", ".join(f"{v:.3g}" for v in a.get("std", []))),
                       ("min per dimension", ", ".join(f"{v:.3g}" for v in a.get("min", []))),
                       ("max per dimension", ", ".join(f"{v:.3g}" for v in a.get("max", [])))]
        if m.get("behavior_entropy") is not None:
            actions.append((f"behaviour-policy entropy (BC, {m.get('behavior_entropy_unit')})",
                            _fmt(m.get("behavior_entropy"))))
        return [("Headline", head), ("Coverage", coverage), ("Episode returns", returns),
                ("Episodes", episodes), ("Rewards", rewards), ("Actions", actions)]

    def __str__(self) -> str:
        lines = [f"Diagnostics: {self.name}"]
        for title, rows in self.sections():
            lines.append(f"\n{title}")
            width = max(len(k) for k, _ in rows)
            lines += [f"  {k:<{width}}  {v}" for k, v in rows]
        if self.notes:
            lines.append("\nNotes")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"DiagnosticsReport(name={self.name!r}, tq={_fmt(self.tq)}, "
                f"saco={_fmt(self.saco)}, unique_pairs={self.metrics.get('unique_pairs')})")

    def _repr_html_(self) -> str:
        parts = [f"<div class='wb-diagnostics'><h4 style='margin:0.3em 0'>Diagnostics: "
                 f"{html.escape(self.name)}</h4>"]
        for title, rows in self.sections():
            body = "".join(f"<tr><th style='text-align:left;font-weight:normal'>"
                           f"{html.escape(k)}</th><td style='text-align:left'>"
                           f"{html.escape(v)}</td></tr>" for k, v in rows)
            parts.append(f"<table style='display:inline-table;vertical-align:top;"
                         f"margin-right:1.5em'><caption style='text-align:left;"
                         f"font-weight:bold'>{html.escape(title)}</caption>{body}</table>")
        if self.notes:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
                         + "</ul>")
        parts.append("</div>")
        return "".join(parts)


# ---------------------------------------------------------------------------------- helpers
def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "—"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isnan(v):
        return "nan"
    return f"{v:.1%}" if pct else f"{v:.4g}"


def _pair(own: Any, ref: Any) -> str:
    return f"{own}" if ref is None else f"{own} (reference {ref})"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _resolve_dataset(value: Any, role: str) -> EpisodeDataset:
    if isinstance(value, EpisodeDataset):
        return value
    if isinstance(value, str) or hasattr(value, "__fspath__"):
        from ..data import load_dataset

        return load_dataset(value)
    raise DiagnosticsError(f"the {role} must be an EpisodeDataset, a path or a catalog name, "
                           f"got {type(value).__name__}")


def _catalog_default_reference(ds: EpisodeDataset) -> tuple[EpisodeDataset | None, str | None]:
    """The family's replay dataset for a catalog dataset, else ``(None, None)``."""
    family = ds.metadata.get("family")
    if not family:
        return None, None
    if ds.metadata.get("scheme") == "replay":
        return ds, f"{ds.name} (itself: the replay dataset of family '{family}')"
    try:
        from ..data import catalog

        name = f"{family}-replay"
        if name not in catalog.catalog_names():
            return None, None
        return catalog.load_catalog(name), f"{name} (catalog default for family '{family}')"
    except (ImportError, AttributeError, NotImplementedError):
        return None, None


def _tq_references(ds: EpisodeDataset, random_return: Any, expert_return: Any
                   ) -> tuple[float | None, float | None, str | None]:
    if (random_return is None) != (expert_return is None):
        raise DiagnosticsError("pass both random_return and expert_return, or neither")
    if random_return is not None:
        return random_return, expert_return, "given"
    md = ds.metadata
    if md.get("random_return") is not None and md.get("expert_return") is not None:
        return md["random_return"], md["expert_return"], "dataset metadata"
    family = md.get("family")
    if family:
        try:
            from ..data import catalog

            r, e = catalog.reference_returns(family)
            return r, e, f"catalog family '{family}'"
        except (ImportError, AttributeError, NotImplementedError, WorkbenchError):
            pass
    return None, None, None


# ---------------------------------------------------------------------------------- diagnose
def diagnose(ds: EpisodeDataset | str, reference: EpisodeDataset | str | bool | None = None,
             random_return: float | None = None, expert_return: float | None = None, *,
             bins: int = 100, mode: str = "auto", behavior_entropy: bool = False,
             name: str | None = None) -> DiagnosticsReport:
    """Diagnose a dataset: TQ, SACo/lSACo, coverage, returns, lengths, rewards, actions.

    Semantics (Schweighofer et al., "A Dataset Perspective on Offline RL"):

    * **TQ** = (mean undiscounted return of the finished episodes − R_random) /
      (R_expert − R_random); see :func:`~workbench.diagnostics.tq`.
    * **SACo** = u(D) / u(D_ref), **lSACo** = log u(D) / log u(D_ref): ``u`` is the exact
      number of distinct (state, action) pairs after ``np.digitize`` of every axis against
      ``np.linspace(min, max, bins)`` with the reference's per-axis limits (exact raw
      values for discrete observations and actions; image observations are discretised as
      quantised block means of each channel, see :mod:`workbench.diagnostics.coverage`); see
      :func:`~workbench.diagnostics.saco`.  Pairs outside the reference limits fall into
      the edge bins and are counted in ``outside_pairs``.

    Args:
        ds: the dataset (or a path / catalog name).
        reference: the coverage reference (dataset, path or catalog name).  ``None``: for a
            catalog dataset (``metadata["family"]``) the family's replay dataset, otherwise
            no reference — the unnormalised counts are reported, SACo is ``None`` and a note
            says so.  ``False``: never use a reference.
        random_return, expert_return: TQ reference returns (both or neither).  When
            missing, taken from ``ds.metadata`` (catalog datasets carry them) or the catalog
            family; otherwise TQ is ``None`` with a note.
        bins: edges per axis (>= 2; the paper uses 100).
        mode: ``"auto"`` (image mode for image observations, exact for discrete observations
            and actions, else binned), ``"binned"``, ``"exact"`` or ``"image"``.
        behavior_entropy: also fit a behaviour-cloning model and report its mean normalised
            entropy (a few seconds; off by default).
        name: display name (default: the dataset's name).

    Returns:
        A :class:`DiagnosticsReport`.  The 1M-transition, 17+6-dim benchmark runs in well
        under a second without ``behavior_entropy``.

    Raises:
        DiagnosticsError: empty dataset, reference with other observation/action shapes or
            a zero-width axis, ``bins < 2``, equal or non-finite TQ references, only one
            TQ reference.
        DatasetError: a path or catalog name that cannot be loaded.
    """
    ds = _resolve_dataset(ds, "dataset")
    cov._check_dataset(ds, "dataset")
    bins = cov.check_bins(bins)
    notes: list[str] = []
    label = name or ds.name

    # references -------------------------------------------------------------------------
    ref_ds: EpisodeDataset | None
    if reference is False:
        ref_ds, ref_label = None, None
    elif reference is None or reference is True:
        ref_ds, ref_label = _catalog_default_reference(ds)
    else:
        ref_ds = _resolve_dataset(reference, "reference")
        ref_label = ref_ds.name if ref_ds is not ds else f"{ds.name} (itself)"
    r_ret, e_ret, tq_source = _tq_references(ds, random_return, expert_return)

    m: dict[str, Any] = {}
    # episodes, returns, TQ ---------------------------------------------------------------
    finished = ds.finished
    m.update(transitions=ds.n_transitions, episodes=ds.n_episodes,
             finished_episodes=int(finished.sum()), terminated=int(ds.terminated.sum()),
             truncated=int(ds.truncated.sum()), unfinished=int((~finished).sum()))
    if m["unfinished"]:
        notes.append("the last episode is unfinished (neither terminated nor truncated): it is "
                     "left out of the return and length statistics")
    m["tq"] = None
    m["random_return"], m["expert_return"], m["tq_source"] = None, None, tq_source
    if r_ret is not None:
        m["random_return"], m["expert_return"] = ret.check_references(r_ret, e_ret)
        if m["finished_episodes"] and e_ret is not None:
            m["tq"] = ret.tq(ds, r_ret, e_ret)
        else:
            notes.append("TQ not computed: no episode finished, so there is no episode return")
    else:
        notes.append("TQ not computed: no random/expert reference returns (pass random_return "
                     "and expert_return)")

    # coverage ----------------------------------------------------------------------------
    resolved = cov.resolve_mode(ref_ds if ref_ds is not None else ds, mode)
    if ref_ds is not None:
        own, rc = cov.counts_with_reference(ds, ref_ds, bins, resolved)
        m.update(saco=own.unique_pairs / rc.unique_pairs,
                 lsaco=cov.log_ratio(own.unique_pairs, rc.unique_pairs),
                 state_coverage=own.unique_states / rc.unique_states,
                 action_coverage=own.unique_actions / rc.unique_actions)
    else:
        own = cov.coverage_counts(ds, None, bins, resolved)
        rc = None
        m.update(saco=None, lsaco=None, state_coverage=None, action_coverage=None)
        notes.append("no coverage reference: SACo and coverage ratios are not computed; the "
                     "counts are unnormalised"
                     + (", binned with the dataset's own limits" if own.mode == "binned"
                        else ""))
    m.update(unique_pairs=own.unique_pairs, unique_states=own.unique_states,
             unique_actions=own.unique_actions,
             ref_unique_pairs=rc.unique_pairs if rc else None,
             ref_unique_states=rc.unique_states if rc else None,
             ref_unique_actions=rc.unique_actions if rc else None,
             outside_pairs=own.outside, outside_fraction=own.outside / own.pairs,
             bins=own.bins, coverage_mode=own.mode,
             reference=ref_label)
    if own.image is not None:
        m.update(image_grid=own.image.grid, image_levels=own.image.levels)
        notes.append(f"image observations: states are frames discretised as each channel's "
                     f"{own.image.grid}x{own.image.grid} block means in {own.image.levels} "
                     "levels (workbench.diagnostics.coverage, image mode)")
    if own.outside:
        notes.append(f"{own.outside} of {own.pairs} pairs ({own.outside / own.pairs:.1%}) have a "
                     "coordinate outside the reference limits; they are counted in the edge "
                     "bins, as in the paper")

    # returns, lengths, rewards, actions ---------------------------------------------------
    rs = ret.return_stats(ds)
    for k in ("mean", "std", "min", "q25", "median", "q75", "max", "psv", "psv_normalised"):
        m[f"return_{k}"] = rs[k]
    for k, v in ret.length_stats(ds).items():
        m[f"length_{k}"] = v
    for k, v in ret.reward_stats(ds).items():
        m[f"reward_{k}"] = v
    actions = pol.action_stats(ds)
    if actions["kind"] == "discrete":
        m["action_entropy"] = actions["entropy"]
        m["action_entropy_normalised"] = actions["entropy_normalised"]
    else:
        m["action_std_mean"] = actions["std_mean"]
    m["behavior_entropy"], m["behavior_entropy_unit"] = None, None
    if behavior_entropy:
        m["behavior_entropy"], m["behavior_entropy_unit"] = pol.behavior_entropy(ds)
    return DiagnosticsReport(label, m, actions, notes)


def diagnose_many(datasets: Mapping[str, EpisodeDataset | str] | Sequence[EpisodeDataset],
                  reference: EpisodeDataset | str | bool | None = None,
                  random_return: float | None = None, expert_return: float | None = None,
                  **kwargs: Any) -> pd.DataFrame:
    """Diagnose several datasets against one reference: one row per dataset.

    Args:
        datasets: ``{name: dataset}`` (the names become the ``dataset`` column) or a
            sequence of datasets (named by ``ds.name``).
        reference: as in :func:`diagnose`; a string that is a key of ``datasets`` means
            that dataset (e.g. ``reference="replay"``).  The reference is counted once.
        random_return, expert_return, **kwargs: passed to :func:`diagnose`.

    Returns:
        A tidy DataFrame: column ``dataset`` then the columns of
        :meth:`DiagnosticsReport.to_frame`, one row per dataset in the given order.

    Raises:
        DiagnosticsError: no datasets, or anything :func:`diagnose` raises.
    """
    import pandas as pd

    items = list(datasets.items()) if isinstance(datasets, Mapping) else \
        [(getattr(d, "name", str(d)), d) for d in datasets]
    if not items:
        raise DiagnosticsError("diagnose_many needs at least one dataset")
    resolved = [(n, _resolve_dataset(d, f"dataset '{n}'")) for n, d in items]
    if isinstance(reference, str) and isinstance(datasets, Mapping) and reference in datasets:
        reference = dict(resolved)[reference]
    elif isinstance(reference, str) or hasattr(reference, "__fspath__"):
        reference = _resolve_dataset(reference, "reference")
    frames = [diagnose(d, reference, random_return, expert_return, name=str(n),
                       **kwargs).to_frame() for n, d in resolved]
    return pd.concat(frames, ignore_index=True)
