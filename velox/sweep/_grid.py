"""Grid expansion: {name: [values]} (or a TOML file's [grid] table, or a list of parameter
sets) -> the list of parameter sets a sweep runs, in a stable order (itertools.product over
the names in their given order, the last name varying fastest)."""

from __future__ import annotations

import itertools
import os
from typing import Any, Mapping, Sequence, Union

from velox.backtest._venue import RiskLimits, SimVenue

#: a parameter's value: what TOML and JSON carry, and what api->arg turns into text
Value = Union[int, float, str, bool]
Params = dict[str, Value]
GridSpec = Union[Mapping[str, Any], Sequence[Mapping[str, Any]], str, "os.PathLike[str]", None]

#: grid names with these prefixes set a SimVenue / RiskLimits field instead of a stage_args key
VENUE_PREFIX, RISK_PREFIX = "venue.", "risk."
#: a grid of more parameter sets than this is a typo, not a sweep
MAX_PARAM_SETS = 1_000_000


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"grid names must be str, got {name!r}")
    for prefix, cls in ((VENUE_PREFIX, SimVenue), (RISK_PREFIX, RiskLimits)):
        if name.startswith(prefix):
            field = name[len(prefix):]
            if field not in cls.__dataclass_fields__:
                raise ValueError(f"grid name {name!r}: {cls.__name__} has no field {field!r} "
                                 f"(fields: {', '.join(cls.__dataclass_fields__)})")
            return name
    if not name.isidentifier():
        raise ValueError(f"grid name {name!r} is neither a strategy parameter (an identifier) "
                         f"nor {VENUE_PREFIX}FIELD / {RISK_PREFIX}FIELD")
    return name


def _check_value(name: str, value: object) -> Value:
    if isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and value != value:
            raise ValueError(f"grid {name!r}: NaN is not a parameter value")
        return value
    if hasattr(value, "item") and hasattr(value, "dtype"):  # a NumPy scalar
        return _check_value(name, value.item())
    raise TypeError(f"grid {name!r}: values must be int, float, str or bool, got {value!r}")


def read_toml(path: Union[str, "os.PathLike[str]"], what: str = "grid file") -> dict[str, Any]:
    """A TOML file's contents; ValueError naming `what` and the file when it cannot be read or
    is not TOML."""
    import tomllib
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ValueError(f"{what} {name!r} cannot be read: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{what} {name!r} is not valid TOML: {e}") from None


def load_grid_toml(path: Union[str, "os.PathLike[str]"]) -> Union[dict[str, Any], list[dict[str, Any]]]:
    """The grid of a TOML file: its [grid] table ({name = [values]}), or its [[grid]] array of
    tables (explicit parameter sets), or, without either, its top level. ValueError naming the
    file when it cannot be read or is not TOML."""
    name = os.fspath(path)
    data = read_toml(name)
    grid = data.get("grid", data)
    if not isinstance(grid, (dict, list)):
        raise ValueError(f"grid file {name!r}: 'grid' must be a table or an array of tables")
    return grid


def expand_grid(grid: GridSpec) -> list[Params]:
    """The parameter sets of ``grid``, in a stable order.

    grid: {name: [values] or one value} (every combination: itertools.product in the names'
    order, the last name varying fastest), a list of {name: value} sets (run as given; all
    with the same names), a TOML file's path (its [grid] table or [[grid]] array), or None /
    {} (one empty set: each input runs once). Names are the strategy's parameters (its
    stage_args), or 'venue.FIELD' / 'risk.FIELD' (a SimVenue / RiskLimits field). Values:
    int, float, str, bool. TypeError / ValueError naming the name or value."""
    if isinstance(grid, (str, os.PathLike)):
        grid = load_grid_toml(grid)
    if grid is None:
        return [{}]
    if isinstance(grid, Mapping):
        names = [_check_name(k) for k in grid]
        axes: list[list[Value]] = []
        total = 1
        for name in names:
            raw = grid[name]
            values = list(raw) if isinstance(raw, (list, tuple)) else [raw]
            if not values:
                raise ValueError(f"grid {name!r} has no values")
            checked = [_check_value(name, v) for v in values]
            if len(set(map(repr, checked))) != len(checked):
                raise ValueError(f"grid {name!r} repeats a value: {checked!r}")
            axes.append(checked)
            total *= len(checked)
            if total > MAX_PARAM_SETS:
                raise ValueError(f"grid has more than {MAX_PARAM_SETS:,} parameter sets")
        return [dict(zip(names, combo)) for combo in itertools.product(*axes)]
    if isinstance(grid, Sequence):
        sets: list[Params] = []
        for i, item in enumerate(grid):
            if not isinstance(item, Mapping):
                raise TypeError(f"grid[{i}] must be a dict of parameters, got {item!r}")
            params = {_check_name(k): _check_value(k, v) for k, v in item.items()}
            if sets and list(params) != list(sets[0]):
                raise ValueError(f"grid[{i}] names {list(params)}, grid[0] names "
                                 f"{list(sets[0])}: every parameter set names the same parameters")
            sets.append(params)
        if not sets:
            raise ValueError("grid is an empty list: no parameter set to run")
        if len(sets) > MAX_PARAM_SETS:
            raise ValueError(f"grid has more than {MAX_PARAM_SETS:,} parameter sets")
        return sets
    raise TypeError(f"grid must be a dict of value lists, a list of parameter dicts, a TOML "
                    f"file's path or None, got {grid!r}")


def split_params(params: Mapping[str, Value]) -> tuple[dict[str, Value], dict[str, Value], dict[str, Value]]:
    """(stage_args, SimVenue fields, RiskLimits fields) of one parameter set."""
    stage: dict[str, Value] = {}
    venue: dict[str, Value] = {}
    risk: dict[str, Value] = {}
    for name, value in params.items():
        if name.startswith(VENUE_PREFIX):
            venue[name[len(VENUE_PREFIX):]] = value
        elif name.startswith(RISK_PREFIX):
            risk[name[len(RISK_PREFIX):]] = value
        else:
            stage[name] = value
    return stage, venue, risk
