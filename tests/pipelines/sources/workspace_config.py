"""dsl.PipelineConfig with a workspace: produces a second (platform spec) YAML document."""

from kfp import dsl


@dsl.component(base_image="python:3.11-slim")
def write_scratch(workspace: str, text: str) -> str:
    import os

    path = os.path.join(workspace, "scratch.txt")
    with open(path, "w") as fh:
        fh.write(text)
    return path


@dsl.component(base_image="python:3.11-slim")
def read_scratch(path: str) -> str:
    with open(path) as fh:
        return fh.read()


@dsl.pipeline(
    name="workspace-config",
    pipeline_root="minio://headrace/roots",
    pipeline_config=dsl.PipelineConfig(
        workspace=dsl.WorkspaceConfig(
            size="2Gi",
            kubernetes=dsl.KubernetesWorkspaceConfig(
                pvcSpecPatch={"storageClassName": "standard", "accessModes": ["ReadWriteOnce"]}
            ),
        )
    ),
)
def workspace_config(text: str = "hello") -> str:
    written = write_scratch(workspace=dsl.WORKSPACE_PATH_PLACEHOLDER, text=text)
    return read_scratch(path=written.output).output


PIPELINE = workspace_config
