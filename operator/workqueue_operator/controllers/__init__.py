"""kopf handlers, one module per kind: glue only. Importing this package registers them."""

from workqueue_operator.controllers import env, manager, pool, startup

__all__ = ["env", "manager", "pool", "startup"]
