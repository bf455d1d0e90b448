"""The project's own evaluations: the MedQuAD studies and the quality score's labelled set.

Run from the repository root: `python -m evals.medquad ...`, `python -m evals.quality_labels ...`
(or `make eval-medquad`, `make eval-quality`). Not part of the installed package.
"""
