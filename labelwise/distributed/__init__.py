"""Selection over a sharded pool on a Ray cluster, with results merged exactly.

:class:`ShardedSelection` (in :mod:`labelwise.distributed.driver`) runs a round's selection where
the shards live; :class:`~labelwise.distributed.worker.ShardWorker` is the actor holding them.
The engine uses it for ``ActiveLearner(ShardedPool(...), ..., executor="ray")``; Ray is imported
only when a selection starts.
"""

from labelwise.distributed.driver import SUPPORTED, PickedContext, ShardedSelection

__all__ = ["SUPPORTED", "PickedContext", "ShardedSelection"]
