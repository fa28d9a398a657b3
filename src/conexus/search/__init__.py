"""Query analysis, retrieval, fusion."""
