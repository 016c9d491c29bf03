"""What a refused interleaved task says: the field and what is allowed, nothing of pydantic's internals.

mxcubecore's queue builder creates the task's DATA_MODEL with keyword arguments and mxcubeweb
answers ``str(exception)``: a pydantic ``ValidationError`` there reads "1 validation error for
InterleavedCollectionTaskParameters ... [type=value_error, input_value={'path_parameters': ...".
:class:`ReadableParameters` turns it into one ``ValueError`` sentence per problem, each naming
the field as the form shows it (``sweeps.0.num_images``, not the parameter group it came in).
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from ..interleave.task import explain

__all__ = ["GROUPS", "ReadableParameters", "TaskParametersError", "readable"]

# mxcubecore's parameter groups: the user does not see them, only the fields inside
GROUPS = frozenset({"path_parameters", "common_parameters", "collection_parameters",
                    "user_collection_parameters", "legacy_parameters", "lims_parameters"})


def readable(exc: ValidationError) -> str:
    """The sentences of ``exc`` with mxcubecore's parameter groups left out of the field names."""
    return explain(exc, GROUPS)


class TaskParametersError(ValueError):
    """A refused task: ``str()`` is :func:`readable`'s sentence; ``errors()`` is pydantic's list
    (locations and messages), for a form that outlines the field each one is about."""

    def __init__(self, exc: ValidationError) -> None:
        super().__init__(readable(exc))
        self._errors = exc.errors(include_url=False)

    def errors(self, **_kw: object) -> list:
        return list(self._errors)


class ReadableParameters(BaseModel):
    """A pydantic model whose construction refuses with :class:`TaskParametersError`."""

    def __init__(self, **data: object) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise TaskParametersError(exc) from None
