"""Location models on the geometry-free sparse :class:`~siting.models.instance.Instance`.

Each model is one class whose docstring states its formulation; ``solve()`` hands its
matrices to :mod:`siting.solvers` and returns a typed solution.
"""
