"""The operations every transport serves, defined once.

* :mod:`conexus.api.operations` — the table (:data:`OPERATIONS`, :data:`BY_NAME`,
  :data:`BY_TOOL`), :class:`Operation` and :class:`Call`;
* :mod:`conexus.api.models` — typed inputs and outputs;
* :mod:`conexus.api.errors` — one error mapping (HTTP status, problem type, message);
* :mod:`conexus.api.render` — text renderings; :mod:`conexus.api.paging` — cursors.

Nothing is imported here, so that importing a light part (a renderer, the
limits) does not load the engine.
"""
