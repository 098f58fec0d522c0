"""One YAML loader for every file kind: line-aware errors, "did you mean", a schema registry.

Every YAML file segbridge reads (segbridge.yaml, mapping files, policy tables, connector
manifests) goes through `load_yaml_model`, so every one reports mistakes the same way:

    segbridge.yaml:7:3: systems.sap.kindd: unknown key
      hint: did you mean 'kind'?

`register_kind(name, Model)` adds a file kind to `segbridge config schema`, which writes a
JSON Schema per kind so editors validate the files as they are typed.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from basics import secrets
from basics.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
_KINDS: dict[str, type[BaseModel]] = {}


class StrictModel(BaseModel):
    """Base of every YAML file model: unknown keys are errors (so typos are caught, with a suggestion)."""

    model_config = ConfigDict(extra="forbid")
    _document: Any = PrivateAttr(default=None)


def register_kind(name: str, model: type[BaseModel]) -> type[BaseModel]:
    """Register a YAML file kind for `segbridge config schema` (idempotent)."""
    _KINDS[name] = model
    return model


def registered_kinds() -> dict[str, type[BaseModel]]:
    return dict(_KINDS)


def write_schemas(out_dir: Path) -> list[Path]:
    """Write `<kind>.schema.json` for every registered kind; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in sorted(_KINDS.items()):
        schema = model.model_json_schema()
        schema.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
        schema.setdefault("title", f"segbridge {name} file")
        path = out_dir / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- YAML with positions


@dataclass
class YamlDocument:
    """Parsed YAML plus where each key path sits in the file."""

    path: Path
    data: Any
    marks: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: tuple) -> str:
        """`file:line:col` of the deepest known prefix of `loc`."""
        for n in range(len(loc), -1, -1):
            mark = self.marks.get(tuple(loc[:n]))
            if mark:
                return f"{self.path}:{mark[0]}:{mark[1]}"
        return f"{self.path}:1:1"


class _NoDuplicatesLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise ConfigError(
                f"{mark.name}:{mark.line + 1}:{mark.column + 1}: duplicate key {key!r}",
                hint=f"the key is already set at line {seen[key]}; keep one",
            )
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_NoDuplicatesLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _collect_marks(node: yaml.Node | None, loc: tuple, marks: dict) -> None:
    if node is None:
        return
    marks.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key_loc = loc + (key_node.value,)
            marks[key_loc] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _collect_marks(value_node, key_loc, marks)
            marks[key_loc] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_marks(item, loc + (i,), marks)


MAX_ALIASES = 100
"""A document may use at most this many aliases (`*name`): more is refused (alias bombs)."""
MAX_NODES = 1_000_000
"""A document's size with every alias expanded may be at most this many nodes ("billion laughs")."""


class _BoundedLoader(_NoDuplicatesLoader):
    """The duplicate-refusing SafeLoader that also counts aliases while it composes."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    f"{mark.name}:{mark.line + 1}:{mark.column + 1}: more than {MAX_ALIASES} YAML aliases "
                    "(*name) in one file; refused",
                    hint="write the values out, or split the file (many aliases is how alias bombs work)",
                )
        return super().compose_node(parent, index)


def _check_expanded_size(root: yaml.Node | None, path: Path) -> None:
    """Refuse a node graph whose alias-expanded size exceeds MAX_NODES, or that refers to itself.

    Shared (aliased) nodes are sized once, so the check costs the size of the graph, not of
    its expansion: a "billion laughs" document is refused after a few dozen additions."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            mark = node.start_mark
            raise ConfigError(f"{path}:{mark.line + 1}:{mark.column + 1}: a YAML alias refers to the node "
                              "that contains it; refused", hint="remove the recursive alias")
        busy.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node) + size(value_node)
                if total > MAX_NODES:
                    break
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_NODES:
                    break
        busy.discard(key)
        if total > MAX_NODES:
            mark = node.start_mark
            raise ConfigError(
                f"{path}:{mark.line + 1}:{mark.column + 1}: with its aliases expanded the YAML here exceeds "
                f"{MAX_NODES:,} nodes; refused",
                hint="write the values out without nested aliases (this is how alias bombs work)",
            )
        sizes[key] = total
        return total

    if root is not None:
        size(root)


def _line_col(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at `index`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _decode(raw: bytes, path: Path) -> str:
    """UTF-8 text of a file; anything else is a ConfigError naming the byte position."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}:{line}:{col}: not UTF-8 text: byte 0x{raw[exc.start]:02X} at byte offset {exc.start}",
            hint="save the file as UTF-8 (it looks like another encoding, e.g. Latin-1 or Windows-1252)",
        ) from None


def read_yaml(path: str | Path, text: str | None = None) -> YamlDocument:
    """Parse a YAML file, keeping positions; every problem becomes a ConfigError with the position.

    Bounded: a non-UTF-8 file, a NUL byte, more than MAX_ALIASES aliases or more than MAX_NODES
    nodes once aliases are expanded are refused before any large structure is built."""
    path = Path(path)
    if text is None:
        if not path.is_file():
            raise ConfigError(f"{path}: file not found", hint="check the path (relative paths start at the config file)")
        text = _decode(path.read_bytes(), path)
    data, marks = (_parsed if len(text) <= CACHED_TEXT_MAX else _parse)(text, str(path))
    return YamlDocument(path=path, data=copy.deepcopy(data), marks=dict(marks))


def _parse(text: str, shown: str) -> tuple[Any, dict]:
    """Data and marks of one file's text (`shown` is the path errors name)."""
    path = Path(shown)
    nul = text.find("\0")
    if nul >= 0:
        line, col = _line_col(text, nul)
        raise ConfigError(f"{path}:{line}:{col}: NUL byte in the file (is it binary or corrupted?)",
                          hint="remove the NUL byte; configuration files are plain UTF-8 text")
    loader = None
    try:
        loader = _BoundedLoader(_named(text, path))  # the reader checks the first characters already
        node = loader.get_single_node()
        _check_expanded_size(node, path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem}", hint="fix the YAML syntax at that position") from None
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(f"{path}:{line}:{col}: control character U+{code:04X} is not allowed in YAML",
                          hint="remove the control character; configuration files are plain UTF-8 text") from None
    except RecursionError:
        raise ConfigError(f"{path}: the YAML is nested too deeply", hint="flatten the structure") from None
    finally:
        if loader is not None:
            loader.dispose()
    marks: dict = {}
    _collect_marks(node, (), marks)
    return ({} if data is None else data), marks


# A cycle loads the same mapping files dozens of times and the pure-Python parser was a tenth of its
# CPU time: texts up to CACHED_TEXT_MAX characters are parsed once per content. Keyed on the text
# itself, so an edited file is parsed again; read_yaml hands every caller its own deep copy.
CACHED_TEXT_MAX = 1_000_000
_parsed = functools.lru_cache(maxsize=128)(_parse)


def _named(text: str, path: Path):
    import io

    stream = io.StringIO(text)
    stream.name = str(path)
    return stream


# --------------------------------------------------------------------------- validation errors


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(model: Any, loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the keys at `loc` (following dicts, lists and unions)."""
    current: list[Any] = [model]
    for part in loc:
        nxt: list[Any] = []
        for ann in current:
            for typ in _unwrap(ann):
                origin = typing.get_origin(typ)
                if isinstance(typ, type) and issubclass(typ, BaseModel) and isinstance(part, str):
                    fld = typ.model_fields.get(part) or next(
                        (f for f in typ.model_fields.values() if f.alias == part), None
                    )
                    if fld is not None:
                        nxt.append(fld.annotation)
                elif origin in (dict, typing.Dict) or origin is dict:  # noqa: UP006
                    nxt.append(typing.get_args(typ)[1])
                elif origin in (list, tuple, set) and isinstance(part, int):
                    nxt.append(typing.get_args(typ)[0])
        current = nxt
    for ann in current:
        for typ in _unwrap(ann):
            if isinstance(typ, type) and issubclass(typ, BaseModel):
                return typ
    return None


def _valid_keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def suggest(word: str, choices: list[str]) -> str | None:
    """The nearest valid name, or None ("did you mean ...")."""
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    return close[0] if close else None


def _key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def format_validation_error(doc: YamlDocument, model: type[BaseModel], exc: ValidationError,
                            prefix: tuple = ()) -> ConfigError:
    """Turn pydantic errors into one ConfigError naming file:line, key path and a suggestion."""
    lines, hints = [], []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        full = prefix + loc
        where = doc.where(full)
        if err["type"] == "extra_forbidden":
            valid = _valid_keys(_model_at(model, loc[:-1]))
            guess = suggest(loc[-1], valid) if loc else None
            lines.append(f"{where}: {_key_path(full)}: unknown key")
            hints.append(f"did you mean '{guess}'?" if guess else f"valid keys here: {', '.join(valid)}")
        else:
            msg = err["msg"]
            if err["type"] == "literal_error" and loc:
                guess = suggest(str(err.get("input")), [str(x) for x in _literal_choices(err)])
                if guess:
                    hints.append(f"did you mean '{guess}'?")
            lines.append(f"{where}: {_key_path(full)}: {msg}")
    hint = "; ".join(dict.fromkeys(hints)) or "see `segbridge config schema` for the valid keys"
    return ConfigError("\n".join(lines), hint=hint)


def _literal_choices(err: dict) -> list[str]:
    expected = (err.get("ctx") or {}).get("expected", "")
    return [part.strip().strip("'\"") for part in expected.replace(" or ", ",").split(",") if part.strip()]


def validate_data(doc: YamlDocument, data: Any, model: type[M], prefix: tuple = (),
                  context: dict | None = None) -> M:
    """Validate a sub-tree of `doc` (at `prefix`) against `model` with line-aware errors."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise format_validation_error(doc, model, exc, prefix) from None


def refuse_url_secrets(doc: YamlDocument) -> None:
    """A literal secret in a URL's query string (`?api_key=hunter2`) is refused like a literal
    password: the error names the field, never the value."""
    found = list(secrets.literal_url_secrets(doc.data))
    if found:
        raise ConfigError(
            "\n".join(f"{doc.where(loc)}: {_key_path(loc)}: the URL's query parameter '{param}' holds a "
                      "literal secret" for loc, param in found),
            hint="use an ${ENV_VAR} reference, e.g. ?api_key=${API_KEY}, and export the variable "
                 "(secrets never go in files)",
        )


def load_yaml_model(path: str | Path, model: type[M], context: dict | None = None) -> M:
    """Read and validate a YAML file of one kind.

    Example:
        >>> cfg = load_yaml_model("segbridge.yaml", SegbridgeConfig)   # doctest: +SKIP
    """
    doc = read_yaml(path)
    refuse_url_secrets(doc)
    result = validate_data(doc, doc.data, model, context=context)
    if isinstance(result, StrictModel):
        result._document = doc
    return result


def document_of(model: BaseModel) -> YamlDocument | None:
    """The YamlDocument a model was loaded from (for line-aware errors in later checks)."""
    return getattr(model, "_document", None)
