"""The model registry: one small interface, MLflow's Model Registry behind it (DESIGN §4).

Embedded by default (a SQLite store and a local artifact store under the working folder, no
server); on a cluster ``MLFLOW_TRACKING_URI`` (and MLflow's own auth variables) from a Secret.
"""
