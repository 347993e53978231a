"""Export scikit-learn's bundled breast-cancer and diabetes data to mcmcadapt/data/*.csv.

Run once, from the repository root, with scikit-learn installed in a throw-away environment
(scikit-learn is not a dependency of mcmcadapt); see data/README.md.
"""

import csv

import sklearn
from sklearn.datasets import load_breast_cancer, load_diabetes

bc = load_breast_cancer()
with open("mcmcadapt/data/breast_cancer.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow([c.replace(" ", "_") for c in bc.feature_names] + ["target"])
    for x, t in zip(bc.data, bc.target):
        w.writerow([repr(float(v)) for v in x] + [int(t)])

db = load_diabetes(scaled=False)
with open("mcmcadapt/data/diabetes.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(list(db.feature_names) + ["target"])
    for x, t in zip(db.data, db.target):
        w.writerow([repr(float(v)) for v in x] + [repr(float(t))])

print("scikit-learn", sklearn.__version__)
