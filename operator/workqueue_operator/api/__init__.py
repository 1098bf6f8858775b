"""The three custom resources as pydantic models, and CRD generation from them."""
