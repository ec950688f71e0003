"""The composition root: the ``headrace`` command builds settings once and wires the
components. Nothing imports this package."""
