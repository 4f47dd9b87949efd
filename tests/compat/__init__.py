"""MLflow compatibility suite: the real ``mlflow`` client against ``labtrack server``."""
