"""The embedded IAM source: a JSON file {service_name: getIamPolicy response JSON}."""

from __future__ import annotations

import json
from pathlib import Path

from sources.errors import SourceError
from sources.iam import Policy

SOURCE = "iam_file"


class IamPolicyFile:
    source = SOURCE

    def __init__(self, *, path: Path) -> None:
        self.path = path

    def get(self, *, project: str, region: str, service: str) -> Policy | None:
        try:
            policies = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SourceError(SOURCE, f"{self.path} does not exist (run `python main.py demo` to create one)") from None
        except OSError as error:
            raise SourceError(SOURCE, f"cannot read {self.path}: {error.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise SourceError(SOURCE, f"{self.path} is not valid JSON ({error})") from None
        if not isinstance(policies, dict):
            raise SourceError(SOURCE, f"{self.path} must hold an object {{service_name: policy}}")
        policy = policies.get(service)
        if policy is None:
            return None
        if not isinstance(policy, dict):
            raise SourceError(SOURCE, f"{self.path}: the policy of {service!r} is not a JSON object")
        return policy
