"""Product and customer classification: ABC, XYZ, demand pattern (Syntetos-Boylan), lifecycle,
customer segments. Pure and vectorised; conventions in docs/engine.md."""

from core.segmentation.abc import classify_abc, cumulative_share
from core.segmentation.customers import classify_customers, customer_metrics, kmeans_segments, rule_segments
from core.segmentation.lifecycle import classify_lifecycle
from core.segmentation.pattern import classify_demand_pattern
from core.segmentation.xyz import classify_xyz

__all__ = [
    "classify_abc", "cumulative_share", "classify_xyz", "classify_demand_pattern", "classify_lifecycle",
    "customer_metrics", "classify_customers", "rule_segments", "kmeans_segments",
]
