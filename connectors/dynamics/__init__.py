"""Microsoft Dynamics 365 / Dataverse Web API (OData v4)."""
