"""connectors.sap.metadata: EDMX parsing of entity sets, keys, SAP flags, ETags and navigation, and
the questions a connector asks of it (unknown, not updatable, property behind a navigation path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.connector_errors import FatalError
from connectors.sap.metadata import parse_metadata

pytestmark = pytest.mark.unit
META = Path(__file__).resolve().parents[4] / "sandbox" / "metadata"

EDMX = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"
    xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
    xmlns:sap="http://www.sap.com/Protocols/SAPData">
 <edmx:DataServices m:DataServiceVersion="2.0">
  <Schema Namespace="API_TEST_SRV" xmlns="http://schemas.microsoft.com/ado/2008/09/edm">
   <EntityType Name="A_OrderType">
    <Key><PropertyRef Name="Order"/></Key>
    <Property Name="Order" Type="Edm.String" Nullable="false" MaxLength="10" sap:updatable="false"/>
    <Property Name="Amount" Type="Edm.Decimal" Precision="13" Scale="3"/>
    <Property Name="Status" Type="Edm.String" MaxLength="1" sap:updatable="false" sap:filterable="false"/>
    <Property Name="Changed" Type="Edm.DateTimeOffset" ConcurrencyMode="Fixed" sap:creatable="false"/>
    <NavigationProperty Name="to_Item" Relationship="API_TEST_SRV.assoc_OrderItem" FromRole="FromRole_Order"
        ToRole="ToRole_Item"/>
   </EntityType>
   <EntityType Name="A_ItemType">
    <Key><PropertyRef Name="Order"/><PropertyRef Name="Item"/></Key>
    <Property Name="Order" Type="Edm.String" Nullable="false"/>
    <Property Name="Item" Type="Edm.String" Nullable="false"/>
    <Property Name="Qty" Type="Edm.Decimal" Precision="13" Scale="3"/>
   </EntityType>
   <Association Name="assoc_OrderItem">
    <End Type="API_TEST_SRV.A_OrderType" Multiplicity="1" Role="FromRole_Order"/>
    <End Type="API_TEST_SRV.A_ItemType" Multiplicity="*" Role="ToRole_Item"/>
   </Association>
   <EntityContainer Name="API_TEST_SRV_Entities" m:IsDefaultEntityContainer="true">
    <EntitySet Name="A_Order" EntityType="API_TEST_SRV.A_OrderType" sap:deletable="false"/>
    <EntitySet Name="A_Item" EntityType="API_TEST_SRV.A_ItemType" sap:updatable="false"/>
   </EntityContainer>
  </Schema>
 </edmx:DataServices>
</edmx:Edmx>"""


def test_entity_sets_keys_properties_and_flags():
    meta = parse_metadata(EDMX)
    assert meta.service == "API_TEST_SRV" and meta.raw == EDMX
    assert sorted(meta.entity_sets) == ["A_Item", "A_Order"]
    order = meta.entity_set("A_Order")
    assert (order.type_name, order.keys) == ("API_TEST_SRV.A_OrderType", ["Order"])
    assert (order.creatable, order.updatable, order.deletable) == (True, True, False)
    amount = order.properties["Amount"]
    assert (amount.edm_type, amount.precision, amount.scale, amount.nullable, amount.updatable) == (
        "Edm.Decimal", 13, 3, True, True)
    oid = order.properties["Order"]
    assert (oid.max_length, oid.nullable, oid.updatable) == (10, False, False)
    assert order.properties["Status"].filterable is False and order.properties["Changed"].creatable is False
    assert order.etag_property == "Changed" and meta.entity_set("A_Item").etag_property is None
    assert order.navigation == {"to_Item": "API_TEST_SRV.A_ItemType"}


def test_what_a_write_may_name():
    meta = parse_metadata(EDMX, service="API_TEST_SRV")
    order, item = meta.entity_set("A_Order"), meta.entity_set("A_Item")
    assert order.unknown(["Amount", "Nope"]) == ["Nope"]
    assert order.not_updatable(["Order", "Amount", "Status", "Nope"]) == ["Order", "Status"]
    assert order.updatable_properties == ["Amount", "Changed"]
    assert item.updatable_properties == [] and item.not_updatable(["Qty"]) == ["Qty"]


def test_navigation_paths_and_unknown_sets():
    meta = parse_metadata(EDMX)
    assert meta.set_of_type("API_TEST_SRV.A_ItemType").name == "A_Item"
    assert meta.property_at("A_Order", "to_Item/Qty").scale == 3
    assert meta.property_at("A_Order", "Amount").name == "Amount"
    assert meta.property_at("A_Order", "to_Nothing/Qty") is None
    assert meta.property_at("A_Order", "Nope") is None
    with pytest.raises(FatalError, match="has no entity set 'A_Orders'") as err:
        meta.entity_set("A_Orders")
    assert "A_Item, A_Order" in err.value.hint


@pytest.mark.parametrize(("body", "message"), [
    (b"<html><body>Logon</body></html>", "not an EDMX document"),
    (b"<not xml", "not valid XML"),
])
def test_not_edmx_is_a_fatal_error(body, message):
    with pytest.raises(FatalError, match=message):
        parse_metadata(body, service="API_PRODUCT_SRV")


def test_external_entities_are_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET", encoding="utf-8")
    evil = EDMX.replace(b'<?xml version="1.0" encoding="utf-8"?>',
                        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY leak SYSTEM "' + secret.as_uri().encode()
                        + b'">]>').replace(b'Name="Qty"', b'Name="&leak;"')
    with pytest.raises(FatalError) as err:
        parse_metadata(evil)
    assert "TOPSECRET" not in str(err.value)


def test_the_vendored_product_service():
    meta = parse_metadata((META / "API_PRODUCT_SRV.xml").read_bytes(), "API_PRODUCT_SRV")
    psp = meta.entity_set("A_ProductSupplyPlanning")
    assert psp.keys == ["Product", "Plant"]
    assert psp.properties["SafetyStockQuantity"].edm_type == "Edm.Decimal"
    assert "SafetyStockQuantity" in psp.updatable_properties
