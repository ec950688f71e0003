"""Pydantic models matching KFP v2beta1 JSON, one module per resource."""
