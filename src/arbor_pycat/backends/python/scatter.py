"""Compiled loops that add weighted currents into contiguous slices of Arbor's arrays."""


_FUSED = None


def fused_scatter():
    """Compiled loops for ``target += weights * sum(values)`` on contiguous slices.

    One call per target instead of two or three numpy operations each.
    """
    global _FUSED
    if _FUSED is None:
        from numba import njit

        @njit(cache=True, error_model="numpy")
        def add_weighted(target, weights, values):
            for k in range(weights.shape[0]):
                target[k] += weights[k] * values[k]

        @njit(cache=True, error_model="numpy")
        def add_weighted_sum(target, weights, values):
            for k in range(weights.shape[0]):
                total = 0.0
                for v in values:
                    total += v[k]
                target[k] += weights[k] * total
        _FUSED = add_weighted, add_weighted_sum
    return _FUSED
