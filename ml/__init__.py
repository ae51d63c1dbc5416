"""Pure numpy / scikit-learn / Keras code: preprocessing, windows, models, metrics.

Never imports Mongo, Redis or Celery; the training issue fills this package.
"""
