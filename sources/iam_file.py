"""The embedded IAM source: a JSON file {service_name: getIamPolicy response JSON}, and beside it
project_iam_policy.json (the project's getIamPolicy response JSON, as `gcloud projects get-iam-policy
--format=json` prints it; absent = no project-level grants)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sources.errors import SourceError
from sources.iam import Policy

SOURCE = "iam_file"
PROJECT_POLICY_FILE = "project_iam_policy.json"


def read_json_file(path: Path, *, source: str) -> Any:
    """The JSON in `path`; a missing, unreadable or malformed file is a SourceError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(source, f"{path} does not exist (run `python main.py demo` to create one)") from None
    except OSError as error:
        raise SourceError(source, f"cannot read {path}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SourceError(source, f"{path} is not valid JSON ({error})") from None


class IamPolicyFile:
    source = SOURCE

    def __init__(self, *, path: Path) -> None:
        self.path = path

    @property
    def project_path(self) -> Path:
        return self.path.parent / PROJECT_POLICY_FILE

    def get(self, *, project: str, region: str, service: str) -> Policy | None:
        policies = read_json_file(self.path, source=SOURCE)
        if not isinstance(policies, dict):
            raise SourceError(SOURCE, f"{self.path} must hold an object {{service_name: policy}}")
        policy = policies.get(service)
        if policy is None:
            return None
        if not isinstance(policy, dict):
            raise SourceError(SOURCE, f"{self.path}: the policy of {service!r} is not a JSON object")
        return policy

    def get_project(self, *, project: str) -> Policy:
        if not self.project_path.exists():
            return {}
        policy = read_json_file(self.project_path, source=SOURCE)
        if not isinstance(policy, dict):
            raise SourceError(SOURCE, f"{self.project_path} must hold one getIamPolicy answer (a JSON object)")
        return policy
