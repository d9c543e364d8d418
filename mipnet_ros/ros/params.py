"""The parameter machinery every node of the package uses: a table of specs over a typed dataclass.

A node's parameters module holds only its dataclass, its `ParamSpec`s and its cross-field check,
bundled in a `ParamTable`. `NodeParameters` declares the table on a node (descriptors with ranges
and choices), reads the values into the dataclass, checks them and applies live changes. The same
table writes the markdown parameter table, so the documentation cannot drift from the code.

Values are checked here, not by rclpy: parameters are declared dynamically typed so that a YAML
file giving `1` for a float, `[0]` for a string list or `2.0` for an integer never raises in the
constructor. The obvious value is taken (1 -> 1.0, [0] -> ['0'], 2.0 -> 2); anything else
(2.5 for an integer, a string for a number, a value out of range) becomes a `ParameterError`
that the node reports as its one ERROR line, or the reason a `ros2 param set` is refused.
`live` parameters take effect on the next frame; the others are read on configure.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, Optional, Sequence, Tuple, Type, TypeVar

from mipnet_ros.core.errors import ParameterError

T = TypeVar('T')


@dataclass(frozen=True)
class ParamSpec:
    name: str            # ROS parameter name (dots group them in YAML)
    attr: str            # field of the node's parameter dataclass
    description: str
    live: bool = False
    float_range: Optional[Tuple[float, float]] = None
    int_range: Optional[Tuple[int, int]] = None
    choices: Optional[Sequence[str]] = None
    bool_too: bool = False   # a string choice that also takes true/false as booleans (fp16)


def _kind(default: Any) -> str:
    if isinstance(default, bool):
        return 'bool'
    if isinstance(default, int):
        return 'int'
    if isinstance(default, float):
        return 'float'
    if isinstance(default, str):
        return 'str'
    return 'str_list'


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == 'array'


class ParamTable(Generic[T]):
    """One node's parameters: the dataclass, its specs and the check of values that do not fit together.

    `cross_check(params)` returns a ParameterError naming the parameter to change, or None.
    """

    def __init__(self, params_class: Type[T], specs: Sequence[ParamSpec],
                 cross_check: Optional[Callable[[T], Optional[ParameterError]]] = None):
        self.params_class = params_class
        self.specs: Tuple[ParamSpec, ...] = tuple(specs)
        self.by_name: Dict[str, ParamSpec] = {s.name: s for s in self.specs}
        self.cross_check = cross_check
        self._defaults = params_class()
        missing = [s.attr for s in self.specs if not hasattr(self._defaults, s.attr)]
        if missing:
            raise TypeError(f'{params_class.__name__} has no field(s) {missing}')

    def default(self, spec: ParamSpec) -> Any:
        return getattr(self._defaults, spec.attr)

    # ------------------------------------------------------------------ values
    def coerce(self, spec: ParamSpec, value: Any) -> Any:
        """`value` as the type of the spec's default (the obvious conversion only), checked; else ParameterError."""
        kind = _kind(self.default(spec))
        got = f'{value!r} ({type(value).__name__})'
        if spec.bool_too and isinstance(value, bool):
            value = 'true' if value else 'false'
        if kind == 'bool':
            if isinstance(value, str) and value.strip().lower() in ('true', 'false'):
                value = value.strip().lower() == 'true'
            if not isinstance(value, bool):
                raise ParameterError(f'{spec.name} must be true or false, got {got}', spec.name)
        elif kind == 'int':
            if isinstance(value, float) and math.isfinite(value) and value == int(value):
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParameterError(f'{spec.name} must be a whole number, got {got}', spec.name)
        elif kind == 'float':
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ParameterError(f'{spec.name} must be a number, got {got}', spec.name)
            value = float(value)
        elif kind == 'str':
            if not isinstance(value, str):
                raise ParameterError(f'{spec.name} must be a string, got {got}', spec.name)
            if spec.bool_too:
                value = value.strip().lower()
        else:
            items = list(value) if _is_sequence(value) else [value]
            if any(isinstance(v, (bool, float)) or not isinstance(v, (str, int)) for v in items):
                raise ParameterError(f'{spec.name} must be a list of strings, got {got}', spec.name)
            value = [str(v) for v in items]
        rng = spec.int_range if kind == 'int' else spec.float_range if kind == 'float' else None
        if rng and not rng[0] <= value <= rng[1]:
            raise ParameterError(f'{spec.name} must be in [{rng[0]}, {rng[1]}], got {value!r}', spec.name)
        if spec.choices and value not in spec.choices:
            raise ParameterError(f'{spec.name} must be one of {list(spec.choices)}, got {value!r}', spec.name)
        return value

    def check(self, params: T) -> Optional[ParameterError]:
        """The first value of `params` that cannot work (alone or with the others), else None."""
        for spec in self.specs:
            try:
                self.coerce(spec, getattr(params, spec.attr))
            except ParameterError as err:
                return err
        return self.cross_check(params) if self.cross_check is not None else None

    def with_values(self, params: T, values: Dict[str, Any], live_only: bool = True) -> T:
        """A copy of `params` with `values` (parameter name -> value, already coerced) applied."""
        kw = {self.by_name[n].attr: v for n, v in values.items()
              if n in self.by_name and (self.by_name[n].live or not live_only)}
        return dataclasses.replace(params, **kw) if kw else params

    # ------------------------------------------------------------------ ROS
    def descriptor(self, spec: ParamSpec):
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
        text = spec.description
        if spec.choices:
            text += ' One of: ' + ', '.join(spec.choices) + '.'
        if not spec.live:
            text += ' (Read on configure.)'
        d = ParameterDescriptor(name=spec.name, description=text, dynamic_typing=True)
        if spec.float_range:
            d.floating_point_range = [FloatingPointRange(from_value=float(spec.float_range[0]),
                                                         to_value=float(spec.float_range[1]), step=0.0)]
        if spec.int_range:
            d.integer_range = [IntegerRange(from_value=int(spec.int_range[0]), to_value=int(spec.int_range[1]),
                                            step=1)]
        if spec.choices:
            d.additional_constraints = 'one of: ' + ', '.join(spec.choices)
        return d

    def markdown(self) -> str:
        """The parameter table for the documentation, generated from the specs so it cannot drift."""
        rows = ['| parameter | default | live | description |', '|---|---|---|---|']
        for s in self.specs:
            d = self.default(s)
            default = ('true' if d else 'false') if isinstance(d, bool) else (
                f"'{d}'" if isinstance(d, str) else repr(d))
            desc = s.description + (' One of: ' + ', '.join(s.choices) + '.' if s.choices else '')
            rng = s.float_range or s.int_range
            if rng:
                desc += f' Range [{rng[0]}, {rng[1]}].'
            rows.append(f'| `{s.name}` | `{default}` | {"yes" if s.live else "no"} | {desc.replace("|", "/")} |')
        return '\n'.join(rows)


class NodeParameters(Generic[T]):
    """A `ParamTable` declared on one node: read, check and live changes, the same code for every node."""

    def __init__(self, node: Any, table: ParamTable[T]):
        from rclpy.exceptions import InvalidParameterValueException
        self.node = node
        self.table = table
        self._declare_errors: Dict[str, ParameterError] = {}
        for spec in table.specs:
            # (rclpy cannot declare an empty list default: no list parameter defaults to empty)
            try:
                node.declare_parameter(spec.name, table.default(spec), table.descriptor(spec))
            except InvalidParameterValueException as exc:   # a YAML value outside the descriptor's range
                node.declare_parameter(spec.name, table.default(spec), table.descriptor(spec), ignore_override=True)
                self._declare_errors[spec.name] = ParameterError(
                    f'{spec.name}: {exc}'.replace('\n', ' '), spec.name)

    def _value(self, spec: ParamSpec) -> Any:
        """The raw value; a list given empty in YAML (`[]`, which rclpy leaves uninitialised) reads as []."""
        from rclpy.exceptions import ParameterUninitializedException
        try:
            value = self.node.get_parameter(spec.name).value
        except ParameterUninitializedException:
            return [] if isinstance(self.table.default(spec), list) else self.table.default(spec)
        return [] if value is None and isinstance(self.table.default(spec), list) else value

    def read(self) -> Tuple[T, Optional[ParameterError]]:
        """(the current values, the first problem or None); a value that cannot work reads as its default."""
        values: Dict[str, Any] = {}
        first: Optional[ParameterError] = None
        for spec in self.table.specs:
            err = self._declare_errors.get(spec.name)
            try:
                if err is not None:
                    raise err
                values[spec.attr] = self.table.coerce(spec, self._value(spec))
            except ParameterError as exc:
                first = first or exc
                values[spec.attr] = self.table.default(spec)
        params = self.table.params_class(**values)
        if first is None and self.table.cross_check is not None:
            first = self.table.cross_check(params)
        return params, first

    def live_update(self, current: T, changes: Sequence[Any]) -> Tuple[str, T]:
        """rclpy Parameters from a set-parameters request applied to `current`: ('', new) or (reason, current).

        Every change is checked; only the live ones take effect now (the others are read at the next
        configure). The cross-field check refuses a change that brings a problem, or one that names it.
        """
        values: Dict[str, Any] = {}
        for change in changes:
            spec = self.table.by_name.get(change.name)
            if spec is None:
                continue
            try:
                values[change.name] = self.table.coerce(spec, change.value)
            except ParameterError as err:
                return str(err), current
            self._declare_errors.pop(change.name, None)
        candidate = self.table.with_values(current, values)
        err = self.table.cross_check(candidate) if self.table.cross_check is not None else None
        if err is not None and (err.parameter in values or self.table.cross_check(current) is None):
            return str(err), current
        return '', candidate


def qos_profile(reliability: str, depth: int, transient_local: bool = False):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=int(depth),
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == 'best_effort' else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient_local else DurabilityPolicy.VOLATILE)
