"""The built-in connector kinds (imported lazily by the registry).

Each issue that adds a connector adds one line here: kind -> "module:Class".
"""

from connectors.registry import register_builtin

BUILTIN_KINDS = {
    "rest": "connectors.declarative.connector:RestConnector",
    "wms": "connectors.declarative.connector:WmsConnector",
    "tms": "connectors.declarative.connector:TmsConnector",
    "csv_folder": "connectors.files.connector:CsvFolderConnector",
    "sap_odata": "connectors.sap.odata:SapODataConnector",
    "sap_rfc": "connectors.sap.rfc:SapRfcConnector",
    "oracle_soap": "connectors.oracle.soap:OracleSoapConnector",
    "oracle_fusion_rest": "connectors.oracle.fusion_rest:FusionRestConnector",
    "sql": "connectors.sql.source:SqlSource",
    "salesforce": "connectors.salesforce.connector:SalesforceConnector",
    "dynamics365": "connectors.dynamics.connector:DynamicsConnector",
}

for _kind, _target in BUILTIN_KINDS.items():
    register_builtin(_kind, _target)
