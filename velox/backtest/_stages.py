"""Which strategy a backtest runs: 'builtin:quote', 'builtin:script', 'MODULE:ATTR', a class,
an object with __velox_stage__, or a "velox.strategy.v2" capsule; and the "key=value" texts
its api->arg reads."""

from __future__ import annotations

from typing import Any, Mapping, Optional

BUILTIN_PREFIX = "builtin:"


def arg_texts(args: Mapping[str, Any]) -> list[str]:
    """stage_args as the "key=str(value)" strings api->arg answers with. ValueError for a key
    that is not an identifier or a value whose text holds a NUL."""
    out = []
    for key, value in args.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise TypeError(f"stage_args keys must be parameter names (identifiers), got {key!r}")
        text = str(value)
        if "\0" in text:
            raise ValueError(f"stage_args[{key!r}]: the value's text holds a NUL byte")
        out.append(f"{key}={text}")
    return out


def make_strategy(stage: object, stage_args: Optional[Mapping[str, Any]],
                  instruments: int) -> tuple[object, list[str]]:
    """(the strategy object or capsule, its api->arg texts). Every stage_args entry reaches
    api->arg, except 'orders' of 'builtin:script' (its orders); a class (given, or named by
    'MODULE:ATTR') is also made with them as keyword arguments. TypeError / ValueError naming
    the stage."""
    from velox._backtest import BUILTIN_STRATEGIES, builtin_strategy
    from velox.pipeline._specs import load_stage, make_stages
    if stage_args is not None and not isinstance(stage_args, Mapping):
        raise TypeError(f"stage_args must be a dict, got {stage_args!r}")
    args = dict(stage_args or {})
    if isinstance(stage, str) and stage.startswith(BUILTIN_PREFIX):
        kind = stage[len(BUILTIN_PREFIX):]
        if kind not in BUILTIN_STRATEGIES:
            raise ValueError(f"stage {stage!r}: builtin strategies are "
                             f"{', '.join(BUILTIN_PREFIX + k for k in BUILTIN_STRATEGIES)}")
        if kind == "script":
            if "orders" not in args:
                raise ValueError(f"stage {stage!r} needs stage_args={{'orders': an ORDER_DTYPE "
                                 "array}} (the orders it sends)")
            orders = args.pop("orders")
            return builtin_strategy("script", orders=orders), arg_texts(args)
        if "orders" in args:
            raise ValueError(f"stage {stage!r} takes no 'orders' (that is 'builtin:script')")
        return builtin_strategy("quote", instruments=instruments), arg_texts(args)
    texts = arg_texts(args)
    if isinstance(stage, str):
        return load_stage(stage, args), texts
    if isinstance(stage, type):
        return make_stages(stage, args), texts
    if stage is None:
        raise TypeError("stage is required: 'builtin:quote', 'builtin:script', 'MODULE:ATTR', a "
                        "strategy class or object (__velox_stage__), or a 'velox.strategy.v2' "
                        "capsule")
    return stage, texts  # an object or a capsule: stage_args reach api->arg only
