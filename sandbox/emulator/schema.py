"""Request validation against Telegram's machine-readable Bot API description (``telegram_api/api.json``).

Telegram accepts parameters as a JSON body, as form fields or as multipart/form-data; in the last two every
value is a string and objects are JSON-serialised. :meth:`ApiSchema.validate` turns such raw parameters
into typed Python values (int, float, bool, str, dict, list, :class:`UploadedFile`) or raises
:class:`ApiError` with a Bot API style description. It is stricter than Telegram in one respect: a parameter
or object field that the method or type does not have is an error instead of being ignored, so that a typo
in the bot fails a test instead of silently doing nothing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_JSON = Path(__file__).with_name("telegram_api") / "api.json"
_PRIMITIVES = frozenset({"Integer", "Float", "Boolean", "String", "InputFile"})
_CONST = re.compile(r'(?:must be|always) "?([a-z_]+)"?')


# python-telegram-bot fills these from its Defaults into every request that goes through its generic send path,
# editMessageReplyMarkup included, where Telegram ignores them. They are dropped here like Telegram does,
# rather than rejected as a bot's own unknown field would be.
DEFAULTS_PTB_INJECTS = frozenset({"parse_mode", "link_preview_options"})


class ApiError(Exception):
    """A Bot API error answer: HTTP status, Telegram's description, optional retry_after."""

    def __init__(
        self, status: int, description: str, retry_after: int | None = None, migrate_to_chat_id: int | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return body


def bad_request(message: str) -> ApiError:
    return ApiError(400, f"Bad Request: {message}")


def forbidden(message: str) -> ApiError:
    return ApiError(403, f"Forbidden: {message}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


class _Mismatch(Exception):
    """The value does not fit one candidate type; ``depth`` tells how far into the value it got."""

    def __init__(self, message: str, depth: int = 0) -> None:
        super().__init__(message)
        self.depth = depth


@dataclass(frozen=True)
class _Field:
    name: str
    types: tuple[str, ...]
    required: bool
    const: str | None  # the discriminator value of a subtype's "type"/"status"/"source" field


class ApiSchema:
    """Methods and types of one api.json; load it once with :func:`load_schema`."""

    def __init__(self, path: Path = API_JSON) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        self.version: str = raw.get("version", "")
        self.methods: dict[str, dict[str, _Field]] = {}
        self.returns: dict[str, list[str]] = {}
        self._by_lower: dict[str, str] = {}
        for name, method in raw["methods"].items():
            self.methods[name] = {f["name"]: self._field(f) for f in method.get("fields", [])}
            self.returns[name] = list(method.get("returns", []))
            self._by_lower[name.lower()] = name
        self.types: dict[str, dict[str, _Field]] = {}
        self.subtypes: dict[str, list[str]] = {}
        for name, type_ in raw["types"].items():
            self.types[name] = {f["name"]: self._field(f) for f in type_.get("fields", [])}
            if type_.get("subtypes"):
                self.subtypes[name] = list(type_["subtypes"])

    @staticmethod
    def _field(raw: Mapping[str, Any]) -> _Field:
        const = None
        if raw["name"] in ("type", "status", "source") and raw["types"] == ["String"]:
            match = _CONST.search(raw.get("description", ""))
            const = match.group(1) if match else None
        return _Field(raw["name"], tuple(raw["types"]), bool(raw["required"]), const)

    def canonical_method(self, name: str) -> str | None:
        """The method's official spelling (names are case-insensitive), or None if there is none."""
        return self._by_lower.get(name.lower())

    def validate(
        self, method: str, params: Mapping[str, Any], files: Mapping[str, UploadedFile] | None = None
    ) -> dict[str, Any]:
        """Typed parameters of a call of ``method`` (canonical name); :class:`ApiError` 400 if invalid."""
        files = files or {}
        fields = self.methods[method]
        params = {k: v for k, v in params.items() if not (k in DEFAULTS_PTB_INJECTS and k not in fields)}
        for name in params:
            if name not in fields:
                raise bad_request(f"unknown parameter '{name}' for method {method}")
        for name in files:
            referenced = any(isinstance(v, str) and f"attach://{name}" in v for v in params.values())
            if name not in fields and not referenced:
                raise bad_request(f"unknown parameter '{name}' for method {method}")
        result: dict[str, Any] = {}
        for name, spec in fields.items():
            value = params.get(name)
            if value is None and name in files:
                value = files[name]
            if value is None:
                if spec.required:
                    raise bad_request(_missing_message(method, name))
                continue
            try:
                if isinstance(value, str) and "String" not in spec.types:
                    if any(t not in _PRIMITIVES for t in spec.types):
                        value = _json(value)
                result[name] = self._coerce(value, spec.types, files)
            except _Mismatch as exc:
                raise bad_request(f"can't parse parameter '{name}': {exc}") from None
        return result

    def _coerce(self, value: Any, types: tuple[str, ...], files: Mapping[str, UploadedFile]) -> Any:
        failures: list[_Mismatch] = []
        for type_ in types:
            try:
                return self._coerce_one(value, type_, files)
            except _Mismatch as exc:
                failures.append(exc)
        raise _best(failures, f"expected {' or '.join(types)}")

    def _coerce_one(self, value: Any, type_: str, files: Mapping[str, UploadedFile]) -> Any:
        if type_.startswith("Array of "):
            if not isinstance(value, list):
                raise _Mismatch(f"expected {type_}, got {_kind(value)}")
            item_types = tuple(t.strip() for t in re.split(r",| and | or ", type_[len("Array of ") :]))
            items: list[Any] = []
            for index, item in enumerate(value):
                try:
                    items.append(self._coerce(item, item_types, files))
                except _Mismatch as exc:
                    raise _Mismatch(f"item {index}: {exc}", exc.depth + 1) from None
            return items
        if type_ == "Integer":
            if isinstance(value, bool):
                raise _Mismatch("expected Integer, got Boolean")
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
                return int(value)
            raise _Mismatch(f"expected Integer, got {_kind(value)}")
        if type_ == "Float":
            if isinstance(value, bool):
                raise _Mismatch("expected Float, got Boolean")
            if isinstance(value, int | float):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise _Mismatch(f"expected Float, got {_kind(value)}")
        if type_ == "Boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            raise _Mismatch(f"expected Boolean, got {_kind(value)}")
        if type_ == "String":
            if isinstance(value, str):
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
            raise _Mismatch(f"expected String, got {_kind(value)}")
        if type_ == "InputFile":
            if isinstance(value, UploadedFile):
                return value
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                return files[value[9:]]
            raise _Mismatch("expected an uploaded file")
        if type_ in self.subtypes:
            failures: list[_Mismatch] = []
            for subtype in self.subtypes[type_]:
                try:
                    return self._coerce_one(value, subtype, files)
                except _Mismatch as exc:
                    failures.append(exc)
            if all(f.depth < 0 for f in failures):
                raise _Mismatch(f"{type_}: unsupported kind {json.dumps(value)[:100]}")
            raise _best(failures, f"expected {type_}")
        if type_ in self.types:
            if not isinstance(value, dict):
                raise _Mismatch(f"expected {type_} object, got {_kind(value)}", -1)
            fields = self.types[type_]
            for name, spec in fields.items():
                if spec.const is not None and name in value and value[name] != spec.const:
                    raise _Mismatch(f"{type_}.{name} must be '{spec.const}'", -1)
            for key in value:
                if key not in fields:
                    raise _Mismatch(f"{type_} has no field '{key}'")
            result: dict[str, Any] = {}
            for name, spec in fields.items():
                item = value.get(name)
                if item is None:
                    if spec.required:
                        raise _Mismatch(f"{type_} requires field '{name}'")
                    continue
                try:
                    result[name] = self._coerce(item, spec.types, files)
                except _Mismatch as exc:
                    raise _Mismatch(f"{type_}.{name}: {exc}", exc.depth + 1) from None
            return result
        raise _Mismatch(f"unknown type {type_}")


def _best(failures: list[_Mismatch], summary: str) -> _Mismatch:
    """The explanation of the candidate type that matched the value furthest."""
    if len(failures) == 1:
        return failures[0]
    deepest = max(f.depth for f in failures)
    best = list(dict.fromkeys(str(f) for f in failures if f.depth == deepest))
    if len(best) == 1 and deepest >= 0:
        return _Mismatch(best[0], deepest)
    return _Mismatch(f"{summary} ({'; '.join(best)})", deepest)


def _json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        raise _Mismatch("can't parse JSON object") from None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, UploadedFile):
        return "InputFile"
    return type(value).__name__


_MISSING = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "callback_query_id": "query_id is empty",
    "document": "there is no document in the request",
    "photo": "there is no photo in the request",
    "file_id": "file_id is empty",
    "message_id": "message identifier is not specified",
}


def _missing_message(method: str, name: str) -> str:
    return _MISSING.get(name, f"parameter '{name}' is required")


@functools.cache
def load_schema(path: Path = API_JSON) -> ApiSchema:
    """The schema, parsed once per process."""
    return ApiSchema(path)
