"""Trigger conditions: what the kfp compiler emits, evaluated with CEL's semantics.

No ``from __future__ import annotations`` here: kfp reads the components' annotations.
"""

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler, dsl

from api_server.backends.embedded.conditions import (
    ConditionError,
    evaluate_condition,
    format_double,
    parse_condition,
)

# --- conditions as kfp 2.16 compiles them -------------------------------------------------


@dsl.component
def _word() -> str:
    return "heads"


@dsl.component
def _count() -> int:
    return 1


@dsl.component
def _ratio() -> float:
    return 0.5


@dsl.component
def _flag() -> bool:
    return True


@dsl.component
def _show(text: str) -> None:
    print(text)


@dsl.pipeline
def _branching(label: str = "a", n: int = 3, f: float = 1.0, on: bool = True) -> None:
    word, count, ratio, flag = _word(), _count(), _ratio(), _flag()
    with dsl.If(word.output == "heads", name="w-heads"):
        _show(text="heads")
    with dsl.Elif(word.output == "tails", name="w-tails"):
        _show(text="tails")
    with dsl.Else(name="w-else"):
        _show(text="edge")
    with dsl.If(count.output > 5, name="big"), dsl.If(ratio.output <= 2.5, name="big-small"):
        _show(text="nested")
    with dsl.If(flag.output == True, name="flag-on"):  # noqa: E712 - kfp overloads ==
        _show(text="flag")
    with dsl.If(n >= 2, name="n-ge-2"):
        _show(text="n")
    with dsl.If(f < 0.5, name="f-lt-half"):
        _show(text="f")
    with dsl.If(on == False, name="off"):  # noqa: E712
        _show(text="off")
    with dsl.If(count.output == ratio.output, name="int-eq-double"):
        _show(text="mixed")
    with dsl.Condition(count.output != 7, name="legacy"):
        _show(text="legacy")
    with dsl.If(label == "x", name="label-x"), dsl.If(flag.output != False, name="label-x-flag"):  # noqa: E712
        _show(text="deep")
    with dsl.If(n == 3, name="n3"):
        _show(text="3")
    with dsl.Elif(f == 1.0, name="f1"):
        _show(text="1.0")
    with dsl.Elif(on != True, name="not-on"):  # noqa: E712
        _show(text="not on")
    with dsl.Else(name="n-else"):
        _show(text="else")


@functools.cache
def _compiled_conditions(tmp: str) -> dict[str, str]:
    """Condition group name (its taskInfo name) -> its compiled trigger condition."""
    path = Path(tmp) / "branching.yaml"
    compiler.Compiler().compile(_branching, str(path))
    spec = yaml.safe_load(path.read_text())
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "triggerPolicy" in node:
                found[node["taskInfo"]["name"]] = node["triggerPolicy"]["condition"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _compiled_conditions(str(tmp_path_factory.mktemp("conditions")))


def _task(conditions: dict[str, str], name: str) -> str:
    assert name in conditions, (name, sorted(conditions))
    return conditions[name]


W = "pipelinechannel--word-Output"
C = "pipelinechannel--count-Output"
R = "pipelinechannel--ratio-Output"
B = "pipelinechannel--flag-Output"


def test_the_compiler_emits_the_forms_this_module_reads(compiled: dict[str, str]) -> None:
    assert _task(compiled, "w-heads") == f"inputs.parameter_values['{W}'] == 'heads'"
    assert _task(compiled, "w-else").startswith(f"!(inputs.parameter_values['{W}'] == 'heads')")
    assert _task(compiled, "n-ge-2") == "int(inputs.parameter_values['pipelinechannel--n']) >= 2"
    assert _task(compiled, "int-eq-double") == (
        f"double(int(inputs.parameter_values['{C}'])) == inputs.parameter_values['{R}']"
    )
    assert _task(compiled, "off") == "inputs.parameter_values['pipelinechannel--on'] == false"


@pytest.mark.parametrize(
    ("word", "branch"), [("heads", "w-heads"), ("tails", "w-tails"), ("edge", "w-else")]
)
def test_if_elif_else_runs_exactly_one_branch(
    compiled: dict[str, str], word: str, branch: str
) -> None:
    taken = [
        name
        for name in ("w-heads", "w-tails", "w-else")
        if evaluate_condition(_task(compiled, name), {W: word})
    ]
    assert taken == [branch]


@pytest.mark.parametrize(
    ("params", "branch"),
    [
        ({"n": 3, "f": 0.0, "on": True}, "n3"),
        ({"n": 3.0, "f": 0.0, "on": True}, "n3"),  # a number that came through JSON as 3.0
        ({"n": 4, "f": 1.0, "on": True}, "f1"),
        ({"n": 4, "f": 1, "on": True}, "f1"),  # an int compares equal to 1.0
        ({"n": 4, "f": 2.0, "on": False}, "not-on"),
        ({"n": 4, "f": 2.0, "on": True}, "n-else"),
    ],
)
def test_numeric_and_bool_elif_chain(
    compiled: dict[str, str], params: dict[str, Any], branch: str
) -> None:
    inputs = {f"pipelinechannel--{k}": v for k, v in params.items()}
    taken = [
        name
        for name in ("n3", "f1", "not-on", "n-else")
        if evaluate_condition(_task(compiled, name), inputs)
    ]
    assert taken == [branch]


def test_nested_and_mixed_conditions(compiled: dict[str, str]) -> None:
    assert evaluate_condition(_task(compiled, "big"), {C: 6})
    assert not evaluate_condition(_task(compiled, "big"), {C: 5})
    assert evaluate_condition(_task(compiled, "big-small"), {R: 2.5})
    assert not evaluate_condition(_task(compiled, "big-small"), {R: 2.6})
    assert evaluate_condition(_task(compiled, "flag-on"), {B: True})
    assert not evaluate_condition(_task(compiled, "flag-on"), {B: False})
    assert evaluate_condition(_task(compiled, "label-x-flag"), {B: True})
    assert evaluate_condition(_task(compiled, "int-eq-double"), {C: 2, R: 2.0})
    assert not evaluate_condition(_task(compiled, "int-eq-double"), {C: 2, R: 2.5})
    assert evaluate_condition(_task(compiled, "legacy"), {C: 6})
    assert not evaluate_condition(_task(compiled, "legacy"), {C: 7})
    assert evaluate_condition(_task(compiled, "f-lt-half"), {"pipelinechannel--f": 0.25})


def test_a_missing_input_is_an_error_naming_it(compiled: dict[str, str]) -> None:
    with pytest.raises(ConditionError, match="no such key: 'pipelinechannel--word-Output'"):
        evaluate_condition(_task(compiled, "w-heads"), {})


# --- CEL semantics -------------------------------------------------------------------------

P = "inputs.parameter_values"


@pytest.mark.parametrize(
    ("expression", "inputs", "expected"),
    [
        # heterogeneous equality: different kinds are simply unequal
        (f"{P}['s'] == 3", {"s": "3"}, False),
        (f"{P}['s'] != 3", {"s": "3"}, True),
        (f"{P}['b'] == 1", {"b": True}, False),
        (f"{P}['b'] == true", {"b": True}, True),
        ("1 == 1.0", {}, True),
        ("2 > 1.5", {}, True),
        ("-1 < -0.5", {}, True),
        ("'abc' < 'abd'", {}, True),
        ("'B' < 'a'", {}, True),  # code-point order
        ("false < true", {}, True),
        # conversions
        (f"int({P}['x']) == 2", {"x": 2.9}, True),  # truncation toward zero
        (f"int({P}['x']) == -2", {"x": -2.9}, True),
        (f"int({P}['x']) == 42", {"x": "42"}, True),
        (f"double({P}['x']) == 0.25", {"x": "0.25"}, True),
        (f"string({P}['x']) == '3'", {"x": 3.0}, True),
        (f"string({P}['x']) == '1e+06'", {"x": 1e6}, True),
        (f"string({P}['x']) == 'true'", {"x": True}, True),
        (f"bool({P}['x'])", {"x": "True"}, True),
        # logic, precedence, literals
        ("true || false && false", {}, True),
        ("!(1 == 1) || !false", {}, True),
        ("!!true", {}, True),
        ("(1 < 2) == true", {}, True),
        ("'it\\'s' == \"it's\"", {}, True),
        (r"'\x41\u00e9\101' == 'AéA'", {}, True),
        ("r'\\d' == '\\\\d'", {}, True),
        ("'''a'b''' == \"a'b\"", {}, True),
        ("0x10 == 16", {}, True),
        ("1e3 == 1000", {}, True),
        (".5 == 0.5", {}, True),
        ("null == null", {}, True),
        # membership and structured values
        (f"{P}['x'] in ['a', 'b']", {"x": "b"}, True),
        (f"2 in {P}['xs']", {"xs": [1.0, 2.0]}, True),
        (f"'k' in {P}['m']", {"m": {"k": 1}}, True),
        (f"{P}['m'].k == 1", {"m": {"k": 1}}, True),
        (f"{P}['m']['k'] == 1 && {P}['xs'][1] == 'b'", {"m": {"k": 1}, "xs": ["a", "b"]}, True),
        # field selectors of the older compilers
        ("inputs.parameters['w'].string_value == 'heads'", {"w": "heads"}, True),
        ("inputs.parameters['n'].int_value > 2", {"n": 3}, True),
        ("inputs.parameters['n'].double_value == 3.0", {"n": 3}, True),
        ("inputs.parameters['b'].bool_value", {"b": True}, True),
    ],
)
def test_cel_semantics(expression: str, inputs: dict[str, Any], expected: bool) -> None:
    assert evaluate_condition(expression, inputs) is expected


@pytest.mark.parametrize(
    ("expression", "inputs"),
    [
        # CEL absorbs an error when the other side of && / || decides the result
        (f"false && {P}['missing'] == 1", {}),
        (f"{P}['missing'] == 1 && false", {}),
        (f"!(true || {P}['s'] < 1)", {"s": "x"}),
        (f"!({P}['s'] < 1 || true)", {"s": "x"}),
    ],
)
def test_logical_operators_absorb_errors_they_do_not_need(
    expression: str, inputs: dict[str, Any]
) -> None:
    assert evaluate_condition(expression, inputs) is False


@pytest.mark.parametrize(
    ("expression", "inputs", "message", "position"),
    [
        (f"{P}['s'] < 3", {"s": "3"}, "no such overload: string < int", 29),
        (f"true && {P}['s'] < 3", {"s": "3"}, "no such overload: string < int", 37),
        (f"int({P}['s']) == 1", {"s": "1.5"}, "int() cannot parse '1.5'", 0),
        (f"int({P}['b']) == 1", {"b": True}, "no such overload: int(bool)", 0),
        (f"int({P}['x']) == 1", {"x": float("nan")}, "int() cannot convert nan", 0),
        (f"int({P}['x']) == 1", {"x": 1e19}, "int() result out of range", 0),
        (f"!{P}['s']", {"s": "x"}, "no such overload: !string", 0),
        (f"{P}['s'] && true", {"s": "x"}, "no such overload: && on string", 23),
        (f"{P}['s']", {"s": "x"}, "condition is a string, not a bool", 23),
        (f"{P}['xs'][5] == 1", {"xs": [1]}, "index out of range: 5", 29),
        ("inputs.parameter_values", {}, "condition is a map, not a bool", 6),
        ("inputs.artifacts['a'] == 1", {}, "inputs has no field 'artifacts'", 6),
        ("inputs == 1", {}, "'inputs' must be followed by", 0),
    ],
)
def test_runtime_errors_name_the_problem_and_position(
    expression: str, inputs: dict[str, Any], message: str, position: int
) -> None:
    with pytest.raises(ConditionError) as excinfo:
        evaluate_condition(expression, inputs)
    assert message in excinfo.value.reason
    assert excinfo.value.position == position, excinfo.value


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("", "unexpected end of expression", 0),
        ("1 +", "unexpected character '+'", 2),
        ("1 == 1 ? true : false", "unexpected character '?'", 7),
        ("size('a') == 1", "unsupported function 'size'", 0),
        ("__import__('os')", "unsupported function '__import__'", 0),
        ("os.system('x')", "unknown identifier 'os'", 0),
        ("int(1, 2) == 1", "int() takes exactly one argument", 5),
        ("(1 == 1", "expected ')', found end of expression", 7),
        ("'abc", "unterminated string literal", 0),
        ("'a\nb' == 'x'", "newline in a string literal", 2),
        (r"'\q' == 'x'", "invalid escape sequence \\q", 1),
        ("1u == 1", "unsigned integer literals are not supported", 0),
        ("12ab == 1", "malformed number '12a'", 0),
        ("9223372036854775808 == 1", "integer literal out of range", 0),
        ("1 == 1 1", "unexpected 1", 7),
        ("inputs.", "expected a field name, found end of expression", 7),
        # kfp quotes a channel reference when it compares a string channel with an int
        # channel; KFP's CEL engine refuses it too.
        (
            "inputs.parameter_values['a'] == 'int(inputs.parameter_values['b'])'",
            "unexpected 'b'",
            62,
        ),
    ],
)
def test_parse_errors_name_the_problem_and_position(
    expression: str, message: str, position: int
) -> None:
    with pytest.raises(ConditionError) as excinfo:
        parse_condition(expression)
    assert message in excinfo.value.reason
    assert excinfo.value.position == position
    assert f"at position {position}" in str(excinfo.value)


def test_the_smallest_int_literal_is_allowed() -> None:
    assert evaluate_condition("-9223372036854775808 < 0", {})


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("!" * 1000 + "true")
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("(" * 1000 + "true" + ")" * 1000)


def test_a_parsed_condition_evaluates_many_times() -> None:
    check = parse_condition(f"int({P}['n']) > 1")
    assert [check({"n": n}) for n in (0, 1, 2, 3)] == [False, False, True, True]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3.0, "3"),
        (1.5, "1.5"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (0.1, "0.1"),
        (-0.0, "-0"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_string_of_a_double_prints_like_cel(value: float, text: str) -> None:
    assert format_double(value) == text
