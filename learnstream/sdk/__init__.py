"""The producer SDK for client apps: typed event models and an acknowledged publisher.

from learnstream.sdk import ModuleCompleted, Publisher

with Publisher() as publisher:
    event = ModuleCompleted.new(tenant_id="acme", source="/apps/web",
                                learner_id="l-1", course_id="c-1", module_id="m-1")
    delivery = publisher.publish(event)
"""

from learnstream.sdk import models
from learnstream.sdk.models import *  # noqa: F403 (the models' names, listed once in their __all__)
from learnstream.sdk.publisher import Delivery, Publisher, PublishError

__all__ = ["Delivery", "PublishError", "Publisher"]
__all__ += models.__all__
