"""The pydantic models of spec files as written: one model per check kind, told apart by `kind`.

They validate the data read from YAML (grader.spec.loader) and generate the JSON Schema that
editors use (grader.spec.schema), so the two cannot disagree. The models are built when first
asked for, from the check kinds found in grader.checks: a new kind needs no edit here.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo

from grader.checks import CheckKind, check_kinds
from grader.spec.model import NON_BLANK, SPEC_CONFIG, Limits, Services, Timeouts

CHECK_ID = r"^[a-z0-9][a-z0-9-]*$"

CHECK_DISCRIMINATOR = "kind"


def common_check_fields() -> dict[str, Any]:
    """The keys every check has, whatever its kind, as create_model's (type, Field) pairs."""
    return {
        "id": (
            str,
            Field(
                pattern=CHECK_ID,
                description="The check's name in reports and on the command line: lower-case"
                " letters, digits and dashes, unique in the lab.",
            ),
        ),
        "title": (
            str,
            Field(pattern=NON_BLANK, description="What the check tests, in the students' words."),
        ),
        "points": (
            float,
            Field(
                ge=0,
                allow_inf_nan=False,
                description="What the check is worth when it passes: a number, 0 or more.",
            ),
        ),
        "hidden": (
            bool,
            Field(
                default=False,
                description="Graded, but students see only its points: not its name, feedback"
                " or captures.",
            ),
        ),
        "feedback": (
            str | None,
            Field(
                default=None,
                pattern=NON_BLANK,
                description="Advice added to the report when the check fails.",
            ),
        ),
    }


def model_name(kind_name: str) -> str:
    """`server_sends` -> `ServerSendsCheck`: the name of the kind's model in the schema."""
    return "".join(part.capitalize() for part in re.split(r"[_-]", kind_name)) + "Check"


def check_model(kind: CheckKind[Any]) -> type[BaseModel]:
    """A check of `kind` as written: the common keys, `kind` itself, and the kind's parameters.

    Raises TypeError when a parameter takes the name of a common key (a programming error).
    """
    params: dict[str, FieldInfo] = kind.params.__pydantic_fields__
    common = common_check_fields()
    clash = sorted(params.keys() & {*common, CHECK_DISCRIMINATOR})
    if clash:
        raise TypeError(f"check kind {kind.name}: parameters {clash} shadow common keys")
    kind_field = (
        Literal[kind.name],
        Field(description="Which check this is: the kind decides the other keys."),
    )
    fields: dict[str, Any] = {
        CHECK_DISCRIMINATOR: kind_field,
        **common,
        **{name: (info.annotation, copy.copy(info)) for name, info in params.items()},
    }
    model: type[BaseModel] = create_model(
        model_name(kind.name),
        __config__=SPEC_CONFIG,
        __doc__=kind.description,
        __validators__={"params_agree": params_agree(kind)},
        **fields,
    )
    return model


def params_agree(kind: CheckKind[Any]) -> Any:
    """A validator that runs the checks the kind's parameters make of each other (its
    dataclass's own model validators: "give one of stdout_line and stdout_contains")."""
    names = tuple(kind.params.__pydantic_fields__)

    def agree(check: BaseModel) -> BaseModel:
        try:
            kind.params(**{name: getattr(check, name) for name in names})
        except ValidationError as e:
            reasons = [
                str((error.get("ctx") or {}).get("error", error["msg"])) for error in e.errors()
            ]
            raise ValueError("; ".join(reasons)) from None
        return check

    return model_validator(mode="after")(agree)


@cache
def check_models() -> dict[str, type[BaseModel]]:
    """Every check kind's model, by kind name."""
    return {name: check_model(kind) for name, kind in sorted(check_kinds().items())}


def any_check() -> Any:
    """The type of one entry of `checks`: a union of the kinds' models discriminated on `kind`."""
    members = tuple(check_models().values())
    return Annotated[Union[members], Field(discriminator=CHECK_DISCRIMINATOR)]  # noqa: UP007


@cache
def one_check() -> TypeAdapter[Any]:
    """Validates one entry of `checks` on its own."""
    return TypeAdapter(any_check(), config=None)


def checks_field() -> Any:
    return (
        list[any_check()],  # type: ignore[misc]
        Field(min_length=1, description="The checks, in the order reports list them."),
    )


@cache
def lab_document() -> type[BaseModel]:
    """A spec.yaml as written."""
    model: type[BaseModel] = create_model(
        "LabSpecDocument",
        __config__=SPEC_CONFIG,
        __doc__="A socketlab lab: the student's programs, the limits they run under, and the"
        " checks that grade them.",
        id=(
            str,
            Field(
                pattern=NON_BLANK,
                description="The lab's id: the name of the directory that holds this spec.yaml.",
            ),
        ),
        title=(str, Field(pattern=NON_BLANK, description="The lab's title, as students read it.")),
        services=(
            Services,
            Field(default_factory=Services, description="The student's programs to grade."),
        ),
        timeouts=(
            Timeouts,
            Field(default_factory=Timeouts, description="How long the grader waits, in seconds."),
        ),
        limits=(
            Limits,
            Field(default_factory=Limits, description="What one student program may use."),
        ),
        checks=checks_field(),
    )
    return model


@cache
def hidden_checks_document() -> type[BaseModel]:
    """A hidden-checks file as written (see grader.spec.loader.load_spec)."""
    model: type[BaseModel] = create_model(
        "HiddenChecksDocument",
        __config__=SPEC_CONFIG,
        __doc__="Checks an instructor keeps out of the students' repository, all hidden.",
        lab=(
            str,
            Field(pattern=NON_BLANK, description="The id of the lab these checks are added to."),
        ),
        checks=checks_field(),
    )
    return model
