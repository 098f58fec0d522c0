"""Product and customer classification: ABC, XYZ, demand pattern (Syntetos-Boylan), lifecycle,
customer segments. Pure and vectorised; conventions in docs/engine.md."""

from core.planning.segmentation.abc import classify_abc, cumulative_share
from core.planning.segmentation.customers import (
    classify_customers,
    customer_metrics,
    kmeans_segments,
    rule_segments,
)
from core.planning.segmentation.lifecycle import classify_lifecycle
from core.planning.segmentation.pattern import classify_demand_pattern
from core.planning.segmentation.xyz import classify_xyz

__all__ = [
    "classify_abc", "cumulative_share", "classify_xyz", "classify_demand_pattern", "classify_lifecycle",
    "customer_metrics", "classify_customers", "rule_segments", "kmeans_segments",
]
