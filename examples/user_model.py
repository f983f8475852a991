"""An mlrail user module: your own Keras model, trained by the train component.

Use it with ``train(..., module_file="examples/user_model.py")`` (or a URI such as
``s3://bucket/user_model.py`` on a cluster). The contract, in short (the full one is in
``mlrail.components.train.user_module``):

- ``build_model(schema, statistics, hparams)`` returns a Keras model whose inputs are named as
  ``model_spec(schema, statistics).inputs`` names them (``default_inputs`` or
  ``default_features`` build them): each input's ``name`` is ``in_`` + a lower-case slug of its
  column (``Größe`` → ``in_grosse``), its ``column`` the data's own name, which is what the
  exported ONNX model and V2 clients use; dates arrive as float64 days since 1970-01-01 UTC.
  The one output is named ``spec.output`` and is the class probabilities (softmax,
  one column per class in ``spec.classes`` order) or, for regression, one prediction per row;
- ``train(model, train_dataset, eval_dataset, hparams, callbacks)`` is optional: define it to
  run the training loop yourself, passing ``callbacks`` on to ``fit``.

This one keeps mlrail's preprocessing (imputation, normalisation, lookups: the exported model
still takes raw features) and puts a small residual network with batch normalisation on top.
Everything in it converts to ONNX, which export_onnx checks.
"""

import keras

from mlrail.components.train import default_features, model_spec


def build_model(schema, statistics, hparams):
    """Default preprocessing, then two residual blocks and the task's head."""
    spec = model_spec(schema, statistics)
    inputs, x = default_features(schema, statistics)
    width = hparams["hidden_units"][0] if hparams["hidden_units"] else 32
    x = keras.layers.Dense(width, activation="relu", name="stem")(x)
    for k in range(2):
        h = keras.layers.Dense(width, activation="relu", name=f"block{k}_a")(x)
        h = keras.layers.BatchNormalization(name=f"block{k}_norm")(h)
        h = keras.layers.Dense(width, name=f"block{k}_b")(h)
        x = keras.layers.Activation("relu", name=f"block{k}_out")(keras.layers.Add()([x, h]))
    if spec.task == "regression":
        out = keras.layers.Dense(1, name=spec.output)(x)
        loss, metrics = "mse", ["mae"]
    else:
        out = keras.layers.Dense(len(spec.classes), activation="softmax", name=spec.output)(x)
        loss, metrics = "sparse_categorical_crossentropy", ["accuracy"]
    model = keras.Model(inputs, out, name="user_model")
    # compiled here to choose the optimiser; a model returned uncompiled gets Adam at
    # hparams["learning_rate"] and the task's loss
    model.compile(
        optimizer=keras.optimizers.AdamW(hparams["learning_rate"], weight_decay=1e-4),
        loss=loss,
        metrics=metrics,
    )
    return model


def train(model, train_dataset, eval_dataset, hparams, callbacks):
    """The usual fit, plus a learning-rate schedule; mlrail's callbacks passed on."""
    schedule = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss" if eval_dataset is not None else "loss", factor=0.5, patience=3
    )
    model.fit(
        train_dataset,
        validation_data=eval_dataset,
        epochs=hparams["epochs"],
        # first, so that the learning rate it sets is in the logs mlrail's callbacks record
        callbacks=[schedule, *callbacks],
        shuffle=False,  # the dataset is shuffled already (seeded, for reproducible runs)
        verbose=0,
    )
