"""The embedded push-chain source: services.json ({name: Service JSON}), subscriptions.json ([Subscription
JSON], or `gcloud pubsub subscriptions list --format=json`) and push_metrics.json (a timeSeries.list answer,
{"timeSeries": [...]}, raw points), in the local folder."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sources.errors import SourceError
from sources.iam_file import read_json_file
from sources.push import Json

SOURCE = "push_files"


class PushChainFiles:
    source = SOURCE

    def __init__(self, *, folder: Path) -> None:
        self.folder = folder

    def _read(self, name: str, kind: type) -> object:
        data = read_json_file(self.folder / name, source=SOURCE)
        if not isinstance(data, kind):
            raise SourceError(SOURCE, f"{self.folder / name} must hold a JSON {'object' if kind is dict else 'list'}")
        return data

    def service(self, *, project: str, region: str, service: str) -> Json | None:
        services = self._read("services.json", dict)
        found = services.get(service)  # type: ignore[attr-defined]
        if found is not None and not isinstance(found, dict):
            raise SourceError(SOURCE, f"services.json: the service {service!r} is not a JSON object")
        return found

    def subscriptions(self, *, project: str) -> list[Json]:
        return [s for s in self._read("subscriptions.json", list) if isinstance(s, dict)]  # type: ignore[attr-defined]

    def time_series(
        self, *, project: str, metric_type: str, subscription_ids: list[str], now: datetime, window: timedelta,
    ) -> list[Json]:
        answer = self._read("push_metrics.json", dict)
        wanted = set(subscription_ids)
        return [
            series for series in answer.get("timeSeries") or []  # type: ignore[attr-defined]
            if isinstance(series, dict)
            and (series.get("metric") or {}).get("type") == metric_type
            and ((series.get("resource") or {}).get("labels") or {}).get("subscription_id") in wanted
        ]
