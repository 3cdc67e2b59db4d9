"""Bridges to labeling tools other than labelwise's own app.

- :mod:`labelwise.integrations.label_studio`: Label Studio's formats (labeling config, tasks,
  annotators, file URLs), used by ``labelwise export --format label-studio``;
- :mod:`labelwise.integrations.label_studio_backend`: a Label Studio ML backend driven by
  labelwise's active-learning engine (``labelwise label-studio-backend``).

They live apart from :mod:`labelwise.app` because they need no labelwise project: the backend
works on Label Studio's tasks alone.
"""
