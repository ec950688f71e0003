"""Tests for ``domain.pipeline_spec``: package loading, spec validation and digests.

The accepted corpus is ``tests/pipelines/compiled`` (compiled from ``sources/`` by
``compile_corpus.py``); the refused corpus is ``tests/pipelines/broken`` with ``expected.json``.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import importlib.util
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.errors import InvalidArgument, PayloadTooLarge
from domain.pipeline_spec import (
    PipelinePackage,
    canonical_json,
    load_pipeline_package,
    pipeline_name,
    spec_digest,
    split_submitted_spec,
    validate_pipeline_spec,
)

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
COMPILED = sorted((PIPELINES / "compiled").glob("*.yaml"))
BROKEN_DIR = PIPELINES / "broken"
EXPECTED_BROKEN: dict[str, str] = json.loads((BROKEN_DIR / "expected.json").read_text())
LIMIT = 10 * 1024 * 1024

# file stem -> pipelineInfo.name the compiler derived from the source.
EXPECTED_NAMES = {
    "artifact_types": "artifact-types",
    "branches": "branches",
    "composed_graphs": "composed-graphs",
    "container_steps": "container-steps",
    "exit_handling": "exit-handling",
    "importing": "importing",
    "loops": "loops",
    "minimal": "minimal",
    "mixed_control": "mixed-control",
    "nested_pipelines": "nested-pipelines",
    "scalar_params": "scalar-params",
    "task_config": "task-config",
    "workspace_config": "workspace-config",
}

WORKSPACE_PLATFORM = {
    "platforms": {
        "kubernetes": {
            "pipelineConfig": {
                "workspace": {
                    "size": "2Gi",
                    "kubernetes": {
                        "pvcSpecPatch": {
                            "accessModes": ["ReadWriteOnce"],
                            "storageClassName": "standard",
                        }
                    },
                }
            }
        }
    }
}


def _compiled(stem: str) -> bytes:
    return (PIPELINES / "compiled" / f"{stem}.yaml").read_bytes()


def _load(data: bytes, filename: str | None = "pipeline.yaml", **kw: Any) -> PipelinePackage:
    return load_pipeline_package(data, filename, max_bytes=kw.pop("max_bytes", LIMIT), **kw)


def _spec(stem: str = "minimal") -> dict[str, Any]:
    return copy.deepcopy(_load(_compiled(stem)).pipeline_spec)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _tar(members: dict[str, bytes], *, gz: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _refused(data: bytes, filename: str | None = "pipeline.yaml", **kw: Any) -> str:
    with pytest.raises(InvalidArgument) as caught:
        _load(data, filename, **kw)
    return caught.value.message


def _invalid(spec: Any) -> str:
    with pytest.raises(InvalidArgument) as caught:
        validate_pipeline_spec(spec)
    return caught.value.message


# --------------------------------------------------------------------------- accepted corpus


def test_corpus_has_one_compiled_file_per_source() -> None:
    sources = {p.stem for p in (PIPELINES / "sources").glob("*.py")}
    assert {p.stem for p in COMPILED} == sources == set(EXPECTED_NAMES)


@pytest.mark.parametrize("path", COMPILED, ids=lambda p: p.stem)
def test_compiled_yaml_is_accepted(path: Path) -> None:
    package = _load(path.read_bytes(), path.name)
    assert pipeline_name(package.pipeline_spec) == EXPECTED_NAMES[path.stem]
    assert package.pipeline_spec["schemaVersion"] == "2.1.0"
    expected_platform = WORKSPACE_PLATFORM if path.stem == "workspace_config" else None
    assert package.platform_spec == expected_platform


@pytest.mark.parametrize("path", COMPILED, ids=lambda p: p.stem)
def test_repacked_corpus_gives_the_same_package(path: Path) -> None:
    reference = _load(path.read_bytes(), path.name)
    digest = spec_digest(reference)
    document: dict[str, Any] = reference.pipeline_spec
    if reference.platform_spec is not None:
        document = {
            "pipeline_spec": reference.pipeline_spec,
            "platform_spec": reference.platform_spec,
        }
    as_json = json.dumps(document, indent="\t").encode()  # tabs: valid JSON, invalid YAML
    yaml_bytes = path.read_bytes()
    variants = {
        "json": (as_json, f"{path.stem}.json"),
        "json-unnamed": (as_json, None),
        "zip": (_zip({"pkg/": b"", "pkg/pipeline.yaml": yaml_bytes, "README.md": b"x"}), "p.zip"),
        "zip-unnamed": (_zip({"pipeline.yml": yaml_bytes}), None),
        "tar.gz": (_tar({"./pipeline.yaml": yaml_bytes, "notes.txt": b"n"}), "p.tar.gz"),
        "tgz-misnamed": (_tar({"pipeline.yaml": yaml_bytes}), "upload.bin"),
        "tar": (_tar({"pipeline.json": as_json}, gz=False), "p.tar"),
    }
    for variant, (data, filename) in variants.items():
        package = _load(data, filename)
        assert package == reference, variant
        assert spec_digest(package) == digest, variant


def test_platform_spec_is_split_from_the_pipeline_spec() -> None:
    package = _load(_compiled("workspace_config"))
    assert package.platform_spec == WORKSPACE_PLATFORM
    assert "platforms" not in package.pipeline_spec
    assert package.pipeline_spec["defaultPipelineRoot"] == "minio://headrace/roots"


def test_later_documents_are_deep_merged_into_the_platform_spec() -> None:
    first = yaml.safe_dump({"platforms": {"kubernetes": {"pipelineConfig": {"a": 1, "b": 1}}}})
    second = yaml.safe_dump({"platforms": {"kubernetes": {"pipelineConfig": {"b": 2}}}})
    third = yaml.safe_dump({"platforms": {"other": {"x": True}}})
    data = b"\n---\n".join(
        [_compiled("minimal"), first.encode(), second.encode(), third.encode(), b""]
    )
    package = _load(data)
    assert package.platform_spec == {
        "platforms": {
            "kubernetes": {"pipelineConfig": {"a": 1, "b": 2}},
            "other": {"x": True},
        }
    }
    assert pipeline_name(package.pipeline_spec) == "minimal"


def test_empty_platform_documents_mean_no_platform_spec() -> None:
    assert _load(_compiled("minimal") + b"\n---\n{}\n---\n").platform_spec is None


def test_yaml_scalars_stay_json_compatible() -> None:
    spec = _spec()
    spec["pipelineInfo"]["description"] = "placeholder"
    text = yaml.safe_dump(spec).replace("description: placeholder", "description: 2024-01-31")
    package = _load(text.encode())
    assert package.pipeline_spec["pipelineInfo"]["description"] == "2024-01-31"
    assert canonical_json(package)  # serialisable


# --------------------------------------------------------------------------- submitted specs


def test_split_submitted_spec_accepts_the_bare_spec() -> None:
    spec = _spec("branches")
    package = split_submitted_spec(spec)
    assert package == PipelinePackage(pipeline_spec=spec, platform_spec=None)


def test_split_submitted_spec_accepts_the_client_wrapper() -> None:
    reference = _load(_compiled("workspace_config"))
    body = {"pipeline_spec": reference.pipeline_spec, "platform_spec": reference.platform_spec}
    assert split_submitted_spec(body) == reference
    bare = {"pipeline_spec": reference.pipeline_spec, "platform_spec": {}}
    assert split_submitted_spec(bare).platform_spec is None
    assert split_submitted_spec({"pipeline_spec": reference.pipeline_spec}).platform_spec is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "pipeline_spec: must be a mapping"),
        ("text", "got a string"),
        ({"pipeline_spec": [1]}, "pipeline_spec: must be a mapping, got a list"),
        ({"pipeline_spec": {}, "extra": 1}, "unexpected key 'extra'"),
        (
            {"pipeline_spec": {"pipelineInfo": {"name": "x"}}},
            "pipeline_spec.schemaVersion: missing",
        ),
        ({"platform_spec": None, "pipeline_spec": None}, "pipeline_spec: must be a mapping"),
    ],
)
def test_split_submitted_spec_refuses_bad_shapes(body: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        split_submitted_spec(body)
    assert message in caught.value.message


def test_split_submitted_spec_refuses_a_non_mapping_platform_spec() -> None:
    body = {"pipeline_spec": _spec(), "platform_spec": ["kubernetes"]}
    with pytest.raises(InvalidArgument, match=r"platform_spec: must be a mapping, got a list"):
        split_submitted_spec(body)


def test_split_submitted_spec_refuses_non_json_numbers() -> None:
    spec = _spec()
    spec["root"]["inputDefinitions"] = {"parameters": {"x": {"defaultValue": float("nan")}}}
    with pytest.raises(InvalidArgument, match=r"defaultValue: nan is not a JSON number"):
        split_submitted_spec(spec)


# --------------------------------------------------------------------------- refused corpus


def test_every_broken_file_has_an_expectation() -> None:
    on_disk = {p.name for p in BROKEN_DIR.iterdir() if p.name != "expected.json"}
    assert on_disk == set(EXPECTED_BROKEN)
    assert len(on_disk) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED_BROKEN))
def test_broken_file_is_refused_with_a_clear_message(name: str) -> None:
    message = _refused((BROKEN_DIR / name).read_bytes(), name)
    assert EXPECTED_BROKEN[name] in message


def test_broken_specs_are_refused_through_the_submitted_path_too() -> None:
    spec = yaml.safe_load((BROKEN_DIR / "unknown_component.yaml").read_text())
    with pytest.raises(InvalidArgument, match=r"unknown component 'comp-trian'"):
        split_submitted_spec({"pipeline_spec": spec, "platform_spec": None})


# --------------------------------------------------------------------------- validator details


def test_errors_inside_component_dags_name_the_component() -> None:
    spec = _spec("loops")
    spec["components"]["comp-for-loop-3"]["dag"]["tasks"]["for-loop-4"]["componentRef"] = {
        "name": "comp-for-loop-44"
    }
    assert _invalid(spec) == (
        "pipeline_spec.components['comp-for-loop-3'].dag.tasks['for-loop-4'].componentRef.name: "
        "unknown component 'comp-for-loop-44'"
    )


def test_first_error_in_sorted_order_is_reported() -> None:
    spec = _spec("scalar_params")
    for task in ("measure", "announce"):
        spec["root"]["dag"]["tasks"][task]["componentRef"]["name"] = f"comp-missing-{task}"
    assert "tasks['announce']" in _invalid(spec)


def test_compiler_injected_task_inputs_are_accepted() -> None:
    spec = _spec("scalar_params")
    params = spec["root"]["dag"]["tasks"]["halve"]["inputs"]["parameters"]
    # What the SDK emits for f-strings and for set_cpu_limit(task.output).
    params["pipelinechannel--measure-Output"] = {
        "taskOutputParameter": {"producerTask": "measure", "outputParameterKey": "Output"}
    }
    params["cpu_limit"] = {"runtimeValue": {"constant": "{{$.inputs.parameters['x']}}"}}
    validate_pipeline_spec(spec)
    params["cpu_limits"] = params.pop("cpu_limit")
    assert "component 'comp-halve' has no input parameter 'cpu_limits'" in _invalid(spec)


def test_dag_output_keys_and_oneof_selectors_are_checked() -> None:
    spec = _spec("branches")
    oneof = spec["components"]["comp-condition-branches-1"]["dag"]["outputs"]["parameters"]
    selectors = oneof["pipelinechannel--condition-branches-1-oneof-1"]["valueFromOneof"]
    selectors["parameterSelectors"][1]["outputParameterKey"] = "nope"
    assert _invalid(spec) == (
        "pipeline_spec.components['comp-condition-branches-1'].dag.outputs"
        ".parameters['pipelinechannel--condition-branches-1-oneof-1'].valueFromOneof"
        ".parameterSelectors[1].outputParameterKey: task 'condition-4' "
        "(component 'comp-condition-4') has no output parameter 'nope'"
    )


def test_exit_handler_final_status_producer_is_checked() -> None:
    spec = _spec("exit_handling")
    status = spec["root"]["dag"]["tasks"]["cleanup"]["inputs"]["parameters"]["status"]
    status["taskFinalStatus"]["producerTask"] = "exit-handler-9"
    assert "status'].taskFinalStatus.producerTask: unknown task 'exit-handler-9'" in _invalid(spec)


def test_component_input_artifact_must_exist_in_the_enclosing_component() -> None:
    spec = _spec("composed_graphs")
    task = spec["components"]["comp-for-loop-1"]["dag"]["tasks"]["evaluate"]
    task["inputs"]["artifacts"]["model"]["componentInputArtifact"] = "pipelinechannel--modle"
    assert _invalid(spec).endswith(
        "componentInputArtifact: 'pipelinechannel--modle' is not an input artifact of "
        "component 'comp-for-loop-1'"
    )


def test_iterator_source_must_be_a_task_input() -> None:
    spec = _spec("loops")
    iterator = spec["root"]["dag"]["tasks"]["for-loop-3"]["parameterIterator"]
    iterator["items"]["inputParameter"] = "pipelinechannel--numbrs"
    assert "parameterIterator.items.inputParameter: 'pipelinechannel--numbrs'" in _invalid(spec)


def test_data_edges_count_towards_cycles() -> None:
    spec = _spec("scalar_params")
    tasks = spec["root"]["dag"]["tasks"]
    tasks["shape-values"]["inputs"]["parameters"]["label"] = {
        "taskOutputParameter": {"producerTask": "measure", "outputParameterKey": "Output"}
    }
    assert _invalid(spec) == (
        "pipeline_spec.root.dag.tasks: dependency cycle: measure -> shape-values -> measure"
    )


def test_long_task_chains_do_not_hit_the_recursion_limit() -> None:
    spec = _spec()
    tasks = {
        f"t{i:05d}": {
            "componentRef": {"name": "comp-ping"},
            "dependentTasks": [f"t{i - 1:05d}"] if i else [],
        }
        for i in range(5000)
    }
    spec["root"]["dag"]["tasks"] = tasks
    validate_pipeline_spec(spec)
    tasks["t00000"]["dependentTasks"] = ["t04999"]
    assert _invalid(spec).startswith("pipeline_spec.root.dag.tasks: dependency cycle: t00000 -> ")


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("2.0.0", True),
        ("2.1.0", True),
        ("2.17.3", True),
        ("1.9.9", False),
        ("3.0.0", False),
        ("2.1", False),
        ("v2.1.0", False),
        (2.1, False),
    ],
)
def test_schema_versions(version: Any, ok: bool) -> None:
    spec = _spec()
    spec["schemaVersion"] = version
    if ok:
        validate_pipeline_spec(spec)
    else:
        assert _invalid(spec).startswith("pipeline_spec.schemaVersion: unsupported schema version")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.pop("components"), "pipeline_spec.components: missing, but root.dag has"),
        (lambda s: s.update(root={"executorLabel": "exec-ping", "dag": {}}), "must be a DAG"),
        (lambda s: s.update(components=[]), "pipeline_spec.components: must be a mapping"),
        (lambda s: s["pipelineInfo"].update(name=""), "pipelineInfo.name: must be a non-empty"),
        (
            lambda s: s["deploymentSpec"]["executors"]["exec-ping"].update(importer={}),
            "must define exactly one of container, importer, resolver, customJob "
            "(found container, importer)",
        ),
    ],
)
def test_structural_errors(mutate: Any, message: str) -> None:
    spec = _spec()
    mutate(spec)
    assert message in _invalid(spec)


def test_a_spec_without_tasks_needs_no_components() -> None:
    validate_pipeline_spec(
        {"pipelineInfo": {"name": "p"}, "schemaVersion": "2.1.0", "root": {"dag": {}}}
    )


def test_pipeline_name_requires_a_name() -> None:
    assert pipeline_name({"pipelineInfo": {"name": "x"}}) == "x"
    with pytest.raises(InvalidArgument, match=r"pipelineInfo.name"):
        pipeline_name({"pipelineInfo": {}})


# --------------------------------------------------------------------------- unreadable input


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "p.yaml", "pipeline package 'p.yaml': the file is empty"),
        (b"\xff\xfe\x00bad", "p.yaml", "invalid UTF-8 at byte 0"),
        (b'{"pipelineInfo": ', "p.json", "p.json': not valid JSON: Expecting value (line 1"),
        (b"pipelineInfo: {name: x}\n", "p.zip", "the name says zip archive but the content is not"),
        (b"pipelineInfo: {name: x}\n", "p.tgz", "the name says tar.gz archive"),
        (b"\x1f\x8bnot really gzip", None, "not a readable tar.gz archive"),
        (b"PK\x03\x04garbage", None, "not a readable zip archive"),
        (b"{1: x}\n", None, "pipeline_spec: mapping key 1 is not a string"),
        (b"a: !!binary aGVsbG8=\n", None, "pipeline_spec.a: unsupported value of type bytes"),
    ],
)
def test_unreadable_packages(data: bytes, filename: str | None, message: str) -> None:
    assert message in _refused(data, filename)


def test_archive_with_two_pipeline_files_is_refused() -> None:
    body = _compiled("minimal")
    message = _refused(_zip({"a.yaml": body, "b/c.json": b"{}"}), "p.zip")
    assert "exactly one pipeline file, found 2: 'a.yaml', 'b/c.json'" in message
    message = _refused(_tar({"a.yaml": body, "b.yml": body}), "p.tar.gz")
    assert "exactly one pipeline file, found 2: 'a.yaml', 'b.yml'" in message


def test_archive_without_a_pipeline_file_is_refused() -> None:
    assert "holds no .yaml, .yml or .json file" in _refused(_zip({"readme.md": b"x"}), "p.zip")
    assert "holds no .yaml" in _refused(_zip({}), "p.zip")
    assert "holds no .yaml" in _refused(_tar({"readme.md": b"x"}), "p.tgz")


def test_macos_archive_metadata_is_ignored() -> None:
    body = _compiled("minimal")
    members = {"p/pipeline.yaml": body, "__MACOSX/p/._pipeline.yaml": b"\x00\x05\x16\x07"}
    assert pipeline_name(_load(_zip(members), "p.zip").pipeline_spec) == "minimal"


def test_invalid_spec_inside_an_archive_names_the_member() -> None:
    broken = (BROKEN_DIR / "unknown_component.yaml").read_bytes()
    with pytest.raises(InvalidArgument, match=r"unknown component 'comp-trian'"):
        _load(_tar({"dir/broken.yaml": broken}), "p.tgz")
    message = _refused(_zip({"dir/empty.yaml": b""}), "p.zip")
    assert message == "pipeline package 'p.zip', member 'dir/empty.yaml': the file is empty"


# --------------------------------------------------------------------------- size limits


def test_oversized_upload_is_payload_too_large() -> None:
    data = _compiled("minimal")
    with pytest.raises(PayloadTooLarge) as caught:
        _load(data, max_bytes=len(data) - 1)
    assert caught.value.http_status == 413
    assert f"is {len(data)} bytes; the limit is {len(data) - 1} bytes" in caught.value.message
    assert _load(data, max_bytes=len(data)).pipeline_spec["pipelineInfo"]["name"] == "minimal"


def _bomb_member() -> bytes:
    """A valid pipeline padded to ~2 MiB with a comment: compresses to a few KiB."""
    return _compiled("minimal") + b"#" + b" " * (2 * 1024 * 1024) + b"\n"


def test_zip_bomb_is_payload_too_large() -> None:
    data = _zip({"pipeline.yaml": _bomb_member()})
    assert len(data) < 64 * 1024
    with pytest.raises(PayloadTooLarge, match=r"member 'pipeline.yaml' is larger than the limit"):
        _load(data, "p.zip", max_bytes=1024 * 1024)
    # An oversized member is refused even when it is not the pipeline file.
    data = _zip({"pipeline.yaml": _compiled("minimal"), "blob.bin": _bomb_member()})
    with pytest.raises(PayloadTooLarge, match=r"'blob.bin'"):
        _load(data, "p.zip", max_bytes=1024 * 1024)


def test_zip_member_lying_about_its_size_is_refused() -> None:
    data = bytearray(_zip({"pipeline.yaml": _bomb_member()}))
    # Patch the declared uncompressed size (local header and central directory) to 100 bytes.
    true_size = len(_bomb_member()).to_bytes(4, "little")
    for _ in range(2):
        at = data.index(true_size)
        data[at : at + 4] = (100).to_bytes(4, "little")
    with pytest.raises(InvalidArgument):
        _load(bytes(data), "p.zip", max_bytes=1024 * 1024)


def test_tar_gz_bomb_is_payload_too_large() -> None:
    data = _tar({"pipeline.yaml": _bomb_member()})
    assert len(data) < 64 * 1024
    with pytest.raises(PayloadTooLarge, match=r"member 'pipeline.yaml' is larger than the limit"):
        _load(data, "p.tgz", max_bytes=1024 * 1024)


def test_tar_gz_expanding_past_the_limit_in_many_members_is_payload_too_large() -> None:
    members = {f"filler-{i}.txt": b"\0" * 200_000 for i in range(10)}
    members["pipeline.yaml"] = _compiled("minimal")
    data = _tar(members)
    with pytest.raises(PayloadTooLarge, match=r"the archive expands to more than"):
        _load(data, "p.tgz", max_bytes=1024 * 1024)


def test_gzipped_yaml_that_is_not_a_tar_is_refused() -> None:
    data = gzip.compress(_compiled("minimal"))
    assert "pipeline package 'p.gz': not a readable tar.gz archive" in _refused(data, "p.gz")


# --------------------------------------------------------------------------- digests


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reverse_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(item) for item in value]
    return value


def test_spec_digest_is_stable_across_key_order() -> None:
    package = _load(_compiled("workspace_config"))
    reordered = PipelinePackage(
        pipeline_spec=_reverse_keys(package.pipeline_spec),
        platform_spec=_reverse_keys(package.platform_spec),
    )
    assert list(reordered.pipeline_spec) != list(package.pipeline_spec)
    assert canonical_json(reordered) == canonical_json(package)
    assert spec_digest(reordered) == spec_digest(package)


def test_spec_digest_hashes_the_canonical_json() -> None:
    package = _load(_compiled("minimal"))
    raw = canonical_json(package)
    expected = json.dumps(
        {"pipeline_spec": package.pipeline_spec, "platform_spec": None},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert raw == expected
    assert raw.startswith(b'{"pipeline_spec":{"components":{"comp-ping":')
    assert raw.endswith(b',"platform_spec":null}')
    assert spec_digest(package) == hashlib.sha256(raw).hexdigest()
    assert len(spec_digest(package)) == 64


def test_spec_digest_differs_for_different_specs() -> None:
    package = _load(_compiled("minimal"))
    changed = copy.deepcopy(package.pipeline_spec)
    changed["pipelineInfo"]["description"] = "different"
    digests = {
        spec_digest(package),
        spec_digest(PipelinePackage(changed, None)),
        spec_digest(PipelinePackage(package.pipeline_spec, {"platforms": {}})),
        spec_digest(_load(_compiled("branches"))),
    }
    assert len(digests) == 4


# --------------------------------------------------------------------------- recompilation


def _compile_corpus_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_headrace_compile_corpus", PIPELINES / "compile_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sources_recompile_to_valid_specs_matching_the_checked_in_files(tmp_path: Path) -> None:
    kfp = pytest.importorskip("kfp")
    written = _compile_corpus_module().compile_all(tmp_path)
    assert sorted(p.name for p in written) == [p.name for p in COMPILED]
    for path in written:
        fresh = _load(path.read_bytes(), path.name)
        checked_in = _load(_compiled(path.stem))
        # Only the same SDK version is expected to reproduce the checked-in files exactly.
        if (
            fresh.pipeline_spec.get("sdkVersion")
            == f"kfp-{kfp.__version__}"
            == (checked_in.pipeline_spec.get("sdkVersion"))
        ):
            assert fresh == checked_in, f"{path.name}: run tests/pipelines/compile_corpus.py"
