"""The one sentence a refused task gives, pinned: `interleave.task.explain`, used by the pure
planner (`plan_task`) and, with mxcubecore's parameter groups hidden, by the queue entry."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator, model_validator

from mxcubecore_interleave.interleave.task import explain
from mxcubecore_interleave.queue_entries.task_messages import GROUPS, readable


class _Inner(BaseModel):
    num_images: int
    exp_time: float

    @field_validator("exp_time")
    @classmethod
    def _positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be above 0 s")
        return v


class _Outer(BaseModel):
    path_parameters: _Inner
    sweeps: list[_Inner]


def _error(**data: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Outer(**data)
    return info.value


def test_each_problem_is_one_sentence_naming_its_field() -> None:
    exc = _error(path_parameters={"num_images": "x", "exp_time": -1}, sweeps=[{"exp_time": 1}])
    assert explain(exc) == (
        "invalid interleaved task: path_parameters.num_images: must be a valid integer, unable to parse "
        "string as an integer; path_parameters.exp_time: must be above 0 s; sweeps.0.num_images: is required")


def test_hidden_groups_are_dropped_from_the_field_name_only_at_the_start() -> None:
    exc = _error(path_parameters={"num_images": 1, "exp_time": 0}, sweeps=[])
    assert explain(exc, frozenset({"path_parameters"})) == "invalid interleaved task: exp_time: must be above 0 s"
    assert explain(exc, frozenset({"exp_time"})) == (
        "invalid interleaved task: path_parameters.exp_time: must be above 0 s")


def test_repeats_are_said_once() -> None:
    exc = _error(path_parameters={"num_images": 1, "exp_time": 0}, sweeps=[])
    # the same problem under two hidden-group names reads the same: one sentence
    doubled = ValidationError.from_exception_data("t", exc.errors() + [
        {**exc.errors()[0], "loc": ("common_parameters", "exp_time")}])
    assert explain(doubled, GROUPS) == "invalid interleaved task: exp_time: must be above 0 s"
    assert readable(doubled) == explain(doubled, GROUPS)


def test_a_whole_task_refusal_that_already_says_it_is_not_prefixed_twice() -> None:
    class _Whole(BaseModel):
        x: int = 0

        @model_validator(mode="after")
        def _refuse(self) -> "_Whole":
            raise ValueError("invalid interleaved task: no sweep")

    with pytest.raises(ValidationError) as info:
        _Whole(x=1)
    assert explain(info.value) == "invalid interleaved task: no sweep"
