"""The built-in connector kinds (imported lazily by the registry).

Each issue that adds a connector adds one line here: kind -> "module:Class".
"""

from connectors.registry import register_builtin

BUILTIN_KINDS = {
    "rest": "connectors.declarative.manifest_connector:RestConnector",
    "wms": "connectors.declarative.manifest_connector:WmsConnector",
    "tms": "connectors.declarative.manifest_connector:TmsConnector",
    "csv_folder": "connectors.files.csv_folder:CsvFolderConnector",
    "sap_odata": "connectors.sap.odata:SapODataConnector",
    "sap_rfc": "connectors.sap.rfc:SapRfcConnector",
    "oracle_soap": "connectors.oracle.soap:OracleSoapConnector",
    "oracle_fusion_rest": "connectors.oracle.fusion_rest:FusionRestConnector",
    "sql": "connectors.sql.source:SqlSource",
    "salesforce": "connectors.salesforce.rest_api:SalesforceConnector",
    "dynamics365": "connectors.dynamics.dataverse:DynamicsConnector",
}

for _kind, _target in BUILTIN_KINDS.items():
    register_builtin(_kind, _target)
