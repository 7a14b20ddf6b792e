"""One error family (learnstream.errors): every exception class the packages define is a
LearnstreamError, transient or permanent where it says which; one retry policy honours a
Retry-After as a floor, stops after its attempts, and never retries a permanent error."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

from learnstream.errors import LearnstreamError, PermanentError, TransientError, retrying
from learnstream.settings import PROJECT_ROOT

PACKAGES = ["learnstream", "learnstream_cli", "streams", "sinks", "connectors"]
# Control flow that never leaves its module (the runtime's redo signals, the simulator's "this
# learner's time is up"), and the reliability suite's stand-in for a bug in a rule, which must
# look like any unexpected exception, not like one of ours.
PRIVATE = {"_IsolateBatch", "_ClaimConflict", "Stop", "InjectedHandlerBug"}
# The Quix Streams peer runs in a virtualenv of its own.
STANDALONE = {"learnstream_cli.bench.quix_naive"}


def _modules_defining_exceptions() -> list[str]:
    found = []
    for root in PACKAGES:
        for path in (PROJECT_ROOT / root).rglob("*.py"):
            module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            if module in STANDALONE or "migrations" in module:
                continue
            tree = ast.parse(path.read_text())
            if any(isinstance(n, ast.ClassDef) and n.bases for n in ast.walk(tree)):
                found.append(module)
    return found


def _exception_classes() -> dict[str, type[BaseException]]:
    classes = {}
    for module_name in _modules_defining_exceptions():
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module_name
                and name not in PRIVATE
            ):
                classes[f"{module_name}.{name}"] = value
    return classes


def test_every_exception_the_packages_define_is_a_learnstream_error() -> None:
    classes = _exception_classes()
    assert len(classes) >= 10  # the scan found the families it should
    outside = [name for name, cls in classes.items() if not issubclass(cls, LearnstreamError)]
    assert outside == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("learnstream.runtime.errors.InvalidContent", PermanentError),
        ("learnstream.serde.errors.SerdeError", PermanentError),
        ("learnstream.serde.registry.SchemaRegistryUnavailable", TransientError),
        ("connectors.http.PermanentHrError", PermanentError),
        ("connectors.http.TransientHrError", TransientError),
        ("streams.notifications.delivery.base.TransientDeliveryError", TransientError),
        ("streams.notifications.delivery.base.PermanentDeliveryError", PermanentError),
        ("learnstream.sdk.models_base.EventValidationError", PermanentError),
    ],
)
def test_each_family_says_its_kind(name: str, kind: type[LearnstreamError]) -> None:
    assert issubclass(_exception_classes()[name], kind)


def test_the_policy_waits_at_least_retry_after_and_stops() -> None:
    sleeps: list[float] = []
    calls = 0

    def throttled() -> None:
        nonlocal calls
        calls += 1
        raise TransientError("429", retry_after=2.0 if calls == 1 else None)

    policy = retrying(attempts=3, initial_s=0.01, max_s=0.05, retry_after_max_s=1.5)
    with pytest.raises(TransientError):
        policy.copy(sleep=sleeps.append)(throttled)
    assert calls == 3
    assert sleeps[0] == 1.5  # the Retry-After, capped
    assert sleeps[1] <= 0.05 + 0.01  # plain jittered backoff


def test_the_policy_never_retries_a_permanent_error() -> None:
    calls = 0

    def refused() -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("no")

    with pytest.raises(PermanentError):
        retrying(attempts=5, initial_s=0.01, max_s=0.05, retry_after_max_s=1.0).copy(
            sleep=lambda s: None
        )(refused)
    assert calls == 1
