"""KFP pipeline packages: loading uploads, splitting submitted specs, validating the IR.

Pure code: it parses bytes and dicts and never touches files, the network or the database.
"""

from domain.pipeline_spec.model import PipelinePackage, canonical_json, pipeline_name, spec_digest
from domain.pipeline_spec.packages import load_pipeline_package, split_submitted_spec
from domain.pipeline_spec.validation import validate_pipeline_spec

__all__ = [
    "PipelinePackage",
    "canonical_json",
    "load_pipeline_package",
    "pipeline_name",
    "spec_digest",
    "split_submitted_spec",
    "validate_pipeline_spec",
]
