"""Algorithm registry: names → d3rlpy 2.8.1 configs, with hyperparameter validation.

Every d3rlpy Q-learning algorithm is available under its d3rlpy type name
(``cql``, ``discrete_cql``, ``td3_plus_bc``, ...).  Names are matched case- and
punctuation-insensitively (``"DiscreteCQL"``, ``"discrete-cql"`` and ``"TD3+BC"`` work).
A *family* name (``cql``, ``bc``, ``bcq``, ``sac``, ``dt``) resolves to the variant that fits
the dataset's action space: ``"cql"`` on a discrete dataset is ``discrete_cql``.

Hyperparameters are the fields of the d3rlpy config dataclass (``batch_size``,
``gamma``, ``learning_rate``, ``alpha``, ...).  Conveniences on top:

- ``observation_scaler="standard" | "min_max" | "pixel"``, ``action_scaler="min_max"``,
  ``reward_scaler="standard" | "min_max" | "return"``: scaler by name;
- ``hidden_units=[256, 256]``: a ``VectorEncoderFactory`` for every ``*encoder_factory`` field;
- ``*encoder_factory="pixel" | "pixel_small" | "default" | "vector"``: an encoder by name
  (d3rlpy's Nature-DQN ``PixelEncoderFactory``, the small MinAtar network of
  :data:`workbench.data.images.SMALL_PIXEL_ENCODER`, ``DefaultEncoderFactory``,
  ``VectorEncoderFactory``).

**Image datasets** (uint8 observations ``(C, H, W)``): :func:`image_defaults` (called by
:meth:`workbench.training.TrainSettings.resolve`) sets ``observation_scaler="pixel"`` (x / 255)
unless the user chose a scaler, and keeps d3rlpy's default encoder (a pixel encoder for 3-D
shapes, the Nature-DQN network) when frames are at least 36×36, or picks ``"pixel_small"``
for smaller ones (MinAtar's 10×10, where the Nature network does not fit).  ``hidden_units``
(a vector encoder) and ``prdc`` (a nearest-neighbour index over raw observations) are refused
on images.

Validation without d3rlpy: :func:`validate_hyperparameters` (what :func:`workbench.train`
calls) checks names, types and ranges against a description of every config class
(field name → kind and default) cached in :mod:`workbench.training._config_fields`, so a
bad hyperparameter is a :class:`~workbench.errors.ConfigError` in the caller's thread
without importing torch or d3rlpy (seconds).  The worker builds the real config with
:func:`build_config`, which runs the same checks against the live classes.  When the
installed d3rlpy is not the version the cache describes, the live classes are used
everywhere.  Regenerate the cache after upgrading d3rlpy with
``python -c "from workbench.training.algorithms import write_config_description as w; w()"``
(a test compares it with the live classes).

**Decision transformers** (``decision_transformer`` for continuous actions,
``discrete_decision_transformer`` for discrete ones; the family name ``"dt"`` picks the one
that fits the dataset) are trainable too: sequence models trained on trajectory slices by
:class:`workbench.training.trajectories.TrajectoryBuffer` (``context_size`` steps ending at
a uniformly drawn step, with returns-to-go, timesteps and padding masks, exactly as d3rlpy's
``BasicTrajectorySlicer``).  They have no Q-function (``has_q=False``: no TD-error or value
evaluation, no training-health verdicts) and are evaluated in an environment at a target
return (``train(..., target_return=...)``).  ``tacr`` and ``gato`` are refused with a
:class:`~workbench.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


__all__ = ["AlgorithmSpec", "algorithms", "resolve_algorithm", "build_config",
           "validate_hyperparameters", "describe_configs", "config_kinds", "ALGORITHMS",
           "image_defaults"]


@dataclass(frozen=True)
class AlgorithmSpec:
    """One trainable algorithm.

    Attributes:
        name: d3rlpy type name (``"discrete_cql"``).
        family: the name shared by the discrete/continuous pair (``"cql"``).
        config_class: name of the d3rlpy config class (``"DiscreteCQLConfig"``).
        discrete: trains on discrete actions (else continuous).
        has_q: learns a Q-function (value evaluators and health signals apply).
        transformer: a d3rlpy ``TransformerAlgoBase`` (a decision transformer): trained on
            trajectory slices, evaluated at a target return.
    """

    name: str
    family: str
    config_class: str
    discrete: bool
    has_q: bool = True
    transformer: bool = False

    @property
    def action_space(self) -> str:
        return "discrete" if self.discrete else "continuous"

    def config_type(self) -> type:
        from .._d3rlpy import d3rlpy

        return getattr(d3rlpy.algos, self.config_class)

    def fields(self) -> dict[str, Any]:
        """``{hyperparameter: default}`` of the d3rlpy config dataclass."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self.config_type()):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                out[f.name] = f.default_factory()  # type: ignore[misc]
            else:
                out[f.name] = None
        return out


_TABLE = [
    # name, family, config class, discrete, has_q
    ("dqn", "dqn", "DQNConfig", True, True),
    ("double_dqn", "double_dqn", "DoubleDQNConfig", True, True),
    ("nfq", "nfq", "NFQConfig", True, True),
    ("discrete_bc", "bc", "DiscreteBCConfig", True, False),
    ("discrete_bcq", "bcq", "DiscreteBCQConfig", True, True),
    ("discrete_cql", "cql", "DiscreteCQLConfig", True, True),
    ("discrete_sac", "sac", "DiscreteSACConfig", True, True),
    ("awac", "awac", "AWACConfig", False, True),
    ("bc", "bc", "BCConfig", False, False),
    ("bcq", "bcq", "BCQConfig", False, True),
    ("bear", "bear", "BEARConfig", False, True),
    ("cal_ql", "cal_ql", "CalQLConfig", False, True),
    ("cql", "cql", "CQLConfig", False, True),
    ("crr", "crr", "CRRConfig", False, True),
    ("ddpg", "ddpg", "DDPGConfig", False, True),
    ("iql", "iql", "IQLConfig", False, True),
    ("plas", "plas", "PLASConfig", False, True),
    ("plas_with_perturbation", "plas_with_perturbation", "PLASWithPerturbationConfig", False,
     True),
    ("prdc", "prdc", "PRDCConfig", False, True),
    ("rebrac", "rebrac", "ReBRACConfig", False, True),
    ("sac", "sac", "SACConfig", False, True),
    ("td3", "td3", "TD3Config", False, True),
    ("td3_plus_bc", "td3_plus_bc", "TD3PlusBCConfig", False, True),
]
ALGORITHMS: dict[str, AlgorithmSpec] = {row[0]: AlgorithmSpec(*row) for row in _TABLE}
# decision transformers: sequence models without a Q-function (family "dt")
for _dt in (AlgorithmSpec("decision_transformer", "dt", "DecisionTransformerConfig", False,
                          has_q=False, transformer=True),
            AlgorithmSpec("discrete_decision_transformer", "dt",
                          "DiscreteDecisionTransformerConfig", True, has_q=False,
                          transformer=True)):
    ALGORITHMS[_dt.name] = _dt

_REFUSED = {
    "tacr": "tacr",
    "gato": "gato",
}
_ALIASES = {"td3bc": "td3_plus_bc", "ddqn": "double_dqn", "calql": "cal_ql", "bcdiscrete":
            "discrete_bc", "decisiontransformer": "dt"}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_BY_KEY = {_key(n): n for n in ALGORITHMS}
_FAMILIES: dict[str, dict[bool, str]] = {}
for _s in ALGORITHMS.values():
    _FAMILIES.setdefault(_key(_s.family), {})[_s.discrete] = _s.name


def algorithms() -> pd.DataFrame:
    """Every trainable algorithm, one row each.

    Columns: ``name`` (pass to :func:`workbench.train`), ``family`` (the name that picks
    the right variant for the dataset), ``action_space`` (``discrete``/``continuous``),
    ``config`` (the d3rlpy config class), ``has_q`` (learns a Q-function),
    ``defaults`` (dict of every hyperparameter and its default).
    """
    import pandas as pd

    return pd.DataFrame([{"name": s.name, "family": s.family, "action_space": s.action_space,
                          "config": s.config_class, "has_q": s.has_q, "defaults": s.fields()}
                         for s in ALGORITHMS.values()])


def resolve_algorithm(name: str, discrete: bool | None = None) -> AlgorithmSpec:
    """The algorithm for ``name`` and an action kind.

    Args:
        name: algorithm or family name (case and punctuation ignored).
        discrete: the dataset's action kind; ``None`` accepts any exact name and resolves a
            family name to its continuous variant when it has one.

    Raises:
        ConfigError: unknown name (with close matches and the valid names), ``tacr`` or
            ``gato`` (refused), or an algorithm for the other action space (listing the
            algorithms that fit).
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"algo must be a non-empty string, got {name!r}")
    k = _key(name)
    k = _key(_ALIASES.get(k, k))
    if k in _REFUSED:
        raise ConfigError(
            f"'{name}' ({_REFUSED[k]}) is a transformer model workbench.train does not "
            "support (only decision transformers are: algo='dt'). Train it with d3rlpy "
            f"directly, or pick one of: {sorted(ALGORITHMS)}")
    kind = None if discrete is None else ("discrete" if discrete else "continuous")
    valid_here = sorted(n for n, s in ALGORITHMS.items()
                        if discrete is None or s.discrete == discrete)
    if k in _FAMILIES:
        variants = _FAMILIES[k]
        if discrete is None:
            return ALGORITHMS[variants[False] if False in variants else variants[True]]
        if discrete in variants:
            return ALGORITHMS[variants[discrete]]
        other = next(iter(variants.values()))
        raise ConfigError(
            f"algorithm '{name}' ({other}) needs {ALGORITHMS[other].action_space} actions but the "
            f"dataset has {kind} actions. Algorithms for {kind} actions: {valid_here}")
    if k in _BY_KEY:
        spec = ALGORITHMS[_BY_KEY[k]]
        if discrete is not None and spec.discrete != discrete:
            raise ConfigError(
                f"algorithm '{name}' ({spec.name}) needs {spec.action_space} actions but the "
                f"dataset has {kind} actions. Algorithms for {kind} actions: {valid_here}")
        return spec
    close = difflib.get_close_matches(name.lower(), sorted(set(ALGORITHMS) | (
        {s.family for s in ALGORITHMS.values()})), n=3, cutoff=0.5)
    hint = f" Did you mean {close}?" if close else ""
    raise ConfigError(f"unknown algorithm '{name}'.{hint} Valid names: {sorted(ALGORITHMS)} "
                      "(family names cql, bc, bcq, sac, dt pick the variant for the dataset)")


_SCALERS = {
    "observation_scaler": {"standard": "StandardObservationScaler",
                           "min_max": "MinMaxObservationScaler",
                           "pixel": "PixelObservationScaler"},
    "action_scaler": {"min_max": "MinMaxActionScaler"},
    "reward_scaler": {"standard": "StandardRewardScaler", "min_max": "MinMaxRewardScaler",
                      "return": "ReturnBasedRewardScaler"},
}


#: encoder factories by name, for any ``*encoder_factory`` field
_ENCODERS = ("default", "vector", "pixel", "pixel_small")

#: decision transformers' ``position_encoding_type`` by name (d3rlpy ``PositionEncodingType``)
_POSITION_ENCODINGS = ("simple", "global")


def _encoder(name: str) -> Any:
    from .._d3rlpy import d3rlpy
    from ..data.images import SMALL_PIXEL_ENCODER

    m = d3rlpy.models
    return {"default": m.DefaultEncoderFactory, "vector": m.VectorEncoderFactory,
            "pixel": m.PixelEncoderFactory,
            "pixel_small": lambda: m.PixelEncoderFactory(**SMALL_PIXEL_ENCODER)}[name]()


def image_defaults(spec: AlgorithmSpec, observation_shape: tuple[int, ...],
                   hyperparameters: dict[str, Any] | None = None) -> dict[str, Any]:
    """``hyperparameters`` with the defaults of image observations filled in (a new dict;
    vectors: unchanged).  No d3rlpy import: the values are names :func:`build_config` turns
    into objects.

    For ``observation_shape`` (C, H, W): ``observation_scaler="pixel"`` unless one was given,
    and ``"pixel_small"`` for every ``*encoder_factory`` not given when ``H`` or ``W`` is
    below 36 (d3rlpy's default builds the Nature-DQN pixel encoder otherwise).

    Raises:
        ConfigError: ``hidden_units`` (a vector encoder) or the ``prdc`` algorithm on images.
    """
    hp = dict(hyperparameters or {})
    if len(observation_shape) != 3:
        return hp
    from ..data.images import nature_cnn_fits

    if spec.name == "prdc":
        raise ConfigError(f"prdc fits a nearest-neighbour index over raw observations; on image "
                          f"observations {tuple(observation_shape)} that is neither meaningful "
                          "nor affordable. Pick another algorithm (e.g. td3_plus_bc, iql)")
    if "hidden_units" in hp:
        raise ConfigError(f"{spec.name}: hidden_units builds a vector (MLP) encoder, but the "
                          f"observations are images {tuple(observation_shape)}. Drop "
                          "hidden_units (a pixel encoder is chosen), or pass "
                          "encoder_factory='pixel' / 'pixel_small' or a d3rlpy "
                          "PixelEncoderFactory(filters=..., feature_size=...)")
    hp.setdefault("observation_scaler", "pixel")
    if not nature_cnn_fits(tuple(observation_shape)):
        for f in config_kinds(spec):
            if f.endswith("encoder_factory"):
                hp.setdefault(f, "pixel_small")
    return hp


def _kind(default: Any) -> str:
    """The kind of a config field, from its default: ``bool``, ``int``, ``float``, ``str``
    or ``object`` (``None`` defaults, factories, scalers...)."""
    for t in (bool, int, float, str):
        if isinstance(default, t):
            return t.__name__
    return "object"


def _describe_default(default: Any) -> Any:
    if default is None or isinstance(default, (bool, int, float, str)):
        return default
    return type(default).__name__  # objects: their class (reprs may hold addresses)


def describe_configs() -> dict[str, Any]:
    """The live description of every algorithm's d3rlpy config (imports d3rlpy).

    Returns ``{"d3rlpy": version, "configs": {config class: {field: {"kind": kind,
    "default": default}}}}``; an object default is described by its class name.
    """
    from importlib import metadata

    out: dict[str, Any] = {}
    for spec in sorted(ALGORITHMS.values(), key=lambda s: s.config_class):
        out[spec.config_class] = {name: {"kind": _kind(d), "default": _describe_default(d)}
                                  for name, d in sorted(spec.fields().items())}
    return {"d3rlpy": metadata.version("d3rlpy"), "configs": out}


def write_config_description(path: str | None = None) -> str:
    """Write :func:`describe_configs` to the cached module
    (``workbench/training/_config_fields.py`` by default); returns the path."""
    import pprint
    from pathlib import Path

    target = Path(path) if path else Path(__file__).with_name("_config_fields.py")
    desc = describe_configs()
    text = ('"""Fields of the d3rlpy config of every algorithm, generated from d3rlpy '
            f'{desc["d3rlpy"]} by\n'
            '``workbench.training.algorithms.write_config_description()``; do not edit."""\n\n'
            f'D3RLPY_VERSION = {desc["d3rlpy"]!r}\n\n'
            f'CONFIGS = {pprint.pformat(desc["configs"], width=100, sort_dicts=True)}\n')
    target.write_text(text)
    return str(target)


_KINDS: dict[str, dict[str, str]] | None = None


def _cached_kinds() -> dict[str, dict[str, str]] | None:
    """``{config class: {field: kind}}`` from the cache, or ``None`` when the installed
    d3rlpy is not the version it describes (checked once, without importing d3rlpy)."""
    global _KINDS
    if _KINDS is None:
        from importlib import metadata

        from . import _config_fields

        try:
            installed = metadata.version("d3rlpy")
        except metadata.PackageNotFoundError:  # pragma: no cover - d3rlpy is a dependency
            installed = None
        _KINDS = ({c: {f: str(d["kind"]) for f, d in fields.items()}  # type: ignore[index]
                   for c, fields in _config_fields.CONFIGS.items()}
                  if installed == _config_fields.D3RLPY_VERSION else {})
    return _KINDS or None


def config_kinds(spec: AlgorithmSpec, live: bool = False) -> dict[str, str]:
    """``{hyperparameter: kind}`` of ``spec``'s d3rlpy config (kinds: ``bool``, ``int``,
    ``float``, ``str``, ``object``).

    From the cached description unless ``live`` is set or the installed d3rlpy differs
    from the cached version (then from the live class, importing d3rlpy).
    """
    cached = None if live else _cached_kinds()
    if cached is not None and spec.config_class in cached:
        return dict(cached[spec.config_class])
    return {name: _kind(d) for name, d in spec.fields().items()}


def config_defaults(spec: AlgorithmSpec) -> dict[str, Any]:
    """``{hyperparameter: default}`` of ``spec``'s d3rlpy config: numbers, strings and
    booleans as they are, objects described by their class name.

    From the cached description when it matches the installed d3rlpy (no import), else
    from the live class.
    """
    if _cached_kinds() is not None:
        from . import _config_fields

        fields = _config_fields.CONFIGS.get(spec.config_class)
        if fields is not None:
            return {f: d["default"] for f, d in fields.items()}  # type: ignore[index]
    return {name: _describe_default(d) for name, d in spec.fields().items()}


def _coerce(spec: AlgorithmSpec, name: str, value: Any, kind: str) -> Any:
    """``value`` checked (and converted) for a field of ``kind``; scaler names are checked
    and returned as names (:func:`build_config` makes the scaler objects).

    Raises:
        ConfigError: wrong type or range, or an unknown scaler name.
    """
    if name in _SCALERS and isinstance(value, str):
        table = _SCALERS[name]
        if value not in table:
            raise ConfigError(f"{spec.name}: {name}={value!r} is not a known scaler; valid: "
                              f"{sorted(table)} (or pass a d3rlpy scaler object)")
        return value
    if name.endswith("encoder_factory") and isinstance(value, str):
        if value not in _ENCODERS:
            raise ConfigError(f"{spec.name}: {name}={value!r} is not a known encoder; valid: "
                              f"{list(_ENCODERS)} (or pass a d3rlpy encoder factory)")
        return value
    if name == "position_encoding_type" and isinstance(value, str):
        if value.lower() not in _POSITION_ENCODINGS:
            raise ConfigError(f"{spec.name}: position_encoding_type={value!r} is not known; "
                              f"valid: {list(_POSITION_ENCODINGS)}")
        return value.lower()
    if kind == "bool":
        if not isinstance(value, (bool, int)) or (isinstance(value, int) and value not in (0, 1)):
            raise ConfigError(f"{spec.name}: {name} must be a bool, got {value!r}")
        return bool(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ConfigError(f"{spec.name}: {name} must be an integer, got {value!r}")
        if name in ("batch_size", "n_critics", "n_action_samples", "target_update_interval",
                    "update_actor_interval", "context_size", "max_timestep", "num_heads",
                    "num_layers") and int(value) < 1:
            raise ConfigError(f"{spec.name}: {name} must be >= 1, got {value!r}")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{spec.name}: {name} must be a number, got {value!r}")
        value = float(value)
        if name == "gamma" and not 0.0 <= value <= 1.0:
            raise ConfigError(f"{spec.name}: gamma must be in [0, 1], got {value}")
        if name.endswith("learning_rate") and value < 0:
            raise ConfigError(f"{spec.name}: {name} must be >= 0, got {value}")
        return value
    if kind == "str" and not isinstance(value, str):
        raise ConfigError(f"{spec.name}: {name} must be a string, got {value!r}")
    return value


def _check(spec: AlgorithmSpec, hyperparameters: dict[str, Any] | None,
           live: bool) -> tuple[dict[str, Any], list[int] | None, list[str]]:
    """Validate ``hyperparameters`` against the config description; returns the coerced
    values, the ``hidden_units`` (or ``None``) and the encoder fields they size."""
    hp = dict(hyperparameters or {})
    kinds = config_kinds(spec, live)
    hidden = hp.pop("hidden_units", None)
    units: list[int] | None = None
    enc: list[str] = []
    if hidden is not None:
        try:
            units = [int(u) for u in hidden]
        except (TypeError, ValueError):
            raise ConfigError(f"{spec.name}: hidden_units must be a list of ints, got "
                              f"{hidden!r}") from None
        if not units or min(units) < 1:
            raise ConfigError(f"{spec.name}: hidden_units must be positive ints, got {hidden!r}")
        enc = [f for f in kinds if f.endswith("encoder_factory")]
        if not enc:
            raise ConfigError(f"{spec.name} has no encoder to size with hidden_units")
    unknown = sorted(set(hp) - set(kinds))
    if unknown:
        others = [s for s in ALGORITHMS.values() if s.family == spec.family and s is not spec]
        where = ""
        for o in others:
            belongs = [u for u in unknown if u in config_kinds(o, live)]
            if belongs:
                where = (f" {belongs} belong to {o.name} ({o.action_space} actions); this dataset "
                         f"uses {spec.name} ({spec.action_space}).")
        close = {u: difflib.get_close_matches(u, list(kinds), n=1) for u in unknown}
        hints = "; ".join(f"{u!r} → did you mean {c[0]!r}?" for u, c in close.items() if c)
        raise ConfigError(f"unknown hyperparameter(s) {unknown} for {spec.name}.{where}"
                          f"{' ' + hints + '.' if hints else ''} Valid: {sorted(kinds)} "
                          "(plus hidden_units)")
    return {k: _coerce(spec, k, v, kinds[k]) for k, v in hp.items()}, units, enc


def validate_hyperparameters(spec: AlgorithmSpec,
                             hyperparameters: dict[str, Any] | None = None) -> None:
    """Check ``hyperparameters`` for ``spec`` as :func:`build_config` would, without
    importing d3rlpy (against the cached config description; see the module docstring).

    Raises:
        ConfigError: an unknown hyperparameter (listing the valid ones, and naming the other
            variant when it belongs there) or a value of the wrong type/range.
    """
    _check(spec, hyperparameters, live=False)


def build_config(spec: AlgorithmSpec, hyperparameters: dict[str, Any] | None = None) -> Any:
    """The d3rlpy config for ``spec`` with ``hyperparameters`` validated and applied
    (imports d3rlpy; the checks are those of :func:`validate_hyperparameters`, run
    against the live config class).

    Raises:
        ConfigError: an unknown hyperparameter (listing the valid ones, and naming the other
            variant when it belongs there) or a value of the wrong type/range.
    """
    from .._d3rlpy import d3rlpy

    kwargs, units, enc = _check(spec, hyperparameters, live=True)
    for name, value in list(kwargs.items()):
        if name in _SCALERS and isinstance(value, str):
            kwargs[name] = getattr(d3rlpy.preprocessing, _SCALERS[name][value])()
        elif name.endswith("encoder_factory") and isinstance(value, str):
            kwargs[name] = _encoder(value)
        elif name == "position_encoding_type" and isinstance(value, str):
            kwargs[name] = d3rlpy.PositionEncodingType(value)
    for f in enc:
        kwargs.setdefault(f, d3rlpy.models.VectorEncoderFactory(hidden_units=units))
    try:
        return spec.config_type()(**kwargs)
    except (TypeError, ValueError, AssertionError) as exc:
        raise ConfigError(f"{spec.name}: invalid hyperparameters {kwargs}: {exc}") from None
