"""OData V2 `$metadata` (EDMX) parsing: entity sets, properties, keys, SAP flags, ETags, navigation.

Only what a connector needs to read and write safely: which properties exist (so `$select` and
writes name real ones), which are updatable (`sap:updatable="false"` on the property or the set;
SAP omits the attribute when true), which property carries the ETag (`ConcurrencyMode="Fixed"`), which sets offer delta links
(`sap:change-tracking="true"`; none of the published A2X files used here does),
and where a navigation property leads (for `to_SalesOrder/LastChangeDateTime` delta fields).
Parsed with lxml without DTDs, entities or network access.

Example:
    >>> meta = parse_metadata(open("API_PRODUCT_SRV.edmx", "rb").read())      # doctest: +SKIP
    >>> meta.entity_sets["A_ProductSupplyPlanning"].keys
    ['Product', 'Plant']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from connectors.connector_errors import FatalError

SAP_NS = "http://www.sap.com/Protocols/SAPData"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@dataclass(frozen=True)
class Property:
    name: str
    edm_type: str
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    updatable: bool = True
    creatable: bool = True
    filterable: bool = True
    etag: bool = False


@dataclass
class EntitySet:
    """One entity set with its type's properties, keys and navigation targets (type names)."""

    name: str
    type_name: str
    keys: list[str]
    properties: dict[str, Property]
    navigation: dict[str, str] = field(default_factory=dict)  # nav property -> target entity type name
    creatable: bool = True
    updatable: bool = True
    deletable: bool = True
    change_tracking: bool = False  # sap:change-tracking="true": the service gives delta links

    @property
    def etag_property(self) -> str | None:
        return next((p.name for p in self.properties.values() if p.etag), None)

    def unknown(self, names: list[str] | set[str]) -> list[str]:
        return [n for n in names if n not in self.properties]

    def not_updatable(self, names: list[str] | set[str]) -> list[str]:
        """Names that a PATCH may not change: keys, read-only properties, or all of a read-only set."""
        return [n for n in names if n in self.properties
                and (not self.updatable or not self.properties[n].updatable or n in self.keys)]

    @property
    def updatable_properties(self) -> list[str]:
        if not self.updatable:
            return []
        return [p.name for p in self.properties.values() if p.updatable and p.name not in self.keys]


@dataclass
class ServiceMetadata:
    service: str
    entity_sets: dict[str, EntitySet]
    raw: bytes = b""

    def entity_set(self, name: str) -> EntitySet:
        try:
            return self.entity_sets[name]
        except KeyError:
            known = ", ".join(sorted(self.entity_sets)[:20])
            raise FatalError(f"SAP service {self.service} has no entity set {name!r}",
                             hint=f"known entity sets: {known}; is the service version the expected one?") from None

    def set_of_type(self, type_name: str) -> EntitySet | None:
        return next((s for s in self.entity_sets.values() if s.type_name == type_name), None)

    def property_at(self, entity_set: str, path: str) -> Property | None:
        """The property a path names, following navigation (`to_SalesOrder/LastChangeDateTime`)."""
        current = self.entity_set(entity_set)
        *navs, prop = path.split("/")
        for nav in navs:
            target = current.navigation.get(nav)
            nxt = self.set_of_type(target) if target else None
            if nxt is None:
                return None
            current = nxt
        return current.properties.get(prop)


def _flag(el: etree._Element, name: str) -> bool:
    return el.get(f"{{{SAP_NS}}}{name}", "true").lower() != "false"


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _property(el: etree._Element) -> Property:
    return Property(
        name=el.get("Name"), edm_type=el.get("Type", "Edm.String"), max_length=_int(el.get("MaxLength")),
        precision=_int(el.get("Precision")), scale=_int(el.get("Scale")),
        nullable=el.get("Nullable", "true").lower() != "false", updatable=_flag(el, "updatable"),
        creatable=_flag(el, "creatable"), filterable=_flag(el, "filterable"),
        etag=el.get("ConcurrencyMode") == "Fixed")


def _types_and_associations(schemas: list) -> tuple[dict, dict]:
    types: dict[str, etree._Element] = {}
    roles: dict[tuple[str, str], str] = {}  # (association, role) -> entity type name
    for schema in schemas:
        namespace = schema.get("Namespace", "")
        for el in schema:
            if not isinstance(el.tag, str):
                continue
            if _local(el.tag) == "EntityType":
                types[f"{namespace}.{el.get('Name')}"] = el
            elif _local(el.tag) == "Association":
                for end in el:
                    if isinstance(end.tag, str) and _local(end.tag) == "End":
                        roles[(f"{namespace}.{el.get('Name')}", end.get("Role"))] = end.get("Type")
    return types, roles


def _entity_set(el: etree._Element, type_el: etree._Element, type_name: str, roles: dict) -> EntitySet:
    keys, props, navs = [], {}, {}
    for child in type_el:
        if not isinstance(child.tag, str):
            continue
        tag = _local(child.tag)
        if tag == "Key":
            keys = [ref.get("Name") for ref in child if isinstance(ref.tag, str)]
        elif tag == "Property":
            prop = _property(child)
            props[prop.name] = prop
        elif tag == "NavigationProperty":
            navs[child.get("Name")] = roles.get((child.get("Relationship"), child.get("ToRole")), "")
    return EntitySet(name=el.get("Name"), type_name=type_name, keys=keys, properties=props, navigation=navs,
                     creatable=_flag(el, "creatable"), updatable=_flag(el, "updatable"),
                     deletable=_flag(el, "deletable"),
                     change_tracking=el.get(f"{{{SAP_NS}}}change-tracking", "false").lower() == "true")


def parse_metadata(xml: bytes, service: str = "") -> ServiceMetadata:
    """Parse an EDMX document; a document that is not EDMX raises FatalError saying so."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise FatalError(f"$metadata of {service or 'the service'} is not valid XML: {exc}",
                         hint="check the service path; an HTML login page means authentication failed") from None
    schemas = [el for el in root.iter() if isinstance(el.tag, str) and _local(el.tag) == "Schema"]
    if _local(root.tag) != "Edmx" or not schemas:
        raise FatalError(f"$metadata of {service or 'the service'} is not an EDMX document (root {root.tag})")
    types, roles = _types_and_associations(schemas)
    sets: dict[str, EntitySet] = {}
    for schema in schemas:
        for el in schema.iter():
            if isinstance(el.tag, str) and _local(el.tag) == "EntitySet":
                type_name = el.get("EntityType", "")
                if type_name in types:
                    sets[el.get("Name")] = _entity_set(el, types[type_name], type_name, roles)
    if not service:
        service = next((s.get("Namespace", "") for s in schemas if s.get("Namespace")), "")
    return ServiceMetadata(service=service, entity_sets=sets, raw=xml)
