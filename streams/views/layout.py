"""The Redis keys the stream writes, and the one atomic write of a batch's views.

Layout (prefix `learnstream:` by default, configurable for tests):
* `{prefix}dashboard:{learner_id}`   STRING, the learner's progress rows as the read API serves
                                      them (JSON), TTL 7 days (streams/views/dashboards.py);
* `{prefix}features:{learner_id}`    HASH, one field per LearnerFeatures field (None = absent,
                                      mastery = JSON object), TTL 30 days;
* `{prefix}popularity`                ZSET course_id → enrolments in the last 30 days;
* `{prefix}popularity:completions`   HASH course_id → completed pairs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis

from learnstream.settings import Settings
from streams.features.rules import CoursePopularity, LearnerFeatures

KEY_PREFIX = "learnstream:"  # then the topic prefix: see redis_prefix
DASHBOARD_TTL_S = 7 * 86_400  # an idle learner's dashboard leaves memory; a read refills it
FEATURES_TTL_S = 30 * 86_400


def redis_prefix(settings: Settings) -> str:
    """Keys share the topic prefix, so isolated deployments (and tests) never collide."""
    return f"{KEY_PREFIX}{settings.topic_prefix}"


def dashboard_key(prefix: str, learner_id: str) -> str:
    return f"{prefix}dashboard:{learner_id}"


def features_key(prefix: str, learner_id: str) -> str:
    return f"{prefix}features:{learner_id}"


def popularity_keys(prefix: str) -> tuple[str, str]:
    return f"{prefix}popularity", f"{prefix}popularity:completions"


def encode_features(features: LearnerFeatures) -> dict[str | bytes, str | bytes | int | float]:
    return {
        name: json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
        for name, value in vars(features).items()  # flat fields: no deep copy needed
        if value is not None
    }


def write_views(
    client: redis.Redis[str],
    prefix: str,
    *,
    dashboards: Mapping[str, str] | None = None,
    features: Sequence[LearnerFeatures] = (),
    popularity: Mapping[str, CoursePopularity] | None = None,
) -> None:
    """Dashboards ({learner: JSON}), feature hashes and (when given) the popularity ranking in
    one atomic write: readers never see a half-written hash or an emptied ranking. A feature
    hash is overwritten field by field and its fields that are None now are deleted, so one
    that became None (e.g. every grade voided) does not linger and the hash is never empty.

    One server-side script rather than MULTI/EXEC: queueing four commands per learner and
    parsing their QUEUED and EXEC replies cost the lane ~50 µs of Python per learner; the
    script's argument is one orjson call (ADR 0010, "Bulk writes")."""
    shown = dashboards or {}
    by_learner = {f.learner_id: f for f in features}
    keys: list[str] = []
    items: list[Any] = []
    for learner in sorted(shown.keys() | by_learner.keys()):
        body, f = shown.get(learner), by_learner.get(learner)
        keys += [dashboard_key(prefix, learner), features_key(prefix, learner)]
        items.append(
            [
                False if body is None else body,
                False if f is None else [x for kv in encode_features(f).items() for x in kv],
                [] if f is None else [name for name, value in vars(f).items() if value is None],
            ]
        )
    args: list[Any] = [orjson.dumps(items), DASHBOARD_TTL_S, FEATURES_TTL_S]
    if popularity is not None:
        keys += popularity_keys(prefix)
        args += [
            orjson.dumps([x for c, p in popularity.items() for x in (p.enrolments_30d, c)]),
            orjson.dumps([x for c, p in popularity.items() for x in (c, str(p.completions))]),
        ]
    if items or popularity is not None:
        client.register_script(_WRITE_VIEWS)(keys=keys, args=args)


# KEYS: each learner's dashboard and features key, then the two popularity keys when ARGV[4]
# is given. ARGV[1]: [[dashboard JSON or false, [field, value, ...] or false, [absent field,
# ...]], ...]; ARGV[2], ARGV[3]: the TTLs; ARGV[4]: [score, course, ...]; ARGV[5]: [course,
# completions, ...]. Long lists go in chunks: Lua's unpack is bounded by its C stack.
_WRITE_VIEWS = """
local function call_chunked(command, key, flat, step)
  for i = 1, #flat, step do
    redis.call(command, key, unpack(flat, i, math.min(i + step - 1, #flat)))
  end
end
local items = cjson.decode(ARGV[1])
for i, item in ipairs(items) do
  if item[1] then redis.call('SET', KEYS[2 * i - 1], item[1], 'EX', ARGV[2]) end
  if item[2] then
    local key = KEYS[2 * i]
    call_chunked('HSET', key, item[2], 1000)
    if #item[3] > 0 then redis.call('HDEL', key, unpack(item[3])) end
    redis.call('EXPIRE', key, ARGV[3])
  end
end
if ARGV[4] then
  local ranking, completions = KEYS[2 * #items + 1], KEYS[2 * #items + 2]
  redis.call('DEL', ranking, completions)
  call_chunked('ZADD', ranking, cjson.decode(ARGV[4]), 1000)
  call_chunked('HSET', completions, cjson.decode(ARGV[5]), 1000)
end
return #items
"""


def decode_features(raw: Mapping[Any, Any]) -> LearnerFeatures | None:
    """None when the hash is missing or not in this layout (then the caller recomputes)."""
    data = {_text(k): _text(v) for k, v in raw.items()}

    def opt(name: str, kind: type) -> Any:
        return None if name not in data else kind(data[name])

    try:
        return LearnerFeatures(
            learner_id=data["learner_id"],
            as_of=int(data["as_of"]),
            events_per_day_7d=float(data["events_per_day_7d"]),
            events_per_day_30d=float(data["events_per_day_30d"]),
            last_activity_at=opt("last_activity_at", int),
            days_since_last_activity=opt("days_since_last_activity", float),
            enrolled_courses=int(data["enrolled_courses"]),
            completed_courses=int(data["completed_courses"]),
            completion_rate=opt("completion_rate", float),
            graded_attempts=int(data["graded_attempts"]),
            mean_score=opt("mean_score", float),
            mastery={k: float(v) for k, v in json.loads(data.get("mastery", "{}")).items()},
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
