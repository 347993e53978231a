"""Nonparametric estimators of the score ∇log q from particles of q.

All estimators share one convention: ``fit(X)`` with X of shape (n, d), then
``gradients()`` (in-sample, (n, d)) or ``gradients(Y)`` (at new points, (m, d)); the kernel
bandwidth is the length-scale h of k(x, y) = exp(−‖x − y‖²/(2h²)) (RBF) or
(1 + ‖x − y‖²/h²)^β (IMQ); the ridge eta is absolute, on the K + eta·I scale.
"""
