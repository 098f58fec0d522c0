"""Load and check mapping files: schema (pydantic), then meaning (canonical model, transforms, targets).

`load_mapping(path)` returns a ready MappingFile or raises one ConfigError listing every
problem as `file:line:column: key.path: message` with the nearest valid name. `check_paths`
is what `segbridge validate` runs over `mappings/*.yaml` (exit 2 on any problem).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from basics.errors import ConfigError
from basics.yaml_loader import document_of, format_validation_error, load_yaml_model, read_yaml, suggest
from core.mapping.context import Conversions
from core.mapping.mapper import canonical_types
from core.mapping.shared_reads import shared_read_issues
from core.mapping.spec import EntityMapping, MappingFile
from core.mapping.transforms import REGISTRY, check_params, parse_step
from core.model import CANONICAL_ENTITIES

_COMPATIBLE = {str: {"str"}, float: {"float", "int"}, int: {"int"}, date: {"date"},
               datetime: {"datetime"}, bool: {"bool"}}


@dataclass
class Issue:
    where: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" + (f"\n  hint: {self.hint}" if self.hint else "")


def load_mapping(path: str | Path, check: bool = True) -> MappingFile:
    """Read a mapping file, resolve its code lists and conversions, and check it against the model."""
    path = Path(path)
    mf = load_yaml_model(path, MappingFile)
    for name, em in mf.entities.items():
        em.name = name
        em._file = _shown(path)
        em.number_format = em.number_format or mf.number_format  # the file's default, unless the entity has one
    issues = _resolve_codelists(mf, path) + _attach_conversions(mf, path)
    if check:
        issues += check_mapping(mf)
    if issues:
        raise ConfigError("\n".join(str(i) for i in issues),
                          hint=f"{len(issues)} problem(s) in {path}; docs/mapping.md describes the format")
    return mf


def _shown(path: Path) -> str:
    """The file as a user finds it: relative to the working folder when under it (`mappings/sap.yaml`)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


def check_paths(paths: list[str | Path]) -> list[ConfigError]:
    """Every file's problems (for `segbridge validate`); an empty list means all files are valid."""
    errors: list[ConfigError] = []
    for path in paths:
        try:
            load_mapping(path)
        except ConfigError as exc:
            errors.append(exc)
    return errors


def check_stream_options(mf: MappingFile, model: type[BaseModel], reader: str) -> list[Issue]:
    """Every entity's `source.options` against the reading connector's typed `StreamOptions` (`model`):
    an unknown key (`selct:`) or a wrong type is an issue at the option's line, with the nearest valid
    key. `reader` names who reads the file ("system sap (sap_odata)"): a mapping read by systems of
    different kinds is checked once per kind, against the kind of each system that uses it."""
    issues: list[Issue] = []
    doc = document_of(mf)
    for ename, em in mf.entities.items():
        try:
            model.model_validate(em.source.options or {})
        except ValidationError as exc:
            loc = ("entities", ename, "source", "options")
            if doc is None:
                issues.append(Issue("<mapping>", f"{'.'.join(loc)}: {exc.errors()[0]['msg']} (read by {reader})"))
                continue
            err = format_validation_error(doc, model, exc, prefix=loc)
            for line in err.message.splitlines():
                where, _, message = line.partition(": ")
                issues.append(Issue(where, f"{message} (read by {reader})", err.hint))
    return issues


def mapping_files(folder: str | Path) -> list[Path]:
    """The mapping files in a folder: top-level YAML files with an `entities:` section (not policies etc.)."""
    out = []
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            data = read_yaml(path).data  # the bounded loader (alias bombs, NUL bytes, encodings)
        except ConfigError:
            data = {"entities": None}  # broken file: let load_mapping report it with its position
        if isinstance(data, dict) and "entities" in data:
            out.append(path)
    return out


def _where(mf: MappingFile, *loc: Any) -> str:
    doc = document_of(mf)
    return doc.where(tuple(loc)) if doc else "<mapping>"


def _load_yaml(base: Path, rel: str) -> Any:
    target = (base.parent / rel).resolve()
    if not target.is_file():
        raise FileNotFoundError(str(target))
    return read_yaml(target).data or {}


def _resolve_codelists(mf: MappingFile, path: Path) -> list[Issue]:
    """Inline file code lists and inject them into `map` steps that name a `codelist`."""
    issues, tables = [], {}
    for name, spec in mf.codelists.items():
        if isinstance(spec, dict):
            tables[name] = spec.get("values", spec)
            continue
        try:
            tables[name] = _load_yaml(path, spec).get("values", {})
        except FileNotFoundError as exc:
            issues.append(Issue(_where(mf, "codelists", name), f"code list file not found: {exc}"))
    for loc, step in _all_steps(mf):
        if isinstance(step, dict) and "map" in step and isinstance(step["map"], dict):
            ref = step["map"].get("codelist")
            if ref is not None and ref not in tables:
                guess = suggest(ref, list(tables))
                issues.append(Issue(_where(mf, *loc), f"unknown code list {ref!r}",
                                    f"did you mean '{guess}'?" if guess else f"define it under codelists: ({', '.join(tables)})"))
            elif ref is not None:
                step["map"]["values"] = dict(tables[ref])
    return issues


def _attach_conversions(mf: MappingFile, path: Path) -> list[Issue]:
    """Load the generic unit conversions file (from, to, factor) named by `conversions:`."""
    conv = Conversions()
    if mf.conversions:
        try:
            data = _load_yaml(path, mf.conversions)
        except FileNotFoundError as exc:
            return [Issue(_where(mf, "conversions"), f"conversions file not found: {exc}")]
        for row in data.get("conversions", []):
            conv.generic[(str(row["from"]).upper(), str(row["to"]).upper())] = float(row["factor"])
            if row.get("reversible", True):
                conv.generic[(str(row["to"]).upper(), str(row["from"]).upper())] = 1.0 / float(row["factor"])
    for em in mf.entities.values():
        em._conversions = conv
    return []


def _all_steps(mf: MappingFile):
    for ename, em in mf.entities.items():
        for fname, rule in em.fields.items():
            for i, step in enumerate(rule.transforms):
                yield ("entities", ename, "fields", fname, "transforms", i), step
        if em.reverse:
            for part in ("key", "fields"):
                for fname, rule in getattr(em.reverse, part).items():
                    for i, step in enumerate(rule.transforms):
                        yield ("entities", ename, "reverse", part, fname, "transforms", i), step


# --------------------------------------------------------------------------- meaning checks


def check_mapping(mf: MappingFile) -> list[Issue]:
    """Problems that the schema cannot see: names, transforms, types, reverse targets, metadata."""
    issues: list[Issue] = []
    catalogue = _catalogue(mf, issues)
    issues += [Issue(_where(mf, *loc), message, hint) for loc, message, hint in shared_read_issues(mf)]
    for ename, em in mf.entities.items():
        if em.target not in CANONICAL_ENTITIES:
            guess = suggest(em.target, list(CANONICAL_ENTITIES))
            issues.append(Issue(_where(mf, "entities", ename, "target"), f"unknown canonical entity {em.target!r}",
                                f"did you mean '{guess}'?" if guess else f"valid: {', '.join(CANONICAL_ENTITIES)}"))
            continue
        issues += _check_fields(mf, ename, em)
        issues += _check_extras(mf, ename, em)
        if catalogue is not None:
            issues += _check_catalogue(mf, ename, em, catalogue)
    return issues


def _steps_type(mf: MappingFile, loc: tuple, steps: list, issues: list[Issue]) -> str:
    """Check every step and return the output type of the chain ('any' when unknown)."""
    out = "any"
    for i, step in enumerate(steps):
        try:
            name, params = parse_step(step)
        except ConfigError as exc:
            issues.append(Issue(_where(mf, *loc, i), f"{exc.message}", exc.hint))
            return "any"
        for problem in check_params(name, params if name != "map" else
                                    {k: v for k, v in params.items() if k != "values" or "codelist" not in params}):
            issues.append(Issue(_where(mf, *loc, i), problem))
        spec = REGISTRY[name]
        out = out if spec.out == "same" else spec.out
        if name == "map":
            out = "any"
    return out


_NUMBER_STEPS = {"float", "decimal", "int", "multiply", "round", "uom", "format_decimal", "non_negative"}


def _reads_numbers(rule: Any, expected: type) -> bool:
    """Whether a field's value goes through the number parser (a numeric type or a number step)."""
    return expected in (float, int) or any(parse_step(s)[0] in _NUMBER_STEPS for s in rule.transforms if _known(s))


def _check_fields(mf: MappingFile, ename: str, em: EntityMapping) -> list[Issue]:
    issues: list[Issue] = []
    types = canonical_types(em.target)
    for fname, rule in em.fields.items():
        loc = ("entities", ename, "fields", fname)
        if fname not in types:
            guess = suggest(fname, list(types))
            issues.append(Issue(_where(mf, *loc), f"{em.target} has no field {fname!r}",
                                f"did you mean '{guess}'?" if guess else f"valid: {', '.join(types)}"))
            continue
        out = _steps_type(mf, loc + ("transforms",), rule.transforms, issues)
        expected = types[fname].py
        if out != "any" and out not in _COMPATIBLE.get(expected, {out}):
            issues.append(Issue(_where(mf, *loc), f"type mismatch: transforms produce {out}, "
                                f"{em.target}.{fname} is {expected.__name__}",
                                f"end the chain with a transform producing {expected.__name__}"))
        if rule.source is None and not any(parse_step(s)[0] in ("const", "default")
                                           for s in rule.transforms if _known(s)):
            issues.append(Issue(_where(mf, *loc), "no `from` and no const/default: the field would always be null"))
        if rule.number_format is not None and not _reads_numbers(rule, expected):
            issues.append(Issue(_where(mf, *loc, "number_format"), f"number_format on {fname!r}, which reads no number",
                                "declare it on a numeric field (or on the entity), or remove it"))
    if em.reverse:
        for part in ("key", "fields"):
            for fname, rule in getattr(em.reverse, part).items():
                _steps_type(mf, ("entities", ename, "reverse", part, fname, "transforms"), rule.transforms, issues)
                if rule.read_back and rule.read_back not in types:
                    guess = suggest(rule.read_back, list(types))
                    issues.append(Issue(_where(mf, "entities", ename, "reverse", part, fname, "read_back"),
                                        f"{em.target} has no field {rule.read_back!r}",
                                        f"did you mean '{guess}'?" if guess else None))
    return issues


def _known(step: Any) -> bool:
    try:
        parse_step(step)
        return True
    except ConfigError:
        return False


def _check_extras(mf: MappingFile, ename: str, em: EntityMapping) -> list[Issue]:
    issues: list[Issue] = []
    names = list(em.fields)
    for i, fname in enumerate(em.quality.non_negative):
        if fname not in em.fields:
            issues.append(Issue(_where(mf, "entities", ename, "quality", "non_negative", i),
                                f"non_negative names unmapped field {fname!r}", _did(fname, names)))
    if em.crosswalk and em.crosswalk.id_field not in em.fields:
        issues.append(Issue(_where(mf, "entities", ename, "crosswalk", "id_field"),
                            f"crosswalk id_field {em.crosswalk.id_field!r} is not mapped", _did(em.crosswalk.id_field, names)))
    for fname, entity in em.references.items():
        if fname not in em.fields:
            issues.append(Issue(_where(mf, "entities", ename, "references", fname),
                                f"reference field {fname!r} is not mapped", _did(fname, names)))
        if entity not in CANONICAL_ENTITIES:
            issues.append(Issue(_where(mf, "entities", ename, "references", fname),
                                f"unknown canonical entity {entity!r}", _did(entity, list(CANONICAL_ENTITIES))))
    if em.reverse:
        both = set(em.reverse.key) & set(em.reverse.fields)
        for fname in sorted(both):
            issues.append(Issue(_where(mf, "entities", ename, "reverse", "fields", fname),
                                f"duplicate target: {fname!r} is both a key and a written field"))
        for fname in em.reverse.fields:
            if fname in em.read_only_fields:
                issues.append(Issue(_where(mf, "entities", ename, "reverse", "fields", fname),
                                    f"reverse map writes read-only field {fname!r}", "remove it from reverse.fields"))
    return issues


def _did(word: str, choices: list[str]) -> str | None:
    guess = suggest(word, choices)
    return f"did you mean '{guess}'?" if guess else None


def _catalogue(mf: MappingFile, issues: list[Issue]) -> dict | None:
    """Property catalogue named by `metadata:` (entity -> {updatable: [...], read_only: [...]})."""
    if not mf.metadata:
        return None
    doc = document_of(mf)
    try:
        return _load_yaml(doc.path if doc else Path("."), mf.metadata)
    except FileNotFoundError as exc:
        issues.append(Issue(_where(mf, "metadata"), f"metadata file not found: {exc}"))
        return None


def _check_catalogue(mf: MappingFile, ename: str, em: EntityMapping, cat: dict) -> list[Issue]:
    """Source properties must exist; reverse maps may write only updatable properties."""
    issues: list[Issue] = []
    for fname, rule in em.fields.items():
        sources = [rule.source] if isinstance(rule.source, str) else (rule.source or [])
        for src in sources:
            entity, prop = _owner(em, src)
            props = _props(cat, entity)
            if props is not None and prop not in props:
                issues.append(Issue(_where(mf, "entities", ename, "fields", fname),
                                    f"{entity} has no property {prop!r}", _did(prop, sorted(props))))
    if em.reverse:
        entry = cat.get(em.reverse.entity)
        if entry is None:
            issues.append(Issue(_where(mf, "entities", ename, "reverse", "entity"),
                                f"unknown target entity {em.reverse.entity!r}", _did(em.reverse.entity, list(cat))))
            return issues
        for fname in list(em.reverse.key) + list(em.reverse.fields):
            if fname in entry.get("updatable", []):
                continue
            loc = ("entities", ename, "reverse", "key" if fname in em.reverse.key else "fields", fname)
            if fname in entry.get("read_only", []) and fname not in em.reverse.key:
                issues.append(Issue(_where(mf, *loc), f"{em.reverse.entity}.{fname} is not updatable"))
            elif fname not in entry.get("read_only", []):
                issues.append(Issue(_where(mf, *loc), f"{em.reverse.entity} has no property {fname!r}",
                                    _did(fname, entry.get("updatable", []))))
    return issues


def _owner(em: EntityMapping, src: str) -> tuple[str, str]:
    if "/" in src:
        nav, prop = src.split("/", 1)
        return em.source.expand.get(nav, nav), prop
    return em.source.name, src


def _props(cat: dict, entity: str) -> set[str] | None:
    entry = cat.get(entity)
    if entry is None:
        return None
    return set(entry.get("updatable", [])) | set(entry.get("read_only", []))
