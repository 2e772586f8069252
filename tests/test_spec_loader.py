"""spec.yaml loading: typed objects for good specs, file + line + field for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grader.errors import SpecError
from grader.reporting.record import spec_digest
from grader.spec.loader import load_spec
from grader.spec.model import ReferenceServer
from tests.submissions import REPOSITORY

LAB01 = REPOSITORY / "labs" / "01-tcp-hello" / "spec.yaml"

MINIMAL = """\
id: 99-test
title: A test lab
services:
  server:
    file: server.py
    port: 30000
checks:
  - id: listens
    title: It listens
    kind: server_listens
    points: 1
  - id: greets
    title: It greets
    kind: server_sends
    points: 2
    expect: "hi"
"""


def write_spec(tmp_path: Path, text: str) -> Path:
    lab = tmp_path / "99-test"
    lab.mkdir(exist_ok=True)
    path = lab / "spec.yaml"
    path.write_text(text)
    return path


def load_error(tmp_path: Path, text: str) -> SpecError:
    with pytest.raises(SpecError) as excinfo:
        load_spec(write_spec(tmp_path, text))
    return excinfo.value


def test_lab01_spec_loads_into_typed_checks() -> None:
    lab = load_spec(LAB01)
    assert lab.id == "01-tcp-hello"
    assert lab.services.server is not None and lab.services.server.grading_port == 20432
    pieces = next(check for check in lab.checks if check.id == "client-greeting-in-pieces")
    assert pieces.params.reference_server == ReferenceServer(  # type: ignore[attr-defined]
        send=(b"Hel", b"lo, ", b"Client!"), pause_ms=600
    )
    assert lab.max_points == sum(check.points for check in lab.checks)


def test_minimal_spec_gets_default_timeouts_and_limits(tmp_path: Path) -> None:
    lab = load_spec(write_spec(tmp_path, MINIMAL))
    assert lab.timeouts.start_s == 10.0
    assert lab.limits.memory_mb == 64
    assert [check.line for check in lab.checks] == [8, 12]


def test_wrong_type_names_file_line_and_field(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace('expect: "hi"', "expect: 5"))
    assert error.line == 16
    assert error.field == "checks[1].expect"
    assert str(error).startswith(f"{tmp_path / '99-test' / 'spec.yaml'}:16:")


def test_unknown_key_in_a_check_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace('expect: "hi"', 'expected: "hi"'))
    assert error.field == "checks[1].expected"
    assert "unknown key" in error.message


def test_a_misspelt_common_key_is_named_with_its_likely_spelling(tmp_path: Path) -> None:
    """server_listens has no parameters of its own: a misspelt `hidden` still gets a hint."""
    error = load_error(
        tmp_path, MINIMAL.replace("    points: 1\n", "    points: 1\n    hiddn: true\n")
    )
    assert (error.field, error.line) == ("checks[0].hiddn", 12)
    assert error.message == "unknown key 'hiddn': did you mean 'hidden'?"
    error = load_error(tmp_path, MINIMAL.replace("expect: ", "expcet: "))
    assert error.message == "unknown key 'expcet': did you mean 'expect'?"
    error = load_error(tmp_path, MINIMAL.replace("    points: 2\n", "    pionts: 2\n"))
    assert (error.field, error.line, error.message) == (
        "checks[1].pionts",
        15,
        "unknown key 'pionts': did you mean 'points'?",
    )
    error = load_error(tmp_path, MINIMAL + "timeout:\n  start_s: 3\n")
    assert error.message == "unknown key 'timeout': did you mean 'timeouts'?"


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL + "extra: 1\n")
    assert (error.field, error.line) == ("extra", 17)


def test_duplicate_check_ids_are_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("id: greets", "id: listens"))
    assert error.field == "checks[1].id"
    assert "duplicate check id 'listens'" in error.message


def test_unknown_check_kind_lists_the_known_ones(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("kind: server_sends", "kind: server_says"))
    assert error.field == "checks[1].kind"
    assert "server_sends" in error.message


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("    points: 2\n", ""))
    assert error.field == "checks[1].points"


def test_kind_needing_an_undeclared_service_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + "  - {id: e2e, title: x, kind: end_to_end, points: 1, stdout_line: y}\n"
    error = load_error(tmp_path, text)
    assert "needs services.client" in error.message


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("title: It greets", "title: [unclosed"))
    assert error.line is not None and error.line >= 13
    assert "not valid YAML" in error.message


def test_lab_id_must_match_its_directory(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("id: 99-test", "id: 98-other"))
    assert error.field == "id"


def test_non_positive_limits_are_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL + "limits:\n  memory_mb: 0\n")
    assert error.field == "limits.memory_mb"


def test_out_of_range_port_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("port: 30000", "port: 80"))
    assert error.field == "services.server.port"


def test_grading_port_in_the_ephemeral_range_is_refused(tmp_path: Path) -> None:
    spec = MINIMAL.replace("port: 30000", "port: 30000\n    grading_port: 50432")
    error = load_error(tmp_path, spec)
    assert error.field == "services.server.grading_port"
    assert "ephemeral" in str(error)


def test_missing_spec_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the spec"):
        load_spec(tmp_path / "nothing" / "spec.yaml")


def test_every_shipped_lab_spec_loads() -> None:
    for path in sorted((REPOSITORY / "labs").glob("*/spec.yaml")):
        assert load_spec(path).checks, path
        assert yaml.safe_load(path.read_text())["id"] == path.parent.name


HIDDEN = """\
lab: 99-test
checks:
  - id: greets-again
    title: It greets a second time
    kind: server_sends
    points: 3
    expect: "hi"
"""


def _hidden(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "private" / "99-test.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_a_hidden_checks_file_adds_hidden_checks_and_changes_the_spec_digest(
    tmp_path: Path,
) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    lab = load_spec(spec, _hidden(tmp_path, HIDDEN))
    assert [(check.id, check.hidden) for check in lab.checks] == [
        ("listens", False),
        ("greets", False),
        ("greets-again", True),
    ]
    assert lab.max_points == 6 and lab.hidden_checks_path == tmp_path / "private" / "99-test.yaml"
    assert spec_digest(lab) != spec_digest(load_spec(spec))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("lab: 99-test", "lab: 01-tcp-hello"), "lab", "for '01-tcp-hello', not '99-test'"),
        (("id: greets-again", "id: greets"), "checks[0].id", "the spec's too (spec.yaml line 12)"),
        (("points: 3", "points: 3\n    hidden: false"), "checks[0].hidden", "are hidden"),
        (("points: 3", "points: 3\n    hiden: true"), "checks[0].hiden", "did you mean 'hidden'"),
        (("lab: 99-test", "labs: 99-test"), "labs", "did you mean 'lab'"),
    ],
)
def test_a_hidden_checks_file_it_cannot_use_names_its_own_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], field: str, words: str
) -> None:
    spec = write_spec(tmp_path, MINIMAL)
    hidden = _hidden(tmp_path, HIDDEN.replace(*change))
    with pytest.raises(SpecError) as caught:
        load_spec(spec, hidden)
    assert caught.value.field == field and words in caught.value.message
    assert str(caught.value).startswith(f"{hidden}:")


@pytest.mark.parametrize(
    ("points", "words"),
    [(".nan", "must be a finite number"), (".inf", "must be a finite number"), ("-1", "0 or more")],
)
def test_points_must_be_a_finite_number_not_below_zero(
    tmp_path: Path, points: str, words: str
) -> None:
    error = load_error(tmp_path, MINIMAL.replace("points: 2", f"points: {points}"))
    assert error.field == "checks[1].points" and words in error.message


def test_a_copied_lab_directory_gets_its_id_error_beside_the_others(tmp_path: Path) -> None:
    text = MINIMAL.replace("id: 99-test", "id: 98-other").replace('expect: "hi"', "expect: 5")
    error = load_error(tmp_path, text)
    assert [(p.field, p.line) for p in error.problems] == [("id", 1), ("checks[1].expect", 16)]
    assert "a copied lab directory needs its own id" in error.problems[0].message
    assert str(error).count(str(tmp_path / "99-test" / "spec.yaml")) == 2


def test_every_mistake_is_named_at_once_in_the_order_of_the_file(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("port: 30000", "port: '50000'")
        .replace("kind: server_sends", "kind: server_says")
        .replace("    points: 1\n", "    points: 1\n    hiddn: true\n")
        + "limits:\n  cpus: 0\n"
    )
    error = load_error(tmp_path, text)
    assert [(p.line, p.field) for p in error.problems] == [
        (6, "services.server.port"),
        (12, "checks[0].hiddn"),
        (15, "checks[1].kind"),
        (19, "limits.cpus"),
    ]
    messages = [p.message for p in error.problems]
    assert messages[0] == "expected a whole number, got '50000'"
    assert messages[2].startswith("no check kind 'server_says': did you mean 'server_sends'?")
    assert messages[3].startswith("must be greater than zero, got 0")


def test_a_misspelt_kind_key_is_named_with_its_likely_spelling(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("kind: server_sends", "knd: server_sends"))
    assert (error.field, error.line) == ("checks[1].knd", 14)
    assert error.message == "unknown key 'knd': did you mean 'kind'?"
    assert len(error.problems) == 1


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("title: It greets", "title: '  '"), "checks[1].title", "expected non-empty text"),
        (("file: server.py", "file: ../server.py"), "services.server.file", "plain file name"),
        (("file: server.py", "file: '..'"), "services.server.file", "plain file name"),
        (("points: 1", "points: true"), "checks[0].points", "expected a number, got True"),
        (("id: listens", "id: Listens"), "checks[0].id", "lower-case letters"),
        (("    port: 30000\n", ""), "services.server.port", "a server needs a port"),
        (('expect: "hi"', "expect: hi\n    expect: ho"), "checks[1].expect", "duplicate key"),
        (("checks:\n", "checks: []\nx:\n"), "checks", "must not be empty"),
    ],
)
def test_a_mistake_names_its_field_in_our_words(
    tmp_path: Path, change: tuple[str, str], field: str, words: str
) -> None:
    error = load_error(tmp_path, MINIMAL.replace(*change))
    assert any(p.field == field and words in p.message for p in error.problems), error


def test_a_yaml_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL + "timeouts: &loop\n  start_s: *loop\n")
    assert any("alias contains itself" in p.message for p in error.problems)


def test_a_spec_that_expands_without_end_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    error = load_error(tmp_path, "\n".join(lines) + "\n")
    assert "too large" in error.message


def test_parameters_are_the_kinds_typed_dataclasses(tmp_path: Path) -> None:
    lab = load_spec(write_spec(tmp_path, MINIMAL))
    params = lab.checks[1].params
    assert type(params).__module__ == "grader.checks.server_sends"
    assert params.expect == b"hi"  # type: ignore[attr-defined]


UDP_LAB = """\
id: 99-test
title: A UDP lab
services:
  server: {file: server.py, port: 30000, protocol: udp, serves_forever: true}
  client: {file: client.py}
checks:
"""


@pytest.mark.parametrize(
    ("check", "field", "words"),
    [
        (
            "{id: c, title: t, kind: ping_client, points: 1, impairment: {to_client: {rules:"
            " [{action: drop, match: '^PING (3|7 '}]}}}",
            "checks[0].impairment.to_client.rules[0].match",
            "not a valid regular expression",
        ),
        (
            "{id: c, title: t, kind: udp_only, points: 1, reference_udp_client:"
            " {send: [{text: a}, {random_text: 70000}]}}",
            "checks[0].reference_udp_client.send",
            "datagram 2 would be 70000 bytes",
        ),
        (
            "{id: c, title: t, kind: udp_only, points: 1, reference_udp_client:"
            " {send: [{random_bytes: 100000000000}]}}",
            "checks[0].reference_udp_client.send[0]",
            "more than the 67108864",
        ),
        ("{id: c, title: t, kind: server_exit, points: 1, status: 256}", "checks[0].status", "255"),
        ("{id: c, title: t, kind: client_exit, points: 1, status: -1}", "checks[0].status", "0 or"),
        ("{id: c, title: t, kind: ping_client, points: 1, count: 0}", "checks[0].count", "1 or"),
        (
            "{id: c, title: t, kind: ping_client, points: 1, count: 5, timed_out: [2, 9]}",
            "checks[0]",
            "ping 9 is named, but the client sends pings 1 to 5",
        ),
        (
            "{id: c, title: t, kind: client_echo, points: 1, stdin: {text: x}, run_s: 0}",
            "checks[0].run_s",
            "greater than zero",
        ),
        ("{id: c, title: t, kind: client_output, points: 1}", "checks[0]", "give one of"),
        (
            "{id: c, title: t, kind: client_output, points: 1, stdout_line: a, stdout_contains: a}",
            "checks[0]",
            "give one of",
        ),
        (
            "{id: c, title: t, kind: ping_client, points: 1, impairment: {to_server: {rules:"
            " [{action: drop, delay_ms: 5}]}}}",
            "checks[0].impairment.to_server.rules[0]",
            "delay_ms only apply to action delay, not drop",
        ),
        (
            "{id: c, title: t, kind: ping_client, points: 1, impairment: {to_server: {rules:"
            " [{action: delay}]}}}",
            "checks[0].impairment.to_server.rules[0]",
            "needs delay_ms",
        ),
        ("{id: c, title: t, kind: server_sends, points: 1, expect: x}", "checks[0].kind", "TCP"),
        ("{id: c, title: t, kind: server_exit, points: 1, status: No}", "checks[0].status", ""),
        ("{id: c, title: t, kind: 42, points: 1}", "checks[0].kind", "name of a check kind"),
    ],
)
def test_a_check_that_would_fail_while_grading_or_judge_nothing_is_refused_at_load(
    tmp_path: Path, check: str, field: str, words: str
) -> None:
    error = load_error(tmp_path, UDP_LAB + f"  - {check}\n")
    assert any(p.field == field and words in p.message for p in error.problems), error


def test_text_that_yaml_reads_as_true_or_false_is_named_with_its_quotes(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace('expect: "hi"', "expect: No"))
    assert error.message == 'expected text (bytes), got False (YAML reads No as false: write "No")'


def test_every_mistake_is_named_at_once_also_those_between_sections(tmp_path: Path) -> None:
    text = MINIMAL.replace("    port: 30000\n", "").replace("    points: 2\n", "    pionts: 2\n")
    text += "  - {id: e2e, title: x, kind: end_to_end, points: 1, stdout_line: y}\n"
    error = load_error(tmp_path, text)
    assert [(p.field, p.message) for p in error.problems] == [
        ("services.server.port", "a server needs a port"),
        ("checks[1].pionts", "unknown key 'pionts': did you mean 'points'?"),
        ("checks[2].kind", "end_to_end needs services.client"),
    ]


@pytest.mark.parametrize(
    ("ports", "words"),
    [
        ("port: 30000\n    grading_port: 30000", "grading_port must differ from port"),
        ("port: 65432", "give a grading_port from 1024 to 32767"),
    ],
)
def test_the_port_grading_uses_must_catch_hard_coding_and_avoid_ephemeral_ports(
    tmp_path: Path, ports: str, words: str
) -> None:
    error = load_error(tmp_path, MINIMAL.replace("port: 30000", ports))
    assert error.field == "services.server" and words in error.message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("    kind: server_listens", "\tkind: server_listens"), "indent with spaces"),
        (("title: A test lab", "title: A test: lab"), "must be in quotes"),
    ],
)
def test_a_yaml_mistake_gets_a_hint(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    error = load_error(tmp_path, MINIMAL.replace(*change))
    assert words in error.message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (("title: A test lab", "title: !!float x"), "title", "not a valid float"),
        (("title: A test lab", "title: !!bool x"), "title", "not a valid bool"),
        (("title: A test lab", "title: !!timestamp x"), "title", "not a valid timestamp"),
        (("title: A test lab", "title: !custom x"), "title", "tag !custom is not read"),
        (('expect: "hi"', "expect: !!binary aGk="), "checks[1].expect", "tag !!binary"),
        (("port: 30000", "port: " + "1" * 5000), "services.server.port", "not a valid int"),
        (("title: A test lab", 'title: "\\ud800"'), "title", "lone surrogate"),
    ],
)
def test_a_value_yaml_cannot_give_as_plain_data_is_a_spec_error(
    tmp_path: Path, change: tuple[str, str], field: str, words: str
) -> None:
    error = load_error(tmp_path, MINIMAL.replace(*change))
    assert any(p.field == field and words in p.message for p in error.problems), error


def test_a_merge_key_is_named_not_merged(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL + "timeouts:\n  <<: {start_s: 3}\n")
    assert "merge keys (<<) are not read" in error.message


def test_infinite_and_nan_numbers_are_refused_everywhere(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL + "timeouts: {run_s: .inf, exit_s: .nan}\n")
    assert {p.field for p in error.problems} == {"timeouts.run_s", "timeouts.exit_s"}


def test_a_whole_number_written_with_a_point_is_a_whole_number(tmp_path: Path) -> None:
    lab = load_spec(write_spec(tmp_path, MINIMAL.replace("port: 30000", "port: 30000.0")))
    assert lab.services.server is not None and lab.services.server.port == 30000


def test_a_key_named_after_the_checks_kind_is_named_where_it_is(tmp_path: Path) -> None:
    text = MINIMAL.replace('expect: "hi"', 'expect: "hi"\n    server_sends: {x: 1}')
    error = load_error(tmp_path, text)
    assert [(p.field, p.line) for p in error.problems] == [("checks[1].server_sends", 17)]


def test_the_last_of_duplicate_keys_is_the_one_judged(tmp_path: Path) -> None:
    error = load_error(tmp_path, MINIMAL.replace("points: 1", "points: 1\n    points: x"))
    assert sorted((p.line, p.message) for p in error.problems) == [
        (12, "duplicate key (first on line 11)"),
        (12, "expected a number, got 'x'"),
    ]


def test_deep_nesting_is_refused_without_a_crash(tmp_path: Path) -> None:
    for depth in (100, 300, 2000):
        error = load_error(tmp_path, MINIMAL + "x: " + "[" * depth + "]" * depth + "\n")
        assert "nested" in str(error) or "unknown key 'x'" in str(error)


def test_aliases_that_expand_to_gigabytes_are_refused_at_once(tmp_path: Path) -> None:
    text = MINIMAL + "big: &a '" + "x" * 1_000_000 + "'\nmany: [" + ", ".join(["*a"] * 2000) + "]\n"
    error = load_error(tmp_path, text)
    assert "too large" in error.message


def test_a_file_with_thousands_of_mistakes_names_the_first_fifty(tmp_path: Path) -> None:
    text = MINIMAL + "".join(f"unknown{i}: 1\n" for i in range(20_000))
    error = load_error(tmp_path, text)
    assert len(error.problems) == 51 and error.problems[-1].message == "and 19950 more problems"
