"""Meta-training of learned samplers by the KL objective unrolled over k steps
(Li & Turner 2018, Sec. 4.2): the unrolled gradient (:mod:`.unroll`), the training loop
(:mod:`.train`), entropy-gradient estimators with the paper's settings (:mod:`.estimators`),
``FastLearned`` (:mod:`.fast`: the learned kernel under the name saved result files use) and
a plain-JSON parameter file (:mod:`.params`)."""

from .estimators import ENTROPY_ESTIMATORS, make_entropy_estimator
from .fast import FastLearned
from .params import load_sampler, save_sampler
from .train import MetaResult, meta_train, prior_sampler
from .unroll import Rollout, backprop, kl_cotangents, rollout, unrolled_kl_gradient

__all__ = ["ENTROPY_ESTIMATORS", "FastLearned", "MetaResult", "Rollout", "backprop",
           "kl_cotangents", "load_sampler", "make_entropy_estimator", "meta_train",
           "prior_sampler", "rollout", "save_sampler", "unrolled_kl_gradient"]
