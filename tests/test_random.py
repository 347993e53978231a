"""The compiled normal draws are numpy's, bit for bit, and leave the generator where numpy
would."""

import numpy as np
import pytest

from mcmcadapt._random import standard_normal
from mcmcadapt.transitions import MALA

BIT_GENERATORS = [np.random.PCG64, np.random.PCG64DXSM, np.random.Philox, np.random.SFC64,
                  np.random.MT19937]


@pytest.mark.parametrize("bit_generator", BIT_GENERATORS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 1024), (400, 1000)])  # both paths
def test_identical_to_numpy_and_in_step(bit_generator, shape):
    ours, theirs = np.random.Generator(bit_generator(11)), np.random.Generator(bit_generator(11))
    a = standard_normal(ours, *shape)
    b = theirs.standard_normal(shape)
    assert a.shape == shape and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    if a.size > 100_000:  # the ziggurat's tail (|z| > 3.654) and wedges are exercised too
        assert np.sum(np.abs(b) > 3.7) > 10
    # the state advanced identically: the next draws of every kind agree
    assert ours.random() == theirs.random()
    np.testing.assert_array_equal(standard_normal(ours, 2, 3), theirs.standard_normal((2, 3)))
    assert ours.integers(1 << 40) == theirs.integers(1 << 40)


def test_generator_subclass_uses_numpy():
    class Mine(np.random.Generator):
        pass

    np.testing.assert_array_equal(standard_normal(Mine(np.random.PCG64(3)), 4, 5),
                                  np.random.default_rng(3).standard_normal((4, 5)))


def test_kernel_noise_is_the_documented_stream():
    noise = MALA("diag").draw_noise(6, 4, np.random.default_rng(2))
    rng = np.random.default_rng(2)
    np.testing.assert_array_equal(noise.xi, rng.standard_normal((6, 4)))
    np.testing.assert_array_equal(noise.log_u, np.log(rng.random(6)))
