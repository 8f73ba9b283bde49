"""Data layer: models, importers, aggregations and snapshot reads (no Dash, no Flask)."""
