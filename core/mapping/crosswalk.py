"""Key crosswalk: the same customer, product or location across systems resolves to one canonical id.

Resolution per source key, in order:
1. an existing crosswalk link for (system, entity, source_key) wins (write-back addresses the
   target by the key stored here, never a re-derived one);
2. the configured rules, first match wins: `file` (explicit CSV), `exact` (a mapped field,
   normalised, equals an existing canonical id, or another system's normalised key), `normalized`
   (the canonical id is the normalised source key, e.g. SAP `0000100234` -> `100234`);
3. otherwise an orphan: quarantined (`orphans: quarantine`) or created from the mapped id.

Conflicts are never guessed: one source key claimed by two ids (a file link disagreeing with
the stored one, an `exact` value matching two ids), or two source keys of one system landing on
one id. They come back as `CrosswalkIssue`s; the loader quarantines those records and records
a `ReconException` (kind `conflict` / `orphan`) for a steward.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select

from basics.errors import DataError
from core.mapping.spec import CrosswalkRule, CrosswalkSpec
from core.model import CANONICAL_ENTITIES, Crosswalk, ReconException, primary_key_columns, utcnow
from core.statuses import ExceptionStatus


@dataclass
class CrosswalkIssue:
    """A conflict or orphan for a steward: which key, which candidate ids, why."""

    kind: str  # conflict | orphan
    system: str
    entity: str
    source_key: str
    candidates: list[str]
    detail: str


@dataclass
class CrosswalkIndex:
    """What resolution needs to know (pure data, so rules test without a DB). The links are loaded once
    per stream and kept current as the stream adds links (`IndexCache`); `canonical_ids` is looked up
    for each batch's values."""

    existing: dict[str, str] = field(default_factory=dict)  # this system: source_key -> canonical id
    file_links: dict[str, str] = field(default_factory=dict)  # this system from the CSV
    canonical_ids: set[str] = field(default_factory=set)  # ids already in the canonical table
    foreign: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # rule key -> normalised key -> ids
    rows: int = 0  # crosswalk rows of the entity (every system) the links reflect
    _owners: dict[str, tuple[str, ...]] | None = field(default=None, repr=False)

    def owners(self) -> dict[str, tuple[str, ...]]:
        """This system's source keys per canonical id (built once, then kept current by `add_links`).
        Tuples, not sets: tens of thousands of small sets keep the garbage collector busy."""
        if self._owners is None:
            self._owners = {}
            for key, cid in self.existing.items():
                self._owners[cid] = (*self._owners.get(cid, ()), key)
        return self._owners

    def add_links(self, ids: dict[str, str]) -> None:
        """Links this system just stored (upserted in the caller's transaction). The usual batch links
        new keys to ids nobody holds yet, each id once: those are added at once, not key by key."""
        owners = self.owners()
        cids = set(ids.values())
        if len(cids) == len(ids) and self.existing.keys().isdisjoint(ids) and owners.keys().isdisjoint(cids):
            self.existing.update(ids)
            owners.update(zip(ids.values(), ((k,) for k in ids), strict=True))
            self.rows += len(ids)
            return
        for key, cid in ids.items():
            old = self.existing.get(key)
            if old is None:
                self.rows += 1
            elif old == cid:
                continue
            else:
                owners[old] = tuple(k for k in owners.get(old, ()) if k != key)
            self.existing[key] = cid
            owners[cid] = (*owners.get(cid, ()), key)


@dataclass
class Resolution:
    ids: dict[str, str] = field(default_factory=dict)  # source_key -> canonical id
    rules: dict[str, str] = field(default_factory=dict)  # source_key -> rule that linked it
    issues: list[CrosswalkIssue] = field(default_factory=list)

    def links(self, system: str, entity: str) -> list[dict]:
        """Crosswalk rows to upsert for this batch: the new links. A stored link the batch only met again
        is not rewritten (it keeps the rule that made it, and a re-pull writes no crosswalk rows)."""
        now = utcnow()
        keys, ids, rules = self.new_links()
        return [{"system": system, "entity": entity, "source_key": k, "canonical_id": v, "rule": r,
                 "loaded_at": now} for k, v, r in zip(keys, ids, rules, strict=True)]

    def new_links(self) -> tuple[list[str], list[str], list[str | None]]:
        """The links `links` would write, as columns (source keys, canonical ids, rules): what a
        bulk load takes without a dict per row."""
        rules = self.rules
        keys = [k for k in self.ids if rules.get(k) != "existing"]
        return keys, [self.ids[k] for k in keys], [rules.get(k) for k in keys]


def normalize(value: object, ops: list[str]) -> str | None:
    """Apply normalisation ops in order: strip, upper, lower, strip_zeros (numeric values only)."""
    if value is None:
        return None
    return _normalized(value if isinstance(value, str) else str(value), tuple(ops))


@lru_cache(maxsize=1 << 17)
def _normalized(text: str, ops: tuple[str, ...]) -> str | None:
    """`normalize` of one text, remembered: a batch normalises each value for the id lookup and again
    for its rule, and keys and ids repeat across batches and pulls."""
    for op in ops:
        if op == "strip":
            text = text.strip()
        elif op == "upper":
            text = text.upper()
        elif op == "lower":
            text = text.lower()
        elif op == "strip_zeros" and text.isdigit():
            text = text.lstrip("0") or "0"
    return text or None


def normalize_all(values: Sequence[object], ops: list[str]) -> list[str | None]:
    """`normalize` of a whole column at once (what a batch's rules look up)."""
    ops_t = tuple(ops)
    return [None if v is None else _normalized(v if isinstance(v, str) else str(v), ops_t) for v in values]


@dataclass
class RuleColumns:
    """A batch as the rules read it, column-wise: its distinct source keys (first-seen order), each one's
    stored link (None: none), the mapped values the rules read (nulls as None) and, per `exact` rule, each
    key's normalised value (None where the key has a stored link: a linked key never reaches the rules)."""

    keys: list[str]
    stored: list[str | None]
    values: dict[str, list]
    normalised: dict[int, list[str | None]] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: CrosswalkSpec, keys: list[str], values: dict[str, list],
              index: CrosswalkIndex) -> RuleColumns:
        """From unique `keys` and their field values (one list per field, aligned with `keys`)."""
        existing = index.existing
        stored = [existing.get(k) for k in keys]
        todo = [s is None for s in stored]
        out = cls(keys, stored, values)
        for i, rule in enumerate(spec.rules):
            if rule.kind == "exact":
                column = values.get(rule.field) if rule.field else None
                column = [v if t else None for v, t in zip(column, todo, strict=True)] if column else [None] * len(keys)
                out.normalised[i] = normalize_all(column, rule.normalize)
        return out

    def id_candidates(self, spec: CrosswalkSpec) -> list[str]:
        """The normalised values `match: id` rules will look up among canonical ids: what `known_ids`
        must check for the batch."""
        return [v for i, r in enumerate(spec.rules) if r.kind == "exact" and r.match == "id" and r.field
                for v in self.normalised[i] if v]


def resolve(system: str, entity: str, spec: CrosswalkSpec, keys: dict[str, dict[str, object]],
            index: CrosswalkIndex) -> Resolution:
    """Resolve source keys (with their mapped field values) to canonical ids by the spec's rules."""
    names = list(dict.fromkeys([*(r.field for r in spec.rules if r.field), spec.id_field]))
    values = {n: [row.get(n) for row in keys.values()] for n in names}
    return resolve_columns(system, entity, spec, RuleColumns.build(spec, list(keys), values, index), index)


def resolve_columns(system: str, entity: str, spec: CrosswalkSpec, batch: RuleColumns,
                    index: CrosswalkIndex) -> Resolution:
    """`resolve` column-wise: the stored links, then each rule over the keys still open, then the
    orphans, each a pass over lists (a batch's keys are not resolved one call at a time)."""
    ids: list[str | None] = list(batch.stored)
    rules: list[str | None] = ["existing" if s is not None else None for s in ids]
    issues: dict[int, CrosswalkIssue] = {}  # position -> the key's issue (issues keep the keys' order)
    if any(r.kind == "file" for r in spec.rules):
        _file_disagreements(system, entity, batch, index, ids, rules, issues)
    todo = [p for p, s in enumerate(batch.stored) if s is None]
    for i, rule in enumerate(spec.rules):
        if not todo:
            break
        found = _rule_found(rule, i, batch, todo, index)
        for p, hit in zip(todo, found, strict=True):
            if hit is None:
                continue
            if isinstance(hit, str):
                ids[p], rules[p] = hit, rule.kind
            else:
                issues[p] = CrosswalkIssue("conflict", system, entity, batch.keys[p], sorted(hit),
                                           f"rule {rule.kind} matches {len(hit)} canonical ids")
        todo = [p for p, hit in zip(todo, found, strict=True) if hit is None]
    _orphans(system, entity, spec, batch, todo, ids, rules, issues)
    res = Resolution({k: v for k, v in zip(batch.keys, ids, strict=True) if v is not None},
                     {k: r for k, v, r in zip(batch.keys, ids, rules, strict=True) if v is not None},
                     [issues[p] for p in sorted(issues)])
    _reverse_conflicts(system, entity, index, res)
    return res


def _file_disagreements(system, entity, batch: RuleColumns, index, ids, rules, issues) -> None:
    """A stored link the link file contradicts is a conflict, not the stored id."""
    files = index.file_links
    for p, (key, stored) in enumerate(zip(batch.keys, batch.stored, strict=True)):
        filed = files.get(key) if stored is not None else None
        if filed is not None and filed != stored:
            ids[p] = rules[p] = None
            issues[p] = CrosswalkIssue("conflict", system, entity, key, sorted({stored, filed}),
                                       f"crosswalk file says {filed!r}, stored link says {stored!r}")


def _rule_found(rule: CrosswalkRule, i: int, batch: RuleColumns, todo: list[int],
                index: CrosswalkIndex) -> list[str | set[str] | None]:
    """Per open key: the one id the rule finds, a set of several (a conflict), or None (it does not apply)."""
    keys = batch.keys
    if rule.kind == "file":
        files = index.file_links
        return [files.get(keys[p]) for p in todo]
    if rule.kind == "normalized":
        return [v or None for v in normalize_all([keys[p] for p in todo], rule.normalize)]
    values = batch.normalised[i]
    if rule.match == "id":
        known = index.canonical_ids
        return [v if v and v in known else None for v in (values[p] for p in todo)]
    foreign = index.foreign.get(str(i), {})
    found = [foreign.get(v) if v else None for v in (values[p] for p in todo)]
    return [None if not f else next(iter(f)) if len(f) == 1 else set(f) for f in found]


def _orphans(system, entity, spec: CrosswalkSpec, batch: RuleColumns, todo: list[int], ids, rules, issues) -> None:
    """Keys no rule linked: orphans for a steward, or created from the mapped id (`orphans: create`)."""
    if spec.orphans == "quarantine":
        for p in todo:
            issues[p] = CrosswalkIssue("orphan", system, entity, batch.keys[p], [],
                                       "no match rule found a canonical id")
        return
    mapped = batch.values.get(spec.id_field) or [None] * len(batch.keys)
    for p in todo:
        if mapped[p] not in (None, ""):
            ids[p], rules[p] = str(mapped[p]), "created"


def _reverse_conflicts(system: str, entity: str, index: CrosswalkIndex, res: Resolution) -> None:
    """Two source keys of one system on one canonical id: a conflict for every key not already stored.
    Only the ids this batch claims are looked at (against the index's owners), not every stored link;
    an id claimed once, by a key that is its only owner (or by nobody before), is passed at once
    (told apart for the whole batch first: the usual batch has no id to look at further)."""
    stored = index.owners()
    keys, cids = list(res.ids), list(res.ids.values())
    flagged = {cid for cid, n in Counter(cids).items() if n > 1}
    flagged.update(cid for key, cid in zip(keys, cids, strict=True) if (o := stored.get(cid)) and o != (key,))
    if not flagged:
        return
    claims: dict[str, list[str]] = {}
    for key, cid in zip(keys, cids, strict=True):
        if cid in flagged:
            claims.setdefault(cid, []).append(key)
    for cid, claimed in claims.items():
        keys_on_id = set(stored.get(cid, ())) | set(claimed)
        if len(keys_on_id) < 2:
            continue
        for key in sorted(keys_on_id):
            if key in res.ids and res.rules.get(key) != "existing":
                del res.ids[key]
                res.issues.append(CrosswalkIssue("conflict", system, entity, key, [cid],
                                                 f"{cid!r} is already claimed by {sorted(keys_on_id - {key})}"))


# --------------------------------------------------------------------------- store side


LINK_COLUMNS = ("system", "entity", "source_key", "canonical_id")


def read_file_links(path: str | Path, system: str, entity: str) -> dict[str, str]:
    """Explicit links from a CSV with columns system, entity, source_key, canonical_id.

    Read by the one CSV reader (`basics.csv_text`: UTF-8 with or without BOM, errors naming the
    file and byte); a missing column or a row without a key or id is an error naming the row.
    """
    from basics.csv_text import ROW, read_csv_text

    path = Path(path)
    frames = list(read_csv_text(path))
    if not frames:
        return {}
    frame = frames[0]
    missing = [c for c in LINK_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: crosswalk link file lacks column(s) {', '.join(missing)}",
                        hint="the header must be: " + ",".join(LINK_COLUMNS))
    mine = frame[(frame["system"] == system) & (frame["entity"] == entity)]
    blank = mine[mine["source_key"].isna() | mine["canonical_id"].isna()]
    if len(blank):
        raise DataError(f"{path}: row {int(blank[ROW].iloc[0])} has no source_key or canonical_id",
                        hint="every link needs both; delete the row or fill it in")
    return dict(zip(mine["source_key"], mine["canonical_id"], strict=True))


def load_index(conn, system: str, entity: str, spec: CrosswalkSpec, values: list[str],
               base_dir: Path | None = None) -> CrosswalkIndex:
    """Load what `resolve` needs from the store for one batch (set-based queries)."""
    index = load_links(conn, system, entity, spec, base_dir)
    index.canonical_ids = known_ids(conn, entity, values)
    return index


def load_links(conn, system: str, entity: str, spec: CrosswalkSpec, base_dir: Path | None = None) -> CrosswalkIndex:
    """The entity's stored links (this system's, other systems' for `match: crosswalk` rules) and the
    link file's, without canonical ids: what a stream loads once."""
    table = Crosswalk.__table__
    rows = conn.execute(select(table.c.system, table.c.source_key, table.c.canonical_id)
                        .where(table.c.entity == entity)).fetchall()
    index = CrosswalkIndex(existing={r.source_key: r.canonical_id for r in rows if r.system == system},
                           rows=len(rows))
    for i, rule in enumerate(spec.rules):
        if rule.kind == "file" and rule.path:
            path = Path(rule.path) if base_dir is None else base_dir / rule.path
            index.file_links.update(read_file_links(path, system, entity))
        if rule.kind == "exact" and rule.match == "crosswalk":
            foreign: dict[str, set[str]] = defaultdict(set)
            for r in rows:
                if r.system != system:
                    foreign[normalize(r.source_key, rule.normalize)].add(r.canonical_id)
            index.foreign[str(i)] = foreign
    return index


def known_ids(conn, entity: str, values: list[str]) -> set[str]:
    """Which of `values` are ids of the canonical table: one statement per batch of values.

    The values go as ONE parameter (a JSON array on SQLite, read by `json_each`; an array on
    PostgreSQL, `= ANY`), so the statement is the same text for every batch: no IN list of
    hundreds of bound parameters to compile, no row-by-row fetch (a CRM pull spent a fifth of
    its time here)."""
    wanted = sorted({v for v in values if v})
    if not wanted:
        return set()
    model = CANONICAL_ENTITIES[entity]
    table, pk = model.__tablename__, primary_key_columns(model)[0]
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # the array drives a join on the key's index (an `IN (SELECT ... json_each)` built a temporary
        # index of the values first, four times slower for a batch of 2,000); the ids found come back
        # as ONE JSON array, not a row each (a row each cost more than the join: a step and a Row apiece)
        sql = (f'SELECT json_group_array(t."{pk}") FROM json_each(?) AS j CROSS JOIN "{table}" AS t '
               f'ON t."{pk}" = j.value')
        return set(json.loads(conn.exec_driver_sql(sql, (json.dumps(wanted),)).scalar_one()))
    if dialect == "postgresql":
        sql = f'SELECT array_agg("{pk}") FROM "{table}" WHERE "{pk}" = ANY(%s)'
        return set(conn.exec_driver_sql(sql, (wanted,)).scalar_one() or ())
    column = model.__table__.c[pk]  # any other database: portable IN lists, 500 values a query
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(r[0] for r in conn.execute(select(column).where(column.in_(wanted[start:start + 500]))))
    return found


def link_count(conn, entity: str) -> int:
    """The entity's crosswalk rows, every system (one indexed count)."""
    table = Crosswalk.__table__
    return conn.execute(select(func.count()).select_from(table).where(table.c.entity == entity)).scalar_one()


class IndexCache:
    """The crosswalk links of the streams under way, loaded once per stream instead of once per batch.

    Why: reloading every link of the entity for each batch made a CRM pull quadratic (the index grows
    with every batch; a 50,000-account pull spent most of its time reloading it). The cached index is
    kept current by `add_links` as the stream stores links; before each batch one indexed count of the
    entity's crosswalk rows is compared with what the index reflects, so links written by anyone else
    (another system's pull, a steward) or a rolled-back batch make it reload, never resolve on stale
    links. `scope` (the run id) bounds a cached index to one run; at most `size` are held."""

    def __init__(self, size: int = 8):
        self.size = size
        self.loads = 0
        self._held: dict[tuple, CrosswalkIndex] = {}

    def index(self, conn, system: str, entity: str, spec: CrosswalkSpec, base_dir: Path | None,
              scope: object) -> CrosswalkIndex:
        """The stream's links, current (the caller sets `canonical_ids` for its batch)."""
        key = (scope, system, entity, spec.model_dump_json(), str(base_dir))
        held = self._held.get(key)
        if held is None or held.rows != link_count(conn, entity):
            held = load_links(conn, system, entity, spec, base_dir)
            self.loads += 1
            self._held.pop(key, None)
            self._held[key] = held
            while len(self._held) > self.size:
                self._held.pop(next(iter(self._held)))
        return held


def record_issues(conn, issues: list[CrosswalkIssue], run_id: int | None) -> int:
    """Write issues as ReconException rows (kind conflict/orphan), one per fingerprint, counting repeats."""
    if not issues:
        return 0
    table = ReconException.__table__
    by_print = {_fingerprint(i): i for i in issues}
    seen = {r[0] for r in conn.execute(select(table.c.fingerprint).where(table.c.fingerprint.in_(list(by_print))))}
    now = utcnow()
    new = [{"fingerprint": fp, "kind": i.kind, "severity": "high" if i.kind == "conflict" else "medium",
            "system": i.system, "entity": i.entity, "entity_key": i.source_key, "field": "canonical_id",
            "expected": ",".join(i.candidates)[:400] or None, "reason": i.detail, "status": ExceptionStatus.OPEN,
            "first_seen": now, "last_seen": now, "count": 1, "run_id": run_id}
           for fp, i in by_print.items() if fp not in seen]
    if new:
        conn.execute(table.insert(), new)
    if seen:
        conn.execute(table.update().where(table.c.fingerprint.in_(list(seen)))
                     .values(last_seen=now, count=table.c.count + 1, run_id=run_id))
    return len(by_print)


def _fingerprint(issue: CrosswalkIssue) -> str:
    raw = "|".join([issue.kind, issue.system, issue.entity, issue.source_key])
    return "xw:" + hashlib.sha256(raw.encode()).hexdigest()[:40]
