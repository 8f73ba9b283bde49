"""Exchange KINDs (SPEC section 2): declarations, field types, readers, rejects, pipeline.

`kinds` holds one declaration per KIND; everything else (the importer, the HTTP exchange
endpoint's OpenAPI schemas, docs/exchange.md) is derived from it.
"""
