"""A submission's junit.xml, in the JUnit XML form Jenkins and pytest validate (junit-10.xsd).

Shape: one `<testsuite name=LAB>` (the root), whose `<properties>` give the submission
graded (its folder), the total (`score`, `max_score`) and each check's points
(`points:<check id>` = "2/2"); then one
`<testcase name=CHECK-ID classname=LAB>` per check, with `<failure>` (the feedback) for a
failed check and `<error>` (the grader's traceback) for a check the grader could not judge.
That schema allows properties in a testsuite, not in a testcase, so the points are there.
Built with junitparser; text the XML 1.0 character set does not allow is written as escapes.
"""

from __future__ import annotations

import re
from pathlib import Path

from junitparser import Error, Failure, TestCase, TestSuite

from grader.reporting.atomic import write_atomically
from grader.reporting.feedback import feedback_text
from grader.results import SubmissionResult

_NOT_IN_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _NOT_IN_XML.sub(lambda match: repr(match.group())[1:-1], text)


def junit_document(result: SubmissionResult, elapsed_s: float | None = None) -> TestSuite:
    """The junit.xml of `result` (see the module's docstring); `elapsed_s` is the grading's
    time in seconds, the suite's `time` when given."""
    suite = TestSuite(_xml_text(result.lab_id))
    suite.add_property("submission", _xml_text(str(result.submission)))
    suite.add_property("score", f"{result.score:g}")
    suite.add_property("max_score", f"{result.max_score:g}")
    for check in result.checks:
        suite.add_property(f"points:{check.check_id}", f"{check.points:g}/{check.max_points:g}")
    for check in result.checks:
        case = TestCase(_xml_text(check.check_id), classname=_xml_text(result.lab_id))
        if check.status == "failed":
            summary = check.verdict.summary if check.verdict is not None else "failed"
            failure = Failure(_xml_text(f"{check.title}: {summary}"), "failed")
            failure.text = _xml_text(feedback_text(check))
            case.result = [failure]
        elif check.status == "error":
            error = Error(_xml_text(check.error or "grader error"), "grader-error")
            error.text = _xml_text(check.error_detail or check.error or "")
            case.result = [error]
        suite.add_testcase(case)
    suite.update_statistics()  # type: ignore[no-untyped-call]
    if elapsed_s is not None:
        suite.time = round(elapsed_s, 3)
    return suite


def write_junit(result: SubmissionResult, path: Path, elapsed_s: float | None = None) -> None:
    """Writes `path` whole or not at all (a reader never sees half a file)."""
    text = junit_document(result, elapsed_s).tostring().decode("utf-8")  # type: ignore[no-untyped-call]
    write_atomically(path, '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n")
