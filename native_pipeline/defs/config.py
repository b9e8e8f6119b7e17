"""The settings' models as Dagster config: the Launchpad's editor then knows every key and type.

Each settings model (native_pipeline.settings, which knows nothing of Dagster) is turned into a
`dg.Config` class of the same fields and defaults, so that a resource's config schema is the
settings file's schema: an unknown key or a wrong type is refused in the Launchpad before a run
starts. A path becomes a string, a tuple a list; the resource validates its values back into the
settings model once, with every range and rule of the model.
"""

import types
import typing
from functools import cache, cached_property
from pathlib import Path
from typing import Any, ClassVar, get_args, get_origin

import dagster as dg
from pydantic import BaseModel, Field, create_model


def _field_type(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return config_class(annotation)
    if annotation is Path:
        return str
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]  # the settings use X | None only
        if get_origin(inner) is typing.Literal:  # Dagster has no optional enum: the model checks
            return str | None
        return _field_type(inner) | None
    if origin is dict:
        return dict[str, _field_type(args[1])]
    if origin in (list, tuple):
        return list[_field_type(args[0])]
    return annotation


def _plain(value: Any) -> Any:
    """A default as Dagster config holds it: models as dicts, paths as strings, tuples as lists."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def config_class(model: type[BaseModel], base: type[dg.Config] = dg.Config) -> type[dg.Config]:
    """A subclass of `base` (a dg.Config, or a resource) with the fields and defaults of `model`,
    nested models included."""
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        default = _plain(field.get_default(call_default_factory=True))
        annotation = _field_type(field.annotation)
        if isinstance(annotation, type) and issubclass(annotation, dg.Config):
            default = annotation(**default)
        fields[name] = (annotation, Field(default=default, description=field.description))
    return create_model(f"{model.__name__}Config", __base__=base, **fields)


class SettingsResource(dg.ConfigurableResource):
    """A section of the config as a resource: make one with
    `class R(config_class(SomeSettings, SettingsResource))` and `settings_model = SomeSettings`.
    Its fields are the model's (so the Launchpad knows them); `settings` is the model itself,
    validated once."""

    settings_model: ClassVar[type[BaseModel]]

    @cached_property
    def settings(self) -> Any:
        return self.settings_model.model_validate(self.model_dump())
