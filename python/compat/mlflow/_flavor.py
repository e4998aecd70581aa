"""The model flavors whose models trainyard's mlflow compatibility package does not provide
(mlflow.keras, .lightgbm, .tensorflow, .xgboost): autolog is a no-op that says so; save_model,
log_model and load_model raise NotImplementedError naming the trainyard way."""


def define(namespace, flavor):
    """Fills a flavor module's namespace (its globals())."""
    import mlflow

    def autolog(*args, **kwargs):
        """A no-op that says so: log metrics and params with mlflow.log_metric / log_param."""
        mlflow._autolog_note(f"mlflow.{flavor}.autolog")

    def refuse(what):
        def model_function(*args, **kwargs):
            raise NotImplementedError(
                f"mlflow.{flavor}.{what} is not provided by trainyard's mlflow compatibility "
                f"package: save the model with {flavor}'s own API under outputs/ (kept with the "
                f"run; docs/mlflow.md)")
        model_function.__name__ = what
        return model_function

    namespace.update(FLAVOR_NAME=flavor, autolog=autolog, save_model=refuse("save_model"),
                     log_model=refuse("log_model"), load_model=refuse("load_model"))
