"""Documents checked against the JSON schemas the server publishes.

``jsonschema.validate`` checks the schema against its metaschema on every call, about
35 ms for Glance's image schema: more than the request it checks. A schema is checked
once here, and its validator kept for every document after.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema.protocols import Validator
from jsonschema.validators import validator_for


def conforms(document: Any, schema: dict[str, Any]) -> None:
    """Raises ``jsonschema.ValidationError`` unless ``document`` is valid by ``schema``
    (and ``SchemaError`` unless ``schema`` itself is valid), as ``jsonschema.validate``."""
    _validator(json.dumps(schema, sort_keys=True)).validate(document)


@cache
def _validator(schema_text: str) -> Validator:
    schema = json.loads(schema_text)
    kind = validator_for(schema)
    kind.check_schema(schema)
    return kind(schema)
