"""The broken submissions cover every check of every lab: no check that cannot fail."""

from __future__ import annotations

import pytest

from grader.spec.loader import load_spec
from tests.submissions import LAB01, LAB02, LAB03, REPOSITORY, Broken


@pytest.mark.parametrize(
    ("lab", "broken"), [("01-tcp-hello", LAB01), ("02-tcp-echo", LAB02), ("03-udp-ping", LAB03)]
)
def test_every_check_is_failed_by_some_broken_submission(
    lab: str, broken: tuple[Broken, ...]
) -> None:
    spec = load_spec(REPOSITORY / "labs" / lab / "spec.yaml")
    failed_somewhere = set().union(*(b.fails for b in broken))
    assert {check.id for check in spec.checks} - failed_somewhere == set()
    assert failed_somewhere <= {check.id for check in spec.checks}


@pytest.mark.parametrize("broken", LAB01 + LAB02 + LAB03, ids=lambda b: f"{b.lab}-{b.name}")
def test_each_broken_submission_applies_to_the_solution(tmp_path, broken: Broken) -> None:
    directory = broken.materialize(tmp_path)
    solution = REPOSITORY / "solutions" / broken.lab
    changed = [
        name
        for name in ("server.py", "client.py")
        if not (directory / name).exists()
        or (directory / name).read_bytes() != (solution / name).read_bytes()
    ]
    assert changed, "a broken submission must differ from the solution"


# Checks no single mistake can fail without failing another check too, and why.
INSEPARABLE: dict[tuple[str, str], str] = {
    ("01-tcp-hello", "server-handshake"): "the handshake is the kernel's: a connection that never"
    " completes it carries no greeting, so server-greeting fails with it",
    ("01-tcp-hello", "end-to-end"): "the grader's client and server do what the lab's do, so a"
    " server and a client that pass every check against them also pass together",
    ("02-tcp-echo", "end-to-end"): "the grader's client does what the lab's does, and its echo"
    " server differs from a student's only in echoing after the client's FIN, which a client"
    " that reads after its half-close, as the lab asks, cannot tell apart",
    ("02-tcp-echo", "client-half-close"): "the grader's echo server sends nothing before the"
    " client's FIN, so a client that does not half-close prints nothing and fails"
    " client-short-input too",
    ("02-tcp-echo", "client-short-input"): "its run is client-half-close's judged on the output,"
    " and its bytes are end-to-end's, so a short line written wrong shows in one of them too",
}

LABS = {"01-tcp-hello": LAB01, "02-tcp-echo": LAB02, "03-udp-ping": LAB03}


@pytest.mark.parametrize("lab", sorted(LABS))
def test_every_check_is_failed_alone_by_some_broken_submission(lab: str) -> None:
    spec = load_spec(REPOSITORY / "labs" / lab / "spec.yaml")
    failed_alone = {next(iter(b.fails)) for b in LABS[lab] if len(b.fails) == 1}
    inseparable = {check for (where, check) in INSEPARABLE if where == lab}
    assert {check.id for check in spec.checks} - inseparable - failed_alone == set()
    assert failed_alone & inseparable == set(), "a check failed alone is not inseparable"
