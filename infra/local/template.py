"""template.yaml read as data: CloudFormation short tags, parameters, and intrinsic functions.

The local stack builds its resources from this, so the template stays the one source of truth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fanout.errors import ConfigError

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "template.yaml"


# libyaml's parser reads the template in a tenth of the pure-Python one's time (20 ms, not 190),
# and every local command reads it at least once before it can start anything.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short forms: !Ref X, !GetAtt A.B, !Sub ..., !Select ..."""


def _short_form(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)
    if not isinstance(data, dict) or "Resources" not in data:
        raise ConfigError(f"{path} is not a CloudFormation template")
    return data


class _NoValue:
    """What `Ref AWS::NoValue` stands for: the property or list item is left out."""


NO_VALUE = _NoValue()


@dataclass
class Resolver:
    """Evaluates Ref, GetAtt, Sub, Join, Select, Split and the condition functions (If, Equals,
    Not, And, Or) against known values; `conditions` is the template's Conditions section."""

    parameters: dict[str, str]
    pseudo: dict[str, str]
    conditions: Mapping[str, Any] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return NO_VALUE if argument == "AWS::NoValue" else self._ref(argument)
            if name == "Condition":
                return self.holds(argument)
            if name.startswith("Fn::"):
                return self._function(name[4:], argument)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def holds(self, condition: str) -> bool:
        """Whether the named condition of the template is true."""
        if condition not in self.conditions:
            raise ConfigError(f"template: no condition {condition}")
        return self._truth(self.conditions[condition])

    def _truth(self, value: Any) -> bool:
        result = self.resolve(value)
        if not isinstance(result, bool):
            raise ConfigError(f"template: {value!r} is not a condition")
        return result

    def _ref(self, name: str) -> str:
        for table in (self.parameters, self.pseudo, self.refs):
            if name in table:
                return table[name]
        raise ConfigError(f"template: cannot resolve Ref {name}")

    def _function(self, name: str, argument: Any) -> Any:
        if name == "GetAtt":
            key = (argument[0], argument[1])
            if key not in self.attributes:
                raise ConfigError(f"template: cannot resolve GetAtt {'.'.join(key)}")
            return self.attributes[key]
        if name == "Sub":
            text, extra = (argument, {}) if isinstance(argument, str) else argument
            return self._sub(text, {k: str(self.resolve(v)) for k, v in extra.items()})
        if name == "Join":
            separator, items = argument
            return separator.join(str(i) for i in self.resolve(items))
        if name == "Select":
            index, items = argument
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        if name == "If":
            condition, when_true, when_false = argument
            return self.resolve(when_true if self.holds(condition) else when_false)
        if name == "Equals":
            left, right = (self.resolve(v) for v in argument)
            return str(left) == str(right)
        if name == "Not":
            (operand,) = argument
            return not self._truth(operand)
        if name == "And":
            return all(self._truth(v) for v in argument)
        if name == "Or":
            return any(self._truth(v) for v in argument)
        raise ConfigError(f"template: Fn::{name} is not supported by the local stack")

    def _sub(self, text: str, extra: Mapping[str, str]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in extra:
                return extra[name]
            if "." in name:
                resource, attribute = name.split(".", 1)
                return str(self._function("GetAtt", [resource, attribute]))
            return self._ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, str], strict: bool = True
) -> dict[str, str]:
    """Every parameter's value: the override, else the default; an error names what is missing.

    With strict=False (describing a stack that exists, not making one) a parameter without a
    value is left empty: only the names of resources are wanted then.
    """
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ConfigError(f"template has no parameter {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        if name in overrides:
            value = str(overrides[name])
        elif "Default" in spec:
            value = str(spec["Default"])
        elif not strict:
            values[name] = ""
            continue
        else:
            raise ConfigError(f"template parameter {name} needs a value")
        _check_parameter(name, spec, value)
        values[name] = value
    return values


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ConfigError(f"{name}={value} is below its minimum {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ConfigError(f"{name}={value} is above its maximum {spec['MaxValue']}")
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        raise ConfigError(f"{name}={value!r}: {spec.get('ConstraintDescription', 'not allowed')}")
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        raise ConfigError(f"{name}={value!r} is not one of {spec['AllowedValues']}")
