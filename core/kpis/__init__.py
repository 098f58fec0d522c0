"""Segment KPIs and governance measures (issue 20, docs/kpis.md).

The maths modules here (`kpi_rows`, `service_kpis`, `inventory_kpis`, `customer_kpis`, `stability`,
`governance_kpis`, `all_kpis`) take pandas frames and return KPI rows as a frame; they import no store,
so they run on any engine that hands them frames. `kpi_store` is the one adapter that reads the
canonical store into those frames and saves the rows in `kpi_value`.
"""
