"""The inputs of the OGC processes, as pydantic models.

One model per process. The process description's ``inputs`` (OGC API - Processes, one
JSON Schema per input with ``minOccurs``/``maxOccurs``) is generated from the model's
``model_json_schema()`` (:meth:`ProcessInputs.ogc_inputs`), and a request's inputs are
checked by ``model_validate`` (:meth:`ProcessInputs.parse`), so the two cannot drift apart.

Inputs are JSON values checked strictly: an integer is a JSON integer (not ``2000.5``,
not ``"7"``, not ``true``), an unknown input name is refused, and ``null`` means the input
was not given. The field id and the bounds that come from the settings (draws, seed) are
filled in by :func:`delineate_inputs` and :func:`build_footprint_inputs`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails

from footprint.concepts import DelineationMode
from footprint.errors import InvalidParameterError
from footprint.params import ParameterSheet

#: JSON Schema type named in the message of each pydantic type error.
_TYPE_ERRORS = {"int_type": "integer", "int_from_float": "integer", "int_parsing": "integer",
                "string_type": "string", "dict_type": "object", "bool_type": "boolean",
                "float_type": "number", "list_type": "array"}


class ProcessInputs(BaseModel):
    """Base of every process's inputs: no unknown names, strict JSON types, null = absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the process these inputs are for (named in error messages)
    process_id: ClassVar[str] = ""
    #: inputs whose JSON Schema is another model's (a JSON object validated as that model)
    described_by: ClassVar[dict[str, type[BaseModel]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {name: value for name, value in data.items() if value is not None}
        return data

    @classmethod
    def ogc_inputs(cls) -> dict[str, dict[str, Any]]:
        """The ``inputs`` of the OGC process description, from the model's JSON Schema.

        Each property becomes an input: its title and description move to the input, the
        rest is its ``schema``; required properties have ``minOccurs`` 1.
        """
        schema = cls.model_json_schema()
        definitions = schema.get("$defs", {})
        required = set(schema.get("required", ()))
        inputs = {}
        for name, prop in schema["properties"].items():
            prop = dict(prop)
            described = {"title": prop.pop("title", name)}
            if "description" in prop:
                described["description"] = prop.pop("description")
            described["schema"] = (cls.described_by[name].model_json_schema()
                                   if name in cls.described_by
                                   else _input_schema(prop, definitions))
            described["minOccurs"] = 1 if name in required else 0
            described["maxOccurs"] = 1
            inputs[name] = described
        return inputs

    @classmethod
    def parse(cls, inputs: Any) -> dict[str, Any]:
        """The inputs of a request, checked, with defaults filled in (JSON values).

        Raises
        ------
        InvalidParameterError
            Naming every bad input.
        """
        if inputs is None:
            inputs = {}
        if not isinstance(inputs, dict):
            raise InvalidParameterError("'inputs' must be a JSON object")
        try:
            model = cls.model_validate(inputs)
        except ValidationError as error:
            problems = "; ".join(_problem(item) for item in error.errors())
            raise InvalidParameterError(
                f"invalid inputs for process '{cls.process_id}': {problems}") from None
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _input_schema(prop: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """One input's JSON Schema: an enum's ``$ref`` resolved, a ``null`` default dropped
    (an optional input without a default is simply left out)."""
    if "$ref" in prop:
        target = dict(definitions[prop.pop("$ref").rsplit("/", 1)[1]])
        target.pop("title", None)
        target.pop("description", None)  # the input's own description is said
        prop = {**target, **prop}
    if "anyOf" in prop:  # X | None: null is "not given", so the schema is X's
        options = [option for option in prop.pop("anyOf") if option.get("type") != "null"]
        (only,) = options
        prop = {**_input_schema(dict(only), definitions), **prop}
    if prop.get("default", 0) is None:
        prop.pop("default")
    return prop


def _problem(error: ErrorDetails) -> str:
    """One validation error in words, naming the input."""
    kind, context = error["type"], error.get("ctx", {})
    name = str(error["loc"][0]) if error["loc"] else ""
    if kind == "extra_forbidden":
        return f"unknown input '{name}'"
    if kind == "missing":
        return f"input '{name}' is required"
    if kind in _TYPE_ERRORS:
        return f"input '{name}' must be of type {_TYPE_ERRORS[kind]}"
    words = {"literal_error": lambda: f"must be one of {context.get('expected')}",
             "enum": lambda: f"must be one of {context.get('expected')}",
             "greater_than_equal": lambda: f"must be >= {context.get('ge')}",
             "less_than_equal": lambda: f"must be <= {context.get('le')}",
             "string_pattern_mismatch": lambda: f"must match {context.get('pattern')}",
             "string_too_long": lambda: f"must be at most {context.get('max_length')} "
                                        "characters"}
    if kind in words:
        return f"input '{name}' {words[kind]()}"
    return f"input '{name}': {error['msg']}"


# --------------------------------------------------------------------------------------
# the inputs of each process
# --------------------------------------------------------------------------------------
_FIELD_TEXT = "Id of a field of the catalogue (GET /collections/fields/items)."
_SEED_TEXT = ("Base seed of the Monte Carlo draws (same seed, same draws); the field's own "
              "seed is derived from it and its id.")
_MODE_TEXT = ("terrain (DEM valley bottoms), rivers (river buffers) or polygons (uploaded "
              "deposit polygons); default: the best the field's layers allow.")
_DRAWS_TEXT = "Number of Monte Carlo draws (at most FOOTPRINT_MAX_DRAWS)."
_VERSION_TEXT = ("Pin footprint versions: N (a participant with one field) or "
                 "FIELD:N[,FIELD:N]; default the latest stored.")


def _field_input(field_ids: tuple[str, ...]) -> Any:
    """The ``field`` input: one of the catalogue's ids."""
    return (Literal[field_ids], Field(title="Field", description=_FIELD_TEXT))


class DelineateInputs(ProcessInputs):
    """Inputs of ``delineate`` (``field`` is narrowed to the catalogue's ids by
    :func:`delineate_inputs`)."""

    process_id: ClassVar[str] = "delineate"

    field: str = Field(title="Field", description=_FIELD_TEXT)
    mode: DelineationMode | None = Field(None, title="Delineation mode",
                                         description=_MODE_TEXT)


class BuildFootprintInputs(ProcessInputs):
    """Inputs of ``build-footprint`` (``field`` is narrowed to the catalogue's ids, and
    ``seed`` and ``draws`` take the settings' defaults, by :func:`build_footprint_inputs`).

    ``parameters`` is described by :class:`footprint.params.ParameterSheet`'s own JSON
    Schema, so the API and the sheets in ``datasets/parameters`` cannot drift apart; it is
    validated as a sheet by the process's ``check`` (:func:`api.processes.build_sheet`).
    """

    process_id: ClassVar[str] = "build-footprint"

    field: str = Field(title="Field", description=_FIELD_TEXT)
    seed: int = Field(20081106, strict=True, ge=0, title="Seed", description=_SEED_TEXT)
    draws: int = Field(20_000, strict=True, ge=100, le=200_000, title="Draws",
                       description=_DRAWS_TEXT)
    described_by: ClassVar[dict[str, type[BaseModel]]] = {"parameters": ParameterSheet}

    parameters: dict[str, Any] | None = Field(
        None, strict=True, title="Parameter sheet",
        description="A parameter sheet replacing the field's stored one "
                    "(datasets/parameters/<field>.yaml); same schema.")


Year = Annotated[int, Field(strict=True, ge=2003, le=2100)]


class AnomalyReportInputs(ProcessInputs):
    """Inputs of ``anomaly-report``: a participant and a period of years."""

    process_id: ClassVar[str] = "anomaly-report"

    participant: str = Field(strict=True, pattern=r"^[A-Z]{3}$", title="Participant",
                             description="ISO3 code of the KP participant "
                                         "(GHA, CIV, TGO, ZWE).")
    year_from: Year = Field(alias="from", title="First year")
    year_to: Year = Field(alias="to", title="Last year")
    version: str | None = Field(None, strict=True, max_length=500,
                                title="Footprint versions", description=_VERSION_TEXT)


class CalibrateInputs(AnomalyReportInputs):
    """Inputs of ``calibrate-protocols``: a report's, and the replicates and their seed."""

    process_id: ClassVar[str] = "calibrate-protocols"

    reps: int = Field(1000, strict=True, ge=1, le=5000, title="Honest replicates")
    seed: int = Field(0, strict=True, ge=0, le=2**32 - 1, title="Base seed")


def delineate_inputs(field_ids: tuple[str, ...]) -> type[ProcessInputs]:
    """The inputs model of ``delineate`` for a catalogue of ``field_ids``."""
    model: type[ProcessInputs] = create_model(
        "DelineateInputs", __base__=DelineateInputs, field=_field_input(field_ids))
    return model


def build_footprint_inputs(field_ids: tuple[str, ...], *, seed_default: int,
                           draws_default: int, draws_max: int) -> type[ProcessInputs]:
    """The inputs model of ``build-footprint`` for a catalogue and the settings' defaults.

    ``draws_max`` bounds the work (CPU, memory, the Parquet of draws) one request may ask
    for (``FOOTPRINT_MAX_DRAWS``).
    """
    model: type[ProcessInputs] = create_model(
        "BuildFootprintInputs", __base__=BuildFootprintInputs,
        field=_field_input(field_ids),
        seed=(int, Field(seed_default, strict=True, ge=0, title="Seed",
                         description=_SEED_TEXT)),
        draws=(int, Field(draws_default, strict=True, ge=100, le=max(draws_max, draws_default),
                          title="Draws", description=_DRAWS_TEXT)))
    return model
